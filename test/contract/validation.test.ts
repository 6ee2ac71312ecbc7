// The validation-error translation: the contract's error shape, anyOf collapsing (as small functions and on
// real schemas), and the Fastify hooks.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { editRequestSchema, idParamSchema, storageCreateSchema } from '../../src/contract/schemas.js';
import {
  classifyBranch,
  closestBranch,
  collapseAnyOf,
  compile,
  createValidator,
  dottedPath,
  dropRedundant,
  errorPath,
  fastifySchemaErrorFormatter,
  fastifyValidatorCompiler,
  pointerSegments,
  resolveAnyOf,
  toValidationError,
  type SchemaError,
} from '../../src/contract/validation.js';
import { isAtelierError, ValidationError } from '../../src/errors.js';
import { expectSingleIssue, issuesOf, rejection } from './helpers.js';

const validateEdit = compile(editRequestSchema);
const INPUT = 'https://x.test/a.jpg';

function err(keyword: string, instancePath: string, schemaPath: string, params: Record<string, unknown> = {}): SchemaError {
  return { keyword, instancePath, schemaPath, params };
}

describe('paths', () => {
  it('splits JSON pointers and unescapes ~1 and ~0', () => {
    assert.deepEqual(pointerSegments(''), []);
    assert.deepEqual(pointerSegments('/operations/resizing/fit'), ['operations', 'resizing', 'fit']);
    assert.deepEqual(pointerSegments('/input/0'), ['input', '0']);
    assert.deepEqual(pointerSegments('/a~1b/c~0d'), ['a/b', 'c~d']);
  });

  it('names missing and unknown properties by their own path', () => {
    assert.deepEqual(errorPath(err('required', '/operations', '#/required', { missingProperty: 'x' })), ['operations', 'x']);
    assert.deepEqual(
      errorPath(err('additionalProperties', '/operations', '#/additionalProperties', { additionalProperty: 'colour' })),
      ['operations', 'colour'],
    );
    assert.deepEqual(errorPath(err('minimum', '/a/b', '#/minimum', { limit: 1 })), ['a', 'b']);
  });

  it('writes dotted paths without the body root, with other roots', () => {
    assert.equal(dottedPath(['body', 'operations', 'resizing', 'fit']), 'operations.resizing.fit');
    assert.equal(dottedPath(['data', 'operations']), 'data.operations');
    assert.equal(dottedPath(['path', 'task_id']), 'task_id');
    assert.equal(dottedPath(['body']), 'body');
  });
});

describe('redundant errors', () => {
  it('keeps the enum error over the type error of the same value and schema', () => {
    const type = err('type', '/d', '#/properties/d/type', { type: 'string' });
    const enumError = err('enum', '/d', '#/properties/d/enum', { allowedValues: ['a'] });
    assert.deepEqual(dropRedundant([type, enumError]), [enumError]);
  });

  it('keeps the length error over the format error', () => {
    const format = err('format', '/input', '#/properties/input/format', { format: 'uri' });
    const length = err('maxLength', '/input', '#/properties/input/maxLength', { limit: 4096 });
    assert.deepEqual(dropRedundant([length, format]), [length]);
  });

  it('keeps errors about other values or from other schemas', () => {
    const type = err('type', '/a', '#/properties/a/type', { type: 'string' });
    const enumError = err('enum', '/b', '#/properties/b/enum', { allowedValues: ['a'] });
    assert.deepEqual(dropRedundant([type, enumError]), [type, enumError]);
  });
});

describe('anyOf branch classification', () => {
  const base = '/fit';
  it('tells a wrong JSON type', () => {
    assert.equal(classifyBranch([err('type', base, '#/anyOf/1/type', { type: 'object' })], base), 'type');
  });
  it('tells a string outside the enumeration', () => {
    assert.equal(classifyBranch([err('enum', base, '#/anyOf/0/enum', { allowedValues: ['crop'] })], base), 'value');
  });
  it('tells a wrong or missing type tag', () => {
    assert.equal(classifyBranch([err('enum', `${base}/type`, '#/anyOf/2/properties/type/enum')], base), 'tag');
    assert.equal(classifyBranch([err('required', base, '#/anyOf/2/required', { missingProperty: 'type' })], base), 'tag');
  });
  it('tells a fitting alternative with bad content', () => {
    assert.equal(classifyBranch([err('enum', `${base}/crop`, '#/anyOf/1/properties/crop/enum')], base), 'content');
    assert.equal(classifyBranch([err('required', base, '#/anyOf/1/required', { missingProperty: 'version' })], base), 'content');
  });
});

