import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StorageError } from '../../src/errors.js';
import {
  failureOutcome,
  INTERNAL_ERROR_MESSAGE,
  isoTimestamp,
  normalizeOutcome,
  pipelineError,
} from '../../src/tasks/index.js';

const AT = Date.parse('2026-11-22T10:00:00.123Z');

test('isoTimestamp writes UTC with an explicit +00:00 offset, like the contract examples', () => {
  assert.equal(isoTimestamp(AT), '2026-11-22T10:00:00.123+00:00');
  assert.equal(isoTimestamp(0), '1970-01-01T00:00:00.000+00:00');
  assert.equal(Date.parse(isoTimestamp(AT)), AT);
});

test('pipelineError includes input_object only when given, null included', () => {
  assert.deepEqual(pipelineError('x', undefined, AT), { error: 'x', created_at: '2026-11-22T10:00:00.123+00:00' });
  assert.deepEqual(pipelineError('x', null, AT), { error: 'x', created_at: isoTimestamp(AT), input_object: null });
});

test('failureOutcome shows our own messages and hides everything else', () => {
  assert.deepEqual(failureOutcome(new StorageError('fetch_failed', 'The input could not be fetched.'), AT), {
    status: 'ERROR',
    errors: [{ error: 'The input could not be fetched.', created_at: isoTimestamp(AT) }],
  });
  for (const thrown of [new TypeError('x is undefined at /app/src/a.ts:1'), 'a string', undefined]) {
    assert.deepEqual(failureOutcome(thrown, AT), {
      status: 'ERROR',
      errors: [{ error: INTERNAL_ERROR_MESSAGE, created_at: isoTimestamp(AT) }],
    });
  }
});

test('normalizeOutcome accepts the two outcome shapes and rejects anything else', () => {
  assert.deepEqual(normalizeOutcome({ status: 'DONE', result: { a: 1 } }), { status: 'DONE', result: { a: 1 } });
  assert.deepEqual(normalizeOutcome({ status: 'DONE' }), { status: 'DONE', result: null });
  const errors = [{ error: 'bad', created_at: isoTimestamp(AT) }];
  assert.deepEqual(normalizeOutcome({ status: 'ERROR', errors }), { status: 'ERROR', errors });
  assert.deepEqual(normalizeOutcome({ status: 'ERROR', errors: [] }, AT), {
    status: 'ERROR',
    errors: [{ error: INTERNAL_ERROR_MESSAGE, created_at: isoTimestamp(AT) }],
  });
  for (const value of [undefined, null, 'DONE', { status: 'PROCESSING' }, { status: 'ERROR' }]) {
    assert.equal(normalizeOutcome(value), undefined);
  }
});
