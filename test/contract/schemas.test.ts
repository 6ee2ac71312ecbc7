// The request schemas against the contract: bodies the reference documents accept pass untouched, and every
// constraint (type, enum, range, length, pattern, format, required, unknown field) rejects with the right
// location and error type.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  asyncEditRequestSchema,
  batchEditRequestSchema,
  CMYK_PROFILES,
  editRequestSchema,
  FIT_MODES,
  idParamSchema,
  OUTPUT_FORMATS,
  storageCreateSchema,
  storageParametersSchemas,
  storageUpdateSchema,
  UPSCALE_TYPES,
  uploadDataSchema,
} from '../../src/contract/schemas.js';
import { compile } from '../../src/contract/validation.js';
import type { EditRequest } from '../../src/contract/types.js';
import { expectSingleIssue, issuesOf, rejection, withValue } from './helpers.js';
import { contractSchemas } from '../support/contract.js';

const validateEdit = compile<EditRequest>(editRequestSchema);
const validateAsync = compile<EditRequest>(asyncEditRequestSchema);
const validateUpload = compile(uploadDataSchema, 'data');
const validateBatch = compile(batchEditRequestSchema);
const validateStorageCreate = compile(storageCreateSchema);
const validateStorageUpdate = compile(storageUpdateSchema);

const INPUT = 'https://images.example.test/photo.jpg';
const base = { input: INPUT, operations: {} };

/** Accepts `body` and hands back the very same object, unchanged (no defaults filled in, nothing removed). */
function assertAccepted(validate: (v: unknown) => unknown, body: unknown): void {
  const before = structuredClone(body);
  const result = validate(body);
  assert.equal(result, body);
  assert.deepEqual(body, before);
}