describe('closest alternative', () => {
  it('prefers the alternative that matched deeper, then fewer errors, then the first', () => {
    const shallow = { index: 0, failure: 'content' as const, errors: [err('required', '/p', '#/anyOf/0/required', { missingProperty: 'base_url' })] };
    const deep = {
      index: 1,
      failure: 'content' as const,
      errors: [
        err('required', '/p/credentials', '#/anyOf/1/properties/credentials/required', { missingProperty: 'a' }),
        err('required', '/p/credentials', '#/anyOf/1/properties/credentials/required', { missingProperty: 'b' }),
      ],
    };
    assert.equal(closestBranch([shallow, deep]), deep);
    const fewer = { index: 2, failure: 'content' as const, errors: [err('type', '/p/x', '#/anyOf/2/properties/x/type')] };
    const more = { index: 1, failure: 'content' as const, errors: [err('type', '/p/x', '#/anyOf/1/properties/x/type'), err('type', '/p/y', '#/anyOf/1/properties/y/type')] };
    assert.equal(closestBranch([more, fewer]), fewer);
    const first = { index: 0, failure: 'content' as const, errors: [err('type', '/p/x', '#/anyOf/0/properties/x/type')] };
    assert.equal(closestBranch([fewer, first]), first);
    assert.equal(closestBranch([]), undefined);
  });
});

describe('resolving one anyOf', () => {
  const group = err('anyOf', '/fit', '#/anyOf');

  it('combines the enumerations of string alternatives', () => {
    const members = [
      err('enum', '/fit', '#/anyOf/0/enum', { allowedValues: ['crop', 'cover'] }),
      err('type', '/fit', '#/anyOf/1/type', { type: 'object' }),
      err('enum', '/fit', '#/anyOf/2/enum', { allowedValues: ['bounds'] }),
    ];
    assert.deepEqual(resolveAnyOf(group, members), [
      err('enum', '/fit', '#/anyOf', { allowedValues: ['crop', 'cover', 'bounds'] }),
    ]);
  });

  it('lists the JSON types when none fits', () => {
    const members = [
      err('type', '/fit', '#/anyOf/0/type', { type: 'string' }),
      err('enum', '/fit', '#/anyOf/0/enum', { allowedValues: ['crop'] }),
      err('type', '/fit', '#/anyOf/1/type', { type: 'object' }),
    ];
    assert.deepEqual(resolveAnyOf(group, members), [err('type', '/fit', '#/anyOf', { type: ['string', 'object'] })]);
  });

  it('reports the tag when several tagged alternatives miss it', () => {
    const members = [
      err('type', '/fit', '#/anyOf/0/type', { type: 'string' }),
      err('enum', '/fit/type', '#/anyOf/1/properties/type/enum', { allowedValues: ['crop'] }),
      err('additionalProperties', '/fit', '#/anyOf/1/additionalProperties', { additionalProperty: 'x' }),
      err('enum', '/fit/type', '#/anyOf/2/properties/type/enum', { allowedValues: ['cover'] }),
    ];
    assert.deepEqual(resolveAnyOf(group, members), [
      err('enum', '/fit/type', '#/anyOf', { allowedValues: ['crop', 'cover'] }),
    ]);
  });

  it("keeps the chosen alternative's own errors", () => {
    const inner = err('enum', '/fit/crop', '#/anyOf/1/properties/crop/enum', { allowedValues: ['center', 'smart'] });
    const members = [
      err('type', '/fit', '#/anyOf/0/type', { type: 'string' }),
      inner,
      err('enum', '/fit/type', '#/anyOf/2/properties/type/enum', { allowedValues: ['cover'] }),
    ];
    assert.deepEqual(resolveAnyOf(group, members), [inner]);
  });

  it('collapses nested groups and keeps errors outside any group', () => {
    const outside = err('minimum', '/a', '#/properties/a/minimum', { limit: 0 });
    const errors = [
      outside,
      err('type', '/o', '#/properties/o/anyOf/1/type', { type: 'string' }),
      err('minimum', '/o/f/q', '#/properties/o/anyOf/0/properties/f/anyOf/1/properties/q/minimum', { limit: 1 }),
      err('type', '/o/f', '#/properties/o/anyOf/0/properties/f/anyOf/0/type', { type: 'string' }),
      err('anyOf', '/o/f', '#/properties/o/anyOf/0/properties/f/anyOf'),
      err('anyOf', '/o', '#/properties/o/anyOf'),
    ];
    assert.deepEqual(collapseAnyOf(errors), [outside, errors[2]]);
  });
});

