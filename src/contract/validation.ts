// Request validation: the Ajv set-up and the translation of Ajv's errors into the contract's answer for bad
// input (422, error_type `validation`, FastAPI-style `{ loc, msg, type }` items under error_details.errors).
//
// Most of the work is in collapsing `anyOf`: Ajv reports a failure for every alternative, so a bad
// `fit: "stretch"` would otherwise produce six errors about six shapes. We pick the alternative the client
// evidently meant (right JSON type, matching `type` tag) and report only its errors, or, when none fits,
// one error saying what would have been accepted.
import { Ajv, type AnySchema, type ErrorObject, type ValidateFunction } from 'ajv';
import ajvFormats from 'ajv-formats';
import { ValidationError } from '../errors.js';

/** What each error's `loc` starts with: the part of the request that holds the offending value. */
export type ErrorRoot = 'body' | 'data' | 'path' | 'query' | 'header';

/** One entry of `error_details.errors`. */
export interface ValidationIssue {
  loc: string[];
  msg: string;
  type: string;
  /** The limit or the allowed values the input broke, when there is one. */
  ctx?: Record<string, unknown>;
}

/** The part of an Ajv error we use; Fastify's FastifySchemaValidationError has the same shape. */
export interface SchemaError {
  keyword: string;
  instancePath: string;
  schemaPath: string;
  params: Record<string, any>;
  message?: string;
}

// ---------------------------------------------------------------------------------------------------------
// Ajv

export interface ValidatorOptions {
  /**
   * Convert strings to the declared scalar type. Only for path and query parameters, which arrive as
   * strings; bodies are validated as sent.
   */
  coerceTypes?: boolean;
}

export function createValidator(options: ValidatorOptions = {}): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    strict: false,
    coerceTypes: options.coerceTypes ?? false,
    useDefaults: false,
    removeAdditional: false,
  });
  ajvFormats.default(ajv);
  return ajv;
}

let bodyValidator: Ajv | undefined;
let paramValidator: Ajv | undefined;

function sharedValidator(coerce: boolean): Ajv {
  if (coerce) return (paramValidator ??= createValidator({ coerceTypes: true }));
  return (bodyValidator ??= createValidator());
}

/**
 * Compiles `schema` into a function that returns its input typed as `T`, or throws a ValidationError whose
 * locations start with `root` and then `prefix` (use the prefix when validating a part of a body, e.g.
 * `['parameters']`). Path and query roots use a coercing validator, so ids given as strings come back as
 * numbers.
 */
export function compile<T>(
  schema: AnySchema,
  root: ErrorRoot = 'body',
  prefix: readonly string[] = [],
): (value: unknown) => T {
  const validate = sharedValidator(root === 'path' || root === 'query').compile(schema);
  return (value: unknown): T => {
    if (validate(value)) return value as T;
    throw toValidationError(validate.errors ?? [], root, prefix);
  };
}

/**
 * For `fastify.setValidatorCompiler`: bodies go through the non-coercing validator with all errors
 * reported; params and querystrings through the coercing one. Fastify's own default Ajv would coerce body
 * values, fill defaults in and silently strip unknown properties, none of which the contract does.
 */
export function fastifyValidatorCompiler(route: { schema: unknown; httpPart?: string }): ValidateFunction {
  const coerce = route.httpPart === 'params' || route.httpPart === 'querystring' || route.httpPart === 'headers';
  return sharedValidator(coerce).compile(route.schema as AnySchema);
}

const DATA_VAR_ROOTS: Record<string, ErrorRoot> = {
  body: 'body',
  params: 'path',
  querystring: 'query',
  headers: 'header',
};

/**
 * For Fastify's `schemaErrorFormatter` option. Fastify gives the error a 400 statusCode unless it already
 * has one, so the 422 of the contract is set here too (AtelierError itself carries it as `status`).
 */
export function fastifySchemaErrorFormatter(errors: readonly SchemaError[], dataVar: string): ValidationError {
  const error = toValidationError(errors, DATA_VAR_ROOTS[dataVar] ?? 'body');
  return Object.assign(error, { statusCode: error.status });
}

// ---------------------------------------------------------------------------------------------------------
// Errors to the contract's shape

export function toValidationError(
  errors: readonly SchemaError[],
  root: ErrorRoot,
  prefix: readonly string[] = [],
): ValidationError {
  const described = dedupe(dropRedundant(collapseAnyOf(errors)).map((e) => describeError(e, [root, ...prefix])));
  const first = described[0];
  const message = first ? `${dottedPath(first.issue.loc)}: ${first.summary}` : `${root}: invalid request`;
  return new ValidationError(message, { errors: described.map((d) => d.issue) });
}

