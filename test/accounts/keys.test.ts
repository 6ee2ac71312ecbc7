import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase } from '../../src/db/sqlite.js';
import { ENV_KEY_ID, KeyStore, SCOPES } from '../../src/accounts/keys.js';
import { costOfEdit } from '../../src/accounts/credits.js';

test('a created key authenticates by its token, and only its digest is stored', () => {
  const db = openDatabase(':memory:');
  const keys = new KeyStore(db);
  const { key, token } = keys.create('ci', ['image_editing']);
  assert.match(token, /^atl_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(keys.authenticate(token)?.scopes, ['image_editing']);
  assert.equal(keys.authenticate(token + 'x'), undefined);
  const stored = JSON.stringify(db.prepare('SELECT * FROM api_keys').all());
  assert.ok(!stored.includes(token.split('_')[2]!), 'the secret part of the token is not in the table');
  assert.equal(keys.get(key.id)?.name, 'ci');
});

test('a revoked key no longer authenticates', () => {
  const keys = new KeyStore(openDatabase(':memory:'));
  const { key, token } = keys.create('tmp', ['storage']);
  assert.equal(keys.revoke(key.id), true);
  assert.equal(keys.revoke(key.id), false);
  assert.equal(keys.authenticate(token), undefined);
  assert.equal(keys.count(), 0);
});

test('the environment key has every scope and unlimited credits', () => {
  const keys = new KeyStore(openDatabase(':memory:'), 'env-secret-token');
  const k = keys.authenticate('env-secret-token');
  assert.equal(k?.id, ENV_KEY_ID);
  assert.deepEqual(k?.scopes, [...SCOPES]);
  assert.equal(keys.reserveCredits(ENV_KEY_ID, 1000), true);
  assert.equal(keys.authenticate('env-secret-tokem'), undefined);
});

test('credits are reserved atomically and never go below zero', () => {
  const keys = new KeyStore(openDatabase(':memory:'));
  const { key } = keys.create('paid', ['image_editing'], 3);
  assert.equal(keys.reserveCredits(key.id, 2), true);
  assert.equal(keys.reserveCredits(key.id, 2), false, 'only 1 left');
  assert.equal(keys.get(key.id)?.credits, 1);
  keys.refundCredits(key.id, 2);
  assert.equal(keys.get(key.id)?.credits, 3);
  const { key: free } = keys.create('free', ['image_editing'], null);
  assert.equal(keys.reserveCredits(free.id, 10_000), true);
  assert.equal(keys.get(free.id)?.credits, null);
});

test('edit cost: one credit base, more per model-based operation', () => {
  assert.equal(costOfEdit({}), 1);
  assert.equal(costOfEdit({ resizing: { width: 100 }, adjustments: { hdr: 50 } }), 1);
  assert.equal(costOfEdit({ background: { remove: false, blur: false } }), 1);
  assert.equal(costOfEdit({ background: { remove: true } }), 2);
  assert.equal(costOfEdit({ background: { remove: { clipping: true } }, restorations: { upscale: 'photo' } }), 3);
  assert.equal(costOfEdit({ resizing: { fit: { type: 'outpaint' } } }), 3);
});