describe('error answers for real bodies', () => {
  it('gives the contract shape: 422, validation, loc/msg/type items', () => {
    const error = rejection(validateEdit, { input: INPUT, operations: { resizing: { fit: 'stretch' } } });
    assert.equal(error.status, 422);
    assert.deepEqual(error.toBody(), {
      error_code: 'validation_error',
      error_type: 'validation',
      error_message: 'operations.resizing.fit: must be one of crop, cover, bounds, canvas, outpaint',
      error_details: {
        errors: [
          {
            loc: ['body', 'operations', 'resizing', 'fit'],
            msg: "Input should be 'crop', 'cover', 'bounds', 'canvas' or 'outpaint'",
            type: 'enum',
            ctx: { expected: ['crop', 'cover', 'bounds', 'canvas', 'outpaint'] },
          },
        ],
      },
    });
  });

  it('fit: {type: "crop", crop: "left"} names the crop values', () => {
    const body = { input: INPUT, operations: { resizing: { fit: { type: 'crop', crop: 'left' } } } };
    const issue = expectSingleIssue(validateEdit, body, ['body', 'operations', 'resizing', 'fit', 'crop'], 'enum');
    assert.equal(issue.msg, "Input should be 'center' or 'smart'");
    assert.equal(rejection(validateEdit, body).message, 'operations.resizing.fit.crop: must be one of center, smart');
  });

  it('a lossy webp quality of 0 is reported at the quality', () => {
    const body = { input: INPUT, operations: {}, output: { format: { type: 'webp', compression: { type: 'lossy', quality: 0 } } } };
    const issue = expectSingleIssue(validateEdit, body, ['body', 'output', 'format', 'compression', 'quality'], 'greater_than_equal');
    assert.equal(issue.msg, 'Input should be greater than or equal to 1');
    assert.deepEqual(issue.ctx, { ge: 1 });
    assert.equal(rejection(validateEdit, body).message, 'output.format.compression.quality: must be >= 1');
  });

  it('output: 5 says which JSON types are allowed', () => {
    const body = { input: INPUT, operations: {}, output: 5 };
    const issue = expectSingleIssue(validateEdit, body, ['body', 'output'], 'type');
    assert.equal(issue.msg, 'Input should be a valid object or string');
    assert.equal(rejection(validateEdit, body).message, 'output: must be object or string');
  });

  it('an unknown tag lists the known ones', () => {
    const body = { input: INPUT, operations: {}, output: { format: { type: 'gif' } } };
    expectSingleIssue(validateEdit, body, ['body', 'output', 'format', 'type'], 'enum');
    assert.equal(rejection(validateEdit, body).message, 'output.format.type: must be one of jpeg, png, webp, avif, tiff');
  });

  it('an unknown property is extra_forbidden at its own path', () => {
    const body = { input: INPUT, operations: { colour: 'red' } };
    const issue = expectSingleIssue(validateEdit, body, ['body', 'operations', 'colour'], 'extra_forbidden');
    assert.equal(issue.msg, 'Extra inputs are not permitted');
    assert.equal(rejection(validateEdit, body).message, 'operations.colour: is not allowed');
  });

  it('a missing field is named in the message', () => {
    assert.equal(rejection(validateEdit, { input: INPUT }).message, 'operations: is required');
  });

  it('prefixes locations when validating part of a body', () => {
    const error = toValidationError([err('required', '', '#/required', { missingProperty: 'bucket' })], 'body', ['parameters']);
    assert.deepEqual(issuesOf(error), [{ loc: ['body', 'parameters', 'bucket'], msg: 'Field required', type: 'missing' }]);
    assert.equal(error.message, 'parameters.bucket: is required');
  });

  it('storage parameters pick the alternative that matched furthest', () => {
    const body = { name: 'g', type: 'gcs', parameters: { bucket: 'b', credentials: {} } };
    const issues = issuesOf(rejection(compile(storageCreateSchema), body));
    assert.deepEqual(
      issues.map((i) => [i.loc.join('.'), i.type]),
      [
        ['body.parameters.credentials.access_key', 'missing'],
        ['body.parameters.credentials.secret_access_key', 'missing'],
      ],
    );
  });
});