/** JSON Pointer (`/operations/resizing/fit`) to path segments. */
export function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Path segments of the value an error is about: a missing or unknown property is named by its own path. */
export function errorPath(error: SchemaError): string[] {
  const path = pointerSegments(error.instancePath);
  if (error.keyword === 'required' && typeof error.params.missingProperty === 'string') {
    return [...path, error.params.missingProperty];
  }
  if (error.keyword === 'additionalProperties' && typeof error.params.additionalProperty === 'string') {
    return [...path, error.params.additionalProperty];
  }
  return path;
}

/**
 * How a message names a location: the body root is implied (`operations.resizing.fit`), other roots are
 * spelled out (`data.operations...` for the upload form field, `task_id` for a path parameter).
 */
export function dottedPath(loc: readonly string[]): string {
  const [root, ...rest] = loc;
  if (rest.length === 0) return root ?? '';
  return root === 'data' ? loc.join('.') : rest.join('.');
}

function dedupe(described: DescribedIssue[]): DescribedIssue[] {
  const seen = new Set<string>();
  return described.filter(({ issue }) => {
    const key = JSON.stringify([issue.loc, issue.type, issue.msg]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function schemaParent(error: SchemaError): string {
  return error.schemaPath.slice(0, error.schemaPath.lastIndexOf('/'));
}

/** Keywords whose failure makes another failure of the same value and schema redundant. */
const OUTRANKS: Record<string, readonly string[]> = {
  // `{ type: 'string', enum: [...] }` fails twice for a number; the enumeration alone says what would do.
  enum: ['type'],
  const: ['type'],
  // An empty or overlong URI is first of all the wrong length; its syntax is not worth a second error.
  minLength: ['format'],
  maxLength: ['format'],
};

/** Drops errors that another error about the same value, from the same schema, already explains. */
export function dropRedundant(errors: readonly SchemaError[]): SchemaError[] {
  const key = (e: SchemaError, keyword: string) => `${e.instancePath} ${schemaParent(e)} ${keyword}`;
  const outranked = new Set(
    errors.flatMap((e) => (OUTRANKS[e.keyword] ?? []).map((keyword) => key(e, keyword))),
  );
  return errors.filter((e) => !outranked.has(key(e, e.keyword)));
}

// ---------------------------------------------------------------------------------------------------------
// anyOf collapsing

function isUnder(error: SchemaError, group: SchemaError): boolean {
  const instance = group.instancePath;
  return (
    error.schemaPath.startsWith(`${group.schemaPath}/`) &&
    (error.instancePath === instance || error.instancePath.startsWith(`${instance}/`))
  );
}

/**
 * Replaces each failed `anyOf` and the errors of its alternatives by the errors that explain the failure
 * best (see `resolveAnyOf`). Nested `anyOf`s inside the chosen alternative are collapsed in turn.
 */
export function collapseAnyOf(errors: readonly SchemaError[]): SchemaError[] {
  const groups = errors.filter((e) => e.keyword === 'anyOf');
  const outermost = groups.filter((g) => !groups.some((other) => other !== g && isUnder(g, other)));
  const result: SchemaError[] = [];
  for (const error of errors) {
    const group = outermost.find((g) => g === error);
    if (group) {
      result.push(...resolveAnyOf(group, errors.filter((e) => isUnder(e, group))));
    } else if (!outermost.some((g) => isUnder(error, g))) {
      result.push(error);
    }
  }
  return result;
}

/**
 * Why an alternative rejected the value:
 * - `type`: the value has another JSON type (a string where an object was expected);
 * - `value`: right type, but not one of the alternative's enumerated values;
 * - `tag`: an object whose `type` tag is missing or names another alternative;
 * - `content`: the alternative fits the value's kind, something inside it is wrong.
 */
export type BranchFailure = 'type' | 'value' | 'tag' | 'content';

export function classifyBranch(branchErrors: readonly SchemaError[], instancePath: string): BranchFailure {
  const at = (e: SchemaError) => e.instancePath === instancePath;
  if (branchErrors.some((e) => at(e) && e.keyword === 'type')) return 'type';
  if (branchErrors.some((e) => at(e) && (e.keyword === 'enum' || e.keyword === 'const'))) return 'value';
  const tagPath = `${instancePath}/type`;
  const tagWrong = branchErrors.some(
    (e) =>
      (e.instancePath === tagPath && ['enum', 'const', 'type'].includes(e.keyword)) ||
      (at(e) && e.keyword === 'required' && e.params.missingProperty === 'type'),
  );
  return tagWrong ? 'tag' : 'content';
}

interface Branch {
  index: number;
  errors: SchemaError[];
  failure: BranchFailure;
}

function splitBranches(group: SchemaError, members: readonly SchemaError[]): Branch[] {
  const byIndex = new Map<number, SchemaError[]>();
  const prefix = `${group.schemaPath}/`;
  for (const error of members) {
    const index = Number.parseInt(error.schemaPath.slice(prefix.length), 10);
    if (!Number.isInteger(index)) continue;
    const list = byIndex.get(index) ?? [];
    list.push(error);
    byIndex.set(index, list);
  }
  return [...byIndex.entries()]
    .sort(([a], [b]) => a - b)
    .map(([index, errors]) => ({ index, errors, failure: classifyBranch(errors, group.instancePath) }));
}

/** Depth of the deepest location an alternative complains about: deeper means more of the value matched. */
function reach(branch: Branch): number {
  return Math.max(...branch.errors.filter((e) => e.keyword !== 'anyOf').map((e) => errorPath(e).length), 0);
}

/** Among alternatives that all fit the value's kind, the one that got furthest, then the one with fewest errors. */
export function closestBranch<B extends Branch>(branches: readonly B[]): B | undefined {
  return [...branches].sort(
    (a, b) => reach(b) - reach(a) || a.errors.length - b.errors.length || a.index - b.index,
  )[0];
}

function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}

function allowedValues(error: SchemaError): unknown[] {
  if (error.keyword === 'const') return [error.params.allowedValue];
  return Array.isArray(error.params.allowedValues) ? error.params.allowedValues : [];
}

function typeNames(error: SchemaError): string[] {
  const t = error.params.type;
  if (Array.isArray(t)) return t.map(String);
  return typeof t === 'string' ? t.split(',') : [];
}

/** The errors that stand for a failed `anyOf`. */
export function resolveAnyOf(group: SchemaError, members: readonly SchemaError[]): SchemaError[] {
  const branches = splitBranches(group, members);
  const base = group.instancePath;

  const fitting = branches.filter((b) => b.failure === 'content');
  const chosen = closestBranch(fitting);
  if (chosen) return collapseAnyOf(chosen.errors);

  // A string none of whose enumerations lists it: name every value any alternative would have taken.
  const valueMisses = branches.filter((b) => b.failure === 'value');
  if (valueMisses.length > 0) {
    const values = unique(
      valueMisses.flatMap((b) =>
        b.errors.filter((e) => e.instancePath === base && (e.keyword === 'enum' || e.keyword === 'const')),
      ).flatMap(allowedValues),
    );
    return [{ keyword: 'enum', instancePath: base, schemaPath: group.schemaPath, params: { allowedValues: values } }];
  }

  // An object whose `type` tag selects no alternative: report the tag.
  const tagMisses = branches.filter((b) => b.failure === 'tag');
  if (tagMisses.length === 1 && tagMisses[0]) return collapseAnyOf(tagMisses[0].errors);
  if (tagMisses.length > 1) {
    const tagPath = `${base}/type`;
    const missing = tagMisses
      .flatMap((b) => b.errors)
      .find((e) => e.instancePath === base && e.keyword === 'required' && e.params.missingProperty === 'type');
    if (missing) return [missing];
    const tagErrors = tagMisses.flatMap((b) => b.errors).filter((e) => e.instancePath === tagPath);
    const wrongType = tagErrors.find((e) => e.keyword === 'type');
    const values = unique(tagErrors.flatMap(allowedValues));
    if (values.length > 0) {
      return [{ keyword: 'enum', instancePath: tagPath, schemaPath: group.schemaPath, params: { allowedValues: values } }];
    }
    if (wrongType) return [wrongType];
  }

  // Wrong JSON type for every alternative: list the types that would do.
  const types = unique(
    branches.flatMap((b) => b.errors.filter((e) => e.instancePath === base && e.keyword === 'type')).flatMap(typeNames),
  );
  if (types.length > 0) {
    return [{ keyword: 'type', instancePath: base, schemaPath: group.schemaPath, params: { type: types } }];
  }
  return [group];
}

// ---------------------------------------------------------------------------------------------------------
// Wording

const TYPE_WORDS: Record<string, string> = {
  integer: 'integer',
  number: 'number',
  string: 'string',
  boolean: 'boolean',
  object: 'object',
  array: 'array',
  null: 'null',
};

function orList(words: readonly string[]): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}

function quoted(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export interface DescribedIssue {
  issue: ValidationIssue;
  /** Short phrase for the top-level message, after the dotted path (`must be one of crop, cover`). */
  summary: string;
}

interface Wording {
  type: string;
  msg: string;
  summary: string;
  ctx?: Record<string, unknown>;
}

/** Translates one (already collapsed) Ajv error into a contract error item. */
export function describeError(error: SchemaError, rootLoc: readonly string[]): DescribedIssue {
  const { type, msg, summary, ctx } = wording(error);
  const issue: ValidationIssue = { loc: [...rootLoc, ...errorPath(error)], msg, type };
  if (ctx) issue.ctx = ctx;
  return { issue, summary };
}

function wording(error: SchemaError): Wording {
  const p = error.params;
  switch (error.keyword) {
    case 'required':
      return { type: 'missing', msg: 'Field required', summary: 'is required' };
    case 'additionalProperties':
      return { type: 'extra_forbidden', msg: 'Extra inputs are not permitted', summary: 'is not allowed' };
    case 'type': {
      const names = typeNames(error).map((t) => TYPE_WORDS[t] ?? t);
      return {
        type: 'type',
        msg: `Input should be a valid ${orList(names)}`,
        summary: `must be ${orList(names)}`,
        ctx: { expected: names },
      };
    }
    case 'enum':
    case 'const': {
      const values = allowedValues(error);
      return {
        type: 'enum',
        msg: `Input should be ${orList(values.map(quoted))}`,
        summary: values.length === 1 ? `must be ${String(values[0])}` : `must be one of ${values.join(', ')}`,
        ctx: { expected: values },
      };
    }
    case 'minimum':
      return {
        type: 'greater_than_equal',
        msg: `Input should be greater than or equal to ${p.limit}`,
        summary: `must be >= ${p.limit}`,
        ctx: { ge: p.limit },
      };
    case 'maximum':
      return {
        type: 'less_than_equal',
        msg: `Input should be less than or equal to ${p.limit}`,
        summary: `must be <= ${p.limit}`,
        ctx: { le: p.limit },
      };
    case 'exclusiveMinimum':
      return {
        type: 'greater_than',
        msg: `Input should be greater than ${p.limit}`,
        summary: `must be > ${p.limit}`,
        ctx: { gt: p.limit },
      };
    case 'exclusiveMaximum':
      return {
        type: 'less_than',
        msg: `Input should be less than ${p.limit}`,
        summary: `must be < ${p.limit}`,
        ctx: { lt: p.limit },
      };
    case 'minLength':
      return {
        type: 'too_short',
        msg: `String should have at least ${plural(p.limit, 'character')}`,
        summary: `must have at least ${plural(p.limit, 'character')}`,
        ctx: { min_length: p.limit },
      };
    case 'maxLength':
      return {
        type: 'too_long',
        msg: `String should have at most ${plural(p.limit, 'character')}`,
        summary: `must have at most ${plural(p.limit, 'character')}`,
        ctx: { max_length: p.limit },
      };
    case 'minItems':
      return {
        type: 'too_short',
        msg: `List should have at least ${plural(p.limit, 'item')}`,
        summary: `must have at least ${plural(p.limit, 'item')}`,
        ctx: { min_length: p.limit },
      };
    case 'maxItems':
      return {
        type: 'too_long',
        msg: `List should have at most ${plural(p.limit, 'item')}`,
        summary: `must have at most ${plural(p.limit, 'item')}`,
        ctx: { max_length: p.limit },
      };
    case 'pattern':
      return {
        type: 'pattern_mismatch',
        msg: `String should match pattern '${p.pattern}'`,
        summary: `must match pattern ${p.pattern}`,
        ctx: { pattern: p.pattern },
      };
    case 'format': {
      const what = p.format === 'uri' ? 'URI' : String(p.format);
      return {
        type: 'format',
        msg: `Input should be a valid ${what}`,
        summary: `must be a valid ${what}`,
        ctx: { format: p.format },
      };
    }
    case 'anyOf':
      return { type: 'union', msg: 'Input does not match any allowed form', summary: 'has an unsupported form' };
    default: {
      const text = error.message ?? `failed ${error.keyword} check`;
      return { type: error.keyword, msg: text.charAt(0).toUpperCase() + text.slice(1), summary: text };
    }
  }
}