describe('edit request: valid bodies', () => {
  it('accepts the request shown on the async edit reference page', () => {
    assertAccepted(validateAsync, {
      input: 'https://picsum.photos/200.jpg',
      operations: { resizing: { width: 1000 }, background: { remove: false } },
    });
  });

  it('accepts storage:// and https:// inputs and destinations', () => {
    assertAccepted(validateEdit, { input: 'storage://bucket/a.jpg', operations: {} });
    assertAccepted(validateEdit, { input: 'https://x.test/a.jpg', operations: {} });
    assertAccepted(validateEdit, { input: 's3://bucket/folder/a.png', operations: {}, output: 'storage://out/b/' });
    assertAccepted(validateEdit, { ...base, output: { destination: 'storage://my-storage/results/x.png' } });
  });

  it('accepts an input exactly 4096 characters long', () => {
    const input = `https://x.test/${'a'.repeat(4096 - 'https://x.test/'.length)}`;
    assert.equal(input.length, 4096);
    assertAccepted(validateEdit, { input, operations: {} });
  });

  it('accepts every operation with every documented form', () => {
    assertAccepted(validateEdit, {
      input: INPUT,
      operations: {
        restorations: { decompress: 'auto', upscale: { type: 'photo', version: '3' }, polish: true },
        adjustments: { hdr: { intensity: 40, stitching: true }, exposure: -100, saturation: 100, contrast: 0, sharpness: 100 },
        background: {
          remove: { clipping: true, selective: { object_to_keep: 'car' }, category: 'cars' },
          color: '#ffffff',
          blur: { selective: { object_to_keep: 'person' }, category: 'general', type: 'lens', level: 'high' },
        },
        resizing: { width: '60%', height: 'auto', fit: { type: 'outpaint', feathering: '200%', outpaint_by: '5% 15%' } },
        padding: '10% 5%',
        privacy: { blur_car_plate: true, identity_crop: false },
        generative: {
          style_transfer: {
            style_reference_image: 'https://x.test/style.png',
            prompt: 'oil painting',
            depth_strength: 0,
            denoising_strength: 0.75,
            style_strength: 1,
          },
        },
      },
      output: {
        format: { type: 'webp', compression: { type: 'lossy', quality: 100 } },
        destination: 'storage://out/edited/',
        metadata: { dpi: 300, color_space: { type: 'CMYK', color_profile: 'ISO_Coated' } },
      },
    });
  });

  it('accepts the string shorthands of every union', () => {
    for (const fit of FIT_MODES) assertAccepted(validateEdit, withValue(base, ['operations', 'resizing', 'fit'], fit));
    for (const upscale of UPSCALE_TYPES) {
      assertAccepted(validateEdit, withValue(base, ['operations', 'restorations', 'upscale'], upscale));
    }
    for (const format of OUTPUT_FORMATS) assertAccepted(validateEdit, withValue(base, ['output', 'format'], format));
    for (const compression of ['lossy', 'lossless']) {
      for (const type of ['webp', 'avif', 'tiff']) {
        assertAccepted(validateEdit, withValue(base, ['output', 'format'], { type, compression }));
      }
    }
    for (const cs of ['RGB', 'CMYK', { type: 'RGB' }, { type: 'CMYK' }]) {
      assertAccepted(validateEdit, withValue(base, ['output', 'metadata', 'color_space'], cs));
    }
    for (const profile of CMYK_PROFILES) {
      assertAccepted(validateEdit, withValue(base, ['output', 'metadata', 'color_space'], { type: 'CMYK', color_profile: profile }));
    }
    assertAccepted(validateEdit, withValue(base, ['operations', 'adjustments', 'hdr'], 0));
    assertAccepted(validateEdit, withValue(base, ['operations', 'background', 'remove'], true));
    assertAccepted(validateEdit, withValue(base, ['operations', 'background', 'blur'], false));
    assertAccepted(validateEdit, withValue(base, ['operations', 'background', 'color'], 'transparent'));
    assertAccepted(validateEdit, withValue(base, ['operations', 'resizing'], { width: 1024, height: 683, fit: { type: 'crop', crop: 'smart' } }));
    assertAccepted(validateEdit, withValue(base, ['output', 'format'], { type: 'jpeg', quality: 1, progressive: false }));
    assertAccepted(validateEdit, withValue(base, ['output', 'format'], { type: 'png', compression: 'best' }));
    assertAccepted(validateEdit, withValue(base, ['output', 'format'], { type: 'tiff', compression: { type: 'lossless' } }));
  });

  it('leaves to the pipeline what the contract states only in prose', () => {
    // Zero and negative pixel sizes, free-form padding and colour strings are the parsers' business.
    assertAccepted(validateEdit, withValue(base, ['operations', 'resizing'], { width: 0, height: -5 }));
    assertAccepted(validateEdit, withValue(base, ['operations', 'padding'], 'lots'));
    assertAccepted(validateEdit, withValue(base, ['operations', 'background', 'color'], 'not-a-colour'));
  });

  it('accepts the feathering percentages the contract pattern allows', () => {
    for (const feathering of ['0%', '5%', '15%', '60%', '100%', '200%']) {
      assertAccepted(validateEdit, withValue(base, ['operations', 'resizing', 'fit'], { type: 'outpaint', feathering }));
    }
  });
});

/** [path under the body, bad value, expected loc after 'body', expected error type] */
type Case = [readonly string[], unknown, readonly string[], string];

const op = (...path: string[]) => ['operations', ...path];
const out = (...path: string[]) => ['output', ...path];

