import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase } from '../../src/db/sqlite.js';
import { KeyStore } from '../../src/accounts/keys.js';
import { resolveAccount } from '../../src/cli/webhooks.js';

test('the CLI picks the only account there is, and otherwise asks for --key-id', () => {
  const keys = new KeyStore(openDatabase(':memory:'));
  assert.throws(() => resolveAccount(keys, false), /No API key exists.*--key-id env/);
  assert.equal(resolveAccount(keys, true), 'env', 'only ATELIER_API_KEY');
  const a = keys.create('a', ['image_editing']).key;
  assert.equal(resolveAccount(keys, false), a.id, 'only one stored key');
  assert.throws(() => resolveAccount(keys, true), new RegExp(`--key-id \\(${a.id}, env\\)`));
  const b = keys.create('b', ['image_editing']).key;
  assert.throws(() => resolveAccount(keys, false), /Several API keys/);
  keys.revoke(a.id);
  assert.equal(resolveAccount(keys, false), b.id, 'revoked keys do not count');
  assert.equal(resolveAccount(keys, true, 'env'), 'env');
  assert.equal(resolveAccount(keys, false, b.id), b.id);
  assert.throws(() => resolveAccount(keys, false, a.id), /revoked/);
  assert.throws(() => resolveAccount(keys, false, 'nope'), /No API key with id nope/);
});
