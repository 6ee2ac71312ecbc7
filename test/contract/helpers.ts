// Shared helpers for the contract tests: run a compiled validator and get the contract error back.
import assert from 'node:assert/strict';
import { ValidationError } from '../../src/errors.js';
import type { ValidationIssue } from '../../src/contract/validation.js';

/** The ValidationError a validator throws for `value`; fails the test when the value is accepted. */
export function rejection(validate: (value: unknown) => unknown, value: unknown): ValidationError {
  try {
    validate(value);
  } catch (err) {
    assert.ok(err instanceof ValidationError, `expected a ValidationError, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${JSON.stringify(value).slice(0, 200)} to be rejected`);
}

export function issuesOf(error: ValidationError): ValidationIssue[] {
  const errors = error.details.errors;
  assert.ok(Array.isArray(errors), 'error_details.errors must be a list');
  return errors as ValidationIssue[];
}

/** Asserts the value is rejected with exactly one issue, at `loc`, of `type`; returns that issue. */
export function expectSingleIssue(
  validate: (value: unknown) => unknown,
  value: unknown,
  loc: readonly string[],
  type: string,
): ValidationIssue {
  const issues = issuesOf(rejection(validate, value));
  assert.equal(issues.length, 1, `expected one issue, got ${JSON.stringify(issues)}`);
  const [issue] = issues;
  assert.ok(issue);
  assert.deepEqual(issue.loc, loc);
  assert.equal(issue.type, type, `issue: ${JSON.stringify(issue)}`);
  return issue;
}

/** Returns a deep copy of `base` with `value` set at `path` (creating objects on the way). */
export function withValue(base: object, path: readonly string[], value: unknown): Record<string, unknown> {
  const copy = structuredClone(base) as Record<string, unknown>;
  let node: Record<string, unknown> = copy;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = path[path.length - 1];
  assert.ok(last !== undefined);
  node[last] = value;
  return copy;
}