const EDIT_CASES: Case[] = [
  // top level
  [['input'], 5, ['input'], 'type'],
  [['input'], 'photo.jpg', ['input'], 'format'],
  [['input'], 'https://x.test/a b.jpg', ['input'], 'format'],
  [['colour'], 'red', ['colour'], 'extra_forbidden'],
  [['operations'], 'resize', ['operations'], 'type'],
  [op('colour'), {}, op('colour'), 'extra_forbidden'],
  // restorations
  [op('restorations'), true, op('restorations'), 'type'],
  [op('restorations', 'decompress'), 'heavy', op('restorations', 'decompress'), 'enum'],
  [op('restorations', 'decompress'), 3, op('restorations', 'decompress'), 'enum'],
  [op('restorations', 'polish'), 'yes', op('restorations', 'polish'), 'type'],
  [op('restorations', 'upscale'), 'x4', op('restorations', 'upscale'), 'enum'],
  [op('restorations', 'upscale'), { type: 'photo' }, op('restorations', 'upscale', 'version'), 'missing'],
  [op('restorations', 'upscale'), { version: '2' }, op('restorations', 'upscale', 'type'), 'missing'],
  [op('restorations', 'upscale'), { type: 'photo', version: '4' }, op('restorations', 'upscale', 'version'), 'enum'],
  [op('restorations', 'upscale'), { type: 'photo', version: 2 }, op('restorations', 'upscale', 'version'), 'enum'],
  [op('restorations', 'upscale'), { type: 'faces', version: '2' }, op('restorations', 'upscale', 'type'), 'enum'],
  [op('restorations', 'upscale'), { type: 'photo', version: '2', x: 1 }, op('restorations', 'upscale', 'x'), 'extra_forbidden'],
  [op('restorations', 'sharpen'), true, op('restorations', 'sharpen'), 'extra_forbidden'],
  // adjustments
  [op('adjustments', 'exposure'), -101, op('adjustments', 'exposure'), 'greater_than_equal'],
  [op('adjustments', 'exposure'), 101, op('adjustments', 'exposure'), 'less_than_equal'],
  [op('adjustments', 'exposure'), 1.5, op('adjustments', 'exposure'), 'type'],
  [op('adjustments', 'exposure'), '10', op('adjustments', 'exposure'), 'type'],
  [op('adjustments', 'saturation'), -101, op('adjustments', 'saturation'), 'greater_than_equal'],
  [op('adjustments', 'saturation'), 101, op('adjustments', 'saturation'), 'less_than_equal'],
  [op('adjustments', 'contrast'), -101, op('adjustments', 'contrast'), 'greater_than_equal'],
  [op('adjustments', 'contrast'), 101, op('adjustments', 'contrast'), 'less_than_equal'],
  [op('adjustments', 'sharpness'), -1, op('adjustments', 'sharpness'), 'greater_than_equal'],
  [op('adjustments', 'sharpness'), 101, op('adjustments', 'sharpness'), 'less_than_equal'],
  [op('adjustments', 'hdr'), -1, op('adjustments', 'hdr'), 'greater_than_equal'],
  [op('adjustments', 'hdr'), 101, op('adjustments', 'hdr'), 'less_than_equal'],
  [op('adjustments', 'hdr'), 'high', op('adjustments', 'hdr'), 'type'],
  [op('adjustments', 'hdr'), { intensity: 101 }, op('adjustments', 'hdr', 'intensity'), 'less_than_equal'],
  [op('adjustments', 'hdr'), { intensity: -1 }, op('adjustments', 'hdr', 'intensity'), 'greater_than_equal'],
  [op('adjustments', 'hdr'), { stitching: 'on' }, op('adjustments', 'hdr', 'stitching'), 'type'],
  [op('adjustments', 'hdr'), { level: 3 }, op('adjustments', 'hdr', 'level'), 'extra_forbidden'],
  [op('adjustments', 'brightness'), 3, op('adjustments', 'brightness'), 'extra_forbidden'],
  // background
  [op('background', 'remove'), 'yes', op('background', 'remove'), 'type'],
  [op('background', 'remove'), { clipping: 1 }, op('background', 'remove', 'clipping'), 'type'],
  [op('background', 'remove'), { category: 'people' }, op('background', 'remove', 'category'), 'enum'],
  [op('background', 'remove'), { selective: {} }, op('background', 'remove', 'selective', 'object_to_keep'), 'missing'],
  [op('background', 'remove'), { selective: { object_to_keep: 'ab' } }, op('background', 'remove', 'selective', 'object_to_keep'), 'too_short'],
  [op('background', 'remove'), { selective: { object_to_keep: 'a'.repeat(129) } }, op('background', 'remove', 'selective', 'object_to_keep'), 'too_long'],
  [op('background', 'remove'), { selective: { object_to_keep: 'cat', x: 1 } }, op('background', 'remove', 'selective', 'x'), 'extra_forbidden'],
  [op('background', 'remove'), { crop: true }, op('background', 'remove', 'crop'), 'extra_forbidden'],
  [op('background', 'color'), 16777215, op('background', 'color'), 'type'],
  [op('background', 'blur'), 'strong', op('background', 'blur'), 'type'],
  [op('background', 'blur'), { type: 'motion' }, op('background', 'blur', 'type'), 'enum'],
  [op('background', 'blur'), { level: 'max' }, op('background', 'blur', 'level'), 'enum'],
  [op('background', 'blur'), { category: 'people' }, op('background', 'blur', 'category'), 'enum'],
  [op('background', 'blur'), { radius: 3 }, op('background', 'blur', 'radius'), 'extra_forbidden'],
  [op('background', 'use_original_alpha'), true, op('background', 'use_original_alpha'), 'extra_forbidden'],
  // resizing
  [op('resizing'), [], op('resizing'), 'type'],
  [op('resizing', 'width'), true, op('resizing', 'width'), 'type'],
  [op('resizing', 'width'), 10.5, op('resizing', 'width'), 'type'],
  [op('resizing', 'height'), null, op('resizing', 'height'), 'type'],
  [op('resizing', 'fit'), 'stretch', op('resizing', 'fit'), 'enum'],
  [op('resizing', 'fit'), 3, op('resizing', 'fit'), 'type'],
  [op('resizing', 'fit'), {}, op('resizing', 'fit', 'type'), 'missing'],
  [op('resizing', 'fit'), { type: 'stretch' }, op('resizing', 'fit', 'type'), 'enum'],
  [op('resizing', 'fit'), { type: 'crop', crop: 'left' }, op('resizing', 'fit', 'crop'), 'enum'],
  [op('resizing', 'fit'), { type: 'cover', crop: 'center' }, op('resizing', 'fit', 'crop'), 'extra_forbidden'],
  [op('resizing', 'fit'), { type: 'outpaint', feathering: '05%' }, op('resizing', 'fit', 'feathering'), 'pattern_mismatch'],
  [op('resizing', 'fit'), { type: 'outpaint', feathering: '15' }, op('resizing', 'fit', 'feathering'), 'pattern_mismatch'],
  [op('resizing', 'fit'), { type: 'outpaint', feathering: '1.5%' }, op('resizing', 'fit', 'feathering'), 'pattern_mismatch'],
  [op('resizing', 'fit'), { type: 'outpaint', feathering: 15 }, op('resizing', 'fit', 'feathering'), 'type'],
  [op('resizing', 'fit'), { type: 'outpaint', outpaint_by: 10 }, op('resizing', 'fit', 'outpaint_by'), 'type'],
  [op('resizing', 'scale'), 2, op('resizing', 'scale'), 'extra_forbidden'],
  // padding, privacy, generative
  [op('padding'), 10, op('padding'), 'type'],
  [op('privacy', 'blur_car_plate'), 'no', op('privacy', 'blur_car_plate'), 'type'],
  [op('privacy', 'identity_crop'), 1, op('privacy', 'identity_crop'), 'type'],
  [op('privacy', 'blur_faces'), true, op('privacy', 'blur_faces'), 'extra_forbidden'],
  [op('generative', 'style_transfer'), {}, op('generative', 'style_transfer', 'style_reference_image'), 'missing'],
  [op('generative', 'inpaint'), {}, op('generative', 'inpaint'), 'extra_forbidden'],
  [op('generative', 'style_transfer'), { style_reference_image: 7 }, op('generative', 'style_transfer', 'style_reference_image'), 'type'],
  // output
  [out(), 5, out(), 'type'],
  [out(), 'results/', out(), 'format'],
  [out(), '', out(), 'too_short'],
  [out('format'), 'gif', out('format'), 'enum'],
  [out('format'), { type: 'gif' }, out('format', 'type'), 'enum'],
  [out('format'), { quality: 80 }, out('format', 'type'), 'missing'],
  [out('format'), { type: 'jpeg', quality: 0 }, out('format', 'quality'), 'greater_than_equal'],
  [out('format'), { type: 'jpeg', quality: 101 }, out('format', 'quality'), 'less_than_equal'],
  [out('format'), { type: 'jpeg', quality: 80.5 }, out('format', 'quality'), 'type'],
  [out('format'), { type: 'jpeg', progressive: 'yes' }, out('format', 'progressive'), 'type'],
  [out('format'), { type: 'jpeg', compression: 'best' }, out('format', 'compression'), 'extra_forbidden'],
  [out('format'), { type: 'png', compression: 'max' }, out('format', 'compression'), 'enum'],
  [out('format'), { type: 'png', quality: 9 }, out('format', 'quality'), 'extra_forbidden'],
  [out('format'), { type: 'webp', compression: 'medium' }, out('format', 'compression'), 'enum'],
  [out('format'), { type: 'webp', compression: { type: 'lossy', quality: 0 } }, out('format', 'compression', 'quality'), 'greater_than_equal'],
  [out('format'), { type: 'avif', compression: { type: 'lossy', quality: 101 } }, out('format', 'compression', 'quality'), 'less_than_equal'],
  [out('format'), { type: 'tiff', compression: { type: 'lossless', quality: 5 } }, out('format', 'compression', 'quality'), 'extra_forbidden'],
  [out('format'), { type: 'tiff', compression: { type: 'zip' } }, out('format', 'compression', 'type'), 'enum'],
  [out('format'), { type: 'avif', compression: {} }, out('format', 'compression', 'type'), 'missing'],
  [out('destination'), 'out/', out('destination'), 'format'],
  [out('destination'), '', out('destination'), 'too_short'],
  [out('metadata', 'dpi'), '300', out('metadata', 'dpi'), 'type'],
  [out('metadata', 'color_space'), 'LAB', out('metadata', 'color_space'), 'enum'],
  [out('metadata', 'color_space'), { type: 'CMYK', color_profile: 'Fogra39' }, out('metadata', 'color_space', 'color_profile'), 'enum'],
  [out('metadata', 'color_space'), { type: 'RGB', color_profile: 'ISO_Coated' }, out('metadata', 'color_space', 'color_profile'), 'extra_forbidden'],
  [out('metadata', 'exif'), false, out('metadata', 'exif'), 'extra_forbidden'],
  [out('quality'), 80, out('quality'), 'extra_forbidden'],
];