describe('validator', () => {
  it('does not coerce, default or strip body values', () => {
    const validate = createValidator().compile(editRequestSchema);
    const body = { input: INPUT, operations: { adjustments: { exposure: '10' } }, extra: true };
    assert.equal(validate(body), false);
    assert.deepEqual(body, { input: INPUT, operations: { adjustments: { exposure: '10' } }, extra: true });
    // allErrors: both problems are reported at once.
    assert.equal(validate.errors?.length, 2);
  });

  it('coerces when asked to (path and query values)', () => {
    const validate = createValidator({ coerceTypes: true }).compile(idParamSchema('storage_id'));
    const params = { storage_id: '7' };
    assert.equal(validate(params), true);
    assert.deepEqual(params, { storage_id: 7 });
  });
});

describe('fastify hooks', () => {
  async function app() {
    const server = Fastify({ schemaErrorFormatter: fastifySchemaErrorFormatter });
    server.setValidatorCompiler(fastifyValidatorCompiler);
    server.setErrorHandler((error, _request, reply) => {
      if (isAtelierError(error)) return reply.code(error.status).send(error.toBody());
      return reply.code(500).send({ unexpected: String(error) });
    });
    server.post('/v1/image/edit', { schema: { body: editRequestSchema } }, async (request) => ({ echo: request.body }));
    server.get('/v1/image/edit/async/:task_id', { schema: { params: idParamSchema('task_id') } }, async (request) => ({
      params: request.params,
    }));
    await server.ready();
    return server;
  }

  it('answers a bad body with 422 and the contract error', async () => {
    const server = await app();
    const res = await server.inject({
      method: 'POST',
      url: '/v1/image/edit',
      payload: { input: INPUT, operations: { resizing: { fit: 'stretch' }, colour: 1 } },
    });
    assert.equal(res.statusCode, 422);
    const body = res.json();
    assert.equal(body.error_type, 'validation');
    assert.equal(body.error_message, 'operations.colour: is not allowed');
    assert.deepEqual(
      body.error_details.errors.map((e: { loc: string[]; type: string }) => [e.loc.join('.'), e.type]),
      [
        ['body.operations.colour', 'extra_forbidden'],
        ['body.operations.resizing.fit', 'enum'],
      ],
    );
    await server.close();
  });

  it('passes a good body through exactly as sent', async () => {
    const server = await app();
    const payload = { input: 'storage://bucket/a.jpg', operations: { resizing: { width: '50%' } } };
    const res = await server.inject({ method: 'POST', url: '/v1/image/edit', payload });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { echo: payload });
    await server.close();
  });

  it('coerces numeric ids and rejects others under path', async () => {
    const server = await app();
    const ok = await server.inject({ method: 'GET', url: '/v1/image/edit/async/12' });
    assert.deepEqual(ok.json(), { params: { task_id: 12 } });
    const bad = await server.inject({ method: 'GET', url: '/v1/image/edit/async/abc' });
    assert.equal(bad.statusCode, 422);
    assert.deepEqual(bad.json().error_details.errors[0].loc, ['path', 'task_id']);
    await server.close();
  });

  it('maps Fastify data parts to roots and sets the 422 status Fastify reads', () => {
    const errors = [err('type', '/task_id', '#/properties/task_id/type', { type: 'integer' })];
    const error = fastifySchemaErrorFormatter(errors, 'params');
    assert.ok(error instanceof ValidationError);
    assert.equal((error as ValidationError & { statusCode: number }).statusCode, 422);
    assert.deepEqual(issuesOf(error)[0]?.loc, ['path', 'task_id']);
    assert.deepEqual(issuesOf(fastifySchemaErrorFormatter(errors, 'querystring'))[0]?.loc, ['query', 'task_id']);
  });
});
