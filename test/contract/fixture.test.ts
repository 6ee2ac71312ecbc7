import assert from 'node:assert/strict';
import { test } from 'node:test';
import { constraintsOnly, contractSchemas, publishedSchemas } from '../support/contract.js';

test('the contract fixture holds exactly the published schemas minus their prose', (t) => {
  const published = publishedSchemas();
  if (!published) {
    t.skip('the published document (../shared/api-reference) is not in this checkout');
    return;
  }
  assert.deepEqual(contractSchemas(), published, 'run `npm run contract:fixture` to refresh the fixture');
});

test('only prose keywords are dropped, and field names are kept even when they are called "title"', () => {
  const schema = {
    title: 'T',
    description: 'd',
    type: 'object',
    required: ['title'],
    properties: { title: { type: 'string', description: 'x', maxLength: 5 }, examples: { type: 'array', examples: [[1]] } },
  };
  assert.deepEqual(constraintsOnly(schema), {
    type: 'object',
    required: ['title'],
    properties: { title: { type: 'string', maxLength: 5 }, examples: { type: 'array' } },
  });
});