describe('edit request: every rule rejects with its location and type', () => {
  for (const [path, value, loc, type] of EDIT_CASES) {
    it(`${path.join('.') || '(output)'} = ${JSON.stringify(value)}`, () => {
      expectSingleIssue(validateEdit, withValue(base, path, value), ['body', ...loc], type);
    });
  }

  it('reports a missing input and missing operations', () => {
    const issues = issuesOf(rejection(validateEdit, {}));
    assert.deepEqual(
      issues.map((i) => [i.loc, i.type]),
      [
        [['body', 'input'], 'missing'],
        [['body', 'operations'], 'missing'],
      ],
    );
  });

  it('rejects a body that is not an object', () => {
    for (const body of [null, [], 'input', 3]) expectSingleIssue(validateEdit, body, ['body'], 'type');
  });

  it('rejects a 4097-character input as too long', () => {
    const input = `https://x.test/${'a'.repeat(4097 - 'https://x.test/'.length)}`;
    assert.equal(input.length, 4097);
    const issue = expectSingleIssue(validateEdit, { input, operations: {} }, ['body', 'input'], 'too_long');
    assert.deepEqual(issue.ctx, { max_length: 4096 });
  });

  it('rejects an empty input', () => {
    const issues = issuesOf(rejection(validateEdit, { input: '', operations: {} }));
    assert.deepEqual(issues[0]?.loc, ['body', 'input']);
    assert.equal(issues[0]?.type, 'too_short');
  });

  it('reports every independent problem, in one answer', () => {
    const body = {
      input: INPUT,
      operations: { adjustments: { exposure: 300 }, resizing: { fit: 'stretch' } },
      output: { format: 'gif' },
      extra: 1,
    };
    const issues = issuesOf(rejection(validateEdit, body));
    assert.deepEqual(
      issues.map((i) => [i.loc.join('.'), i.type]).sort(),
      [
        ['body.extra', 'extra_forbidden'],
        ['body.operations.adjustments.exposure', 'less_than_equal'],
        ['body.operations.resizing.fit', 'enum'],
        ['body.output.format', 'enum'],
      ],
    );
  });
});

describe('async edit request', () => {
  it('has exactly the edit request schema', () => {
    assert.deepEqual(asyncEditRequestSchema, editRequestSchema);
  });

  it('rejects like the edit request', () => {
    expectSingleIssue(validateAsync, { ...base, operations: { resizing: { fit: 'stretch' } } }, ['body', 'operations', 'resizing', 'fit'], 'enum');
    expectSingleIssue(validateAsync, { operations: {} }, ['body', 'input'], 'missing');
  });
});

describe('upload form data', () => {
  it('accepts operations with or without output', () => {
    assertAccepted(validateUpload, { operations: { resizing: { width: 200 } } });
    assertAccepted(validateUpload, { operations: {}, output: { format: 'png' } });
    assertAccepted(validateUpload, { operations: {}, output: 'storage://out/a.png' });
  });

  it('has no input field and requires operations, reported under data', () => {
    expectSingleIssue(validateUpload, { input: INPUT, operations: {} }, ['data', 'input'], 'extra_forbidden');
    const error = rejection(validateUpload, {});
    assert.equal(error.message, 'data.operations: is required');
    assert.deepEqual(issuesOf(error), [{ loc: ['data', 'operations'], msg: 'Field required', type: 'missing' }]);
  });
});

describe('batch edit request', () => {
  it('accepts a folder, a single URI and a list of URIs', () => {
    assertAccepted(validateBatch, { input: { source: 'storage://bucket/folder/', recursive: true }, operations: {} });
    assertAccepted(validateBatch, { input: 'storage://bucket/folder/', operations: {}, output: 'storage://bucket/out/' });
    assertAccepted(validateBatch, { input: ['https://x.test/a.jpg', 'storage://b/c.png'], operations: {} });
  });

  const cases: Case[] = [
    [['input'], 5, ['input'], 'type'],
    [['input'], [], ['input'], 'too_short'],
    [['input'], ['https://x.test/a.jpg', 'b.jpg'], ['input', '1'], 'format'],
    [['input'], ['x'.repeat(4097)], ['input', '0'], 'too_long'],
    [['input'], 'folder', ['input'], 'format'],
    [['input'], { source: 'folder' }, ['input', 'source'], 'format'],
    [['input'], { recursive: true }, ['input', 'source'], 'missing'],
    [['input'], { source: 's3://b/', recursive: 'yes' }, ['input', 'recursive'], 'type'],
    [['input'], { source: 's3://b/', pattern: '*.jpg' }, ['input', 'pattern'], 'extra_forbidden'],
    [['operations', 'resizing', 'fit'], 'stretch', ['operations', 'resizing', 'fit'], 'enum'],
    [['output'], 7, ['output'], 'type'],
  ];
  for (const [path, value, loc, type] of cases) {
    it(`rejects ${path.join('.')} = ${JSON.stringify(value).slice(0, 40)}`, () => {
      expectSingleIssue(validateBatch, withValue({ input: INPUT, operations: {} }, path, value), ['body', ...loc], type);
    });
  }
});

describe('storage bodies', () => {
  const credentials = { access_key: 'AKIA', secret_access_key: 'secret' };
  const s3 = { name: 'photos', type: 's3', parameters: { bucket: 'my-bucket', path: 'in/', credentials } };

  it('accepts s3, gcs and web folder storages', () => {
    assertAccepted(validateStorageCreate, s3);
    assertAccepted(validateStorageCreate, { name: 'g', type: 'gcs', parameters: { bucket: 'b', credentials } });
    assertAccepted(validateStorageCreate, { name: 'w', type: 'web_folder', parameters: { base_url: 'https://cdn.x.test/' } });
  });

  it('leaves web folder parameters open, as the contract does', () => {
    assertAccepted(validateStorageCreate, { name: 'w', type: 'web_folder', parameters: { base_url: 'https://x.test/', region: 'eu' } });
  });

  const createCases: Case[] = [
    [['name'], 'n'.repeat(51), ['name'], 'too_long'],
    [['name'], 5, ['name'], 'type'],
    [['type'], 'azure', ['type'], 'enum'],
    [['parameters'], 'bucket', ['parameters'], 'type'],
    [['parameters', 'bucket'], '', ['parameters', 'bucket'], 'too_short'],
    [['parameters', 'credentials'], { access_key: 'AKIA' }, ['parameters', 'credentials', 'secret_access_key'], 'missing'],
    [['parameters', 'credentials'], { ...credentials, access_key: '' }, ['parameters', 'credentials', 'access_key'], 'too_short'],
    [['parameters', 'credentials'], { ...credentials, token: 't' }, ['parameters', 'credentials', 'token'], 'extra_forbidden'],
    [['parameters', 'path'], 3, ['parameters', 'path'], 'type'],
    [['owner'], 'me', ['owner'], 'extra_forbidden'],
  ];
  for (const [path, value, loc, type] of createCases) {
    it(`create rejects ${path.join('.')} = ${JSON.stringify(value).slice(0, 40)}`, () => {
      expectSingleIssue(validateStorageCreate, withValue(s3, path, value), ['body', ...loc], type);
    });
  }

  it('create requires name, type and parameters', () => {
    const issues = issuesOf(rejection(validateStorageCreate, {}));
    assert.deepEqual(issues.map((i) => i.loc.join('.')), ['body.name', 'body.type', 'body.parameters']);
    assert.ok(issues.every((i) => i.type === 'missing'));
  });

  it('reports a web folder without base_url', () => {
    expectSingleIssue(validateStorageCreate, { name: 'w', type: 'web_folder', parameters: {} }, ['body', 'parameters', 'base_url'], 'missing');
    expectSingleIssue(validateStorageCreate, { name: 'w', type: 'web_folder', parameters: { base_url: 5 } }, ['body', 'parameters', 'base_url'], 'type');
  });

  it('checks parameters against the declared type with the per-type schemas', () => {
    // The contract's anyOf lets s3-shaped parameters through whatever `type` says; the per-type schema does not.
    assertAccepted(validateStorageCreate, { name: 'w', type: 'web_folder', parameters: { bucket: 'b', credentials } });
    const webFolder = compile(storageParametersSchemas.web_folder, 'body', ['parameters']);
    expectSingleIssue(webFolder, { bucket: 'b', credentials }, ['body', 'parameters', 'base_url'], 'missing');
    const s3Params = compile(storageParametersSchemas.s3, 'body', ['parameters']);
    const issues = issuesOf(rejection(s3Params, {}));
    assert.deepEqual(issues.map((i) => i.loc.join('.')), ['body.parameters.bucket', 'body.parameters.credentials']);
  });

  it('update takes any subset of fields', () => {
    assertAccepted(validateStorageUpdate, {});
    assertAccepted(validateStorageUpdate, { name: 'renamed' });
    assertAccepted(validateStorageUpdate, { parameters: { credentials: { access_key: 'new' } } });
    assertAccepted(validateStorageUpdate, { type: 'gcs', parameters: { bucket: 'other', path: '' } });
  });

  const updateCases: Case[] = [
    [['name'], 'n'.repeat(51), ['name'], 'too_long'],
    [['type'], 'ftp', ['type'], 'enum'],
    [['parameters', 'bucket'], '', ['parameters', 'bucket'], 'too_short'],
    [['parameters', 'credentials'], { secret_access_key: '' }, ['parameters', 'credentials', 'secret_access_key'], 'too_short'],
    [['parameters', 'credentials'], { session: 'x' }, ['parameters', 'credentials', 'session'], 'extra_forbidden'],
    [['id'], 3, ['id'], 'extra_forbidden'],
  ];
  for (const [path, value, loc, type] of updateCases) {
    it(`update rejects ${path.join('.')} = ${JSON.stringify(value).slice(0, 40)}`, () => {
      expectSingleIssue(validateStorageUpdate, withValue({}, path, value), ['body', ...loc], type);
    });
  }
});

describe('id path parameters', () => {
  const validateTaskId = compile<{ task_id: number }>(idParamSchema('task_id'), 'path');

  it('turns a numeric path segment into an integer', () => {
    const params: Record<string, unknown> = { task_id: '42' };
    assert.deepEqual(validateTaskId(params), { task_id: 42 });
  });

  it('rejects anything that is not an integer, under path', () => {
    for (const id of ['abc', '1.5', '']) {
      const error = rejection(validateTaskId, { task_id: id });
      assert.equal(error.message, 'task_id: must be integer');
      assert.deepEqual(issuesOf(error)[0]?.loc, ['path', 'task_id']);
    }
  });
});

describe('agreement with the published document', () => {
  const contract = contractSchemas();

  /** Collects every enum list of a JSON Schema, resolving the contract's $refs. */
  function enums(schema: unknown, defs: Record<string, unknown>, seen = new Set<string>()): string[] {
    if (Array.isArray(schema)) return schema.flatMap((s) => enums(s, defs, seen));
    if (typeof schema !== 'object' || schema === null) return [];
    const node = schema as Record<string, unknown>;
    const found: string[] = [];
    if (typeof node.$ref === 'string') {
      const name = node.$ref.split('/').pop() ?? '';
      if (!seen.has(name)) {
        seen.add(name);
        found.push(...enums(defs[name], defs, seen));
      }
    }
    if (Array.isArray(node.enum)) found.push(JSON.stringify([...node.enum].sort()));
    for (const [key, value] of Object.entries(node)) {
      if (key !== 'enum' && key !== '$ref' && key !== 'default') found.push(...enums(value, defs, seen));
    }
    return found;
  }

  it('uses the same set of enumerations as EditRequest and StorageIn', () => {
    const distinct = (list: string[]) => [...new Set(list)].sort();
    assert.deepEqual(distinct(enums(editRequestSchema, {})), distinct(enums(contract.EditRequest, contract)));
    assert.deepEqual(distinct(enums(batchEditRequestSchema, {})), distinct(enums(contract.BatchEditRequest, contract)));
    assert.deepEqual(distinct(enums(storageCreateSchema, {})), distinct(enums(contract.StorageIn_Pydantic, contract)));
  });

  it('carries no default keywords', () => {
    for (const schema of [editRequestSchema, batchEditRequestSchema, uploadDataSchema, storageCreateSchema, storageUpdateSchema]) {
      assert.ok(!JSON.stringify(schema).includes('"default"'));
    }
  });
});
