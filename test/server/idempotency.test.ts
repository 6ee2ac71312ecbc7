// Idempotency-Key: the SQLite store's decisions, and the Fastify hooks on a small app with real authentication.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import multipart from '@fastify/multipart';
import { openDatabase, type Db } from '../../src/db/sqlite.js';
import { KeyStore } from '../../src/accounts/keys.js';
import { RateLimiter } from '../../src/accounts/rate-limiter.js';
import { AtelierError } from '../../src/errors.js';
import { installAuth } from '../../src/server/auth.js';
import { installErrorHandling } from '../../src/server/errors.js';
import {
  beginIdempotent,
  fingerprintOf,
  installIdempotency,
  isReplayableStatus,
  parseIdempotencyKey,
} from '../../src/server/idempotency.js';
import { SqliteIdempotencyStore } from '../../src/server/idempotency-store.js';

const T0 = 1_800_000_000_000;
const HOUR = 3600 * 1000;

function storeFixture(t: TestContext, options: { exclusive?: boolean; instanceId?: string } = {}) {
  const db = openDatabase(':memory:');
  t.after(() => db.close());
  let now = T0;
  const store = new SqliteIdempotencyStore(db, { clock: () => now, lockMs: 60_000, ...options });
  return { db, store, advance: (ms: number) => void (now += ms) };
}

const answer = (text: string, status = 200) => ({
  status,
  headers: { 'content-type': 'application/json; charset=utf-8' },
  body: Buffer.from(text),
});
const req = (fingerprint = 'f1', endpoint = 'POST /v1/image/edit/async') => ({ owner: 'key-a', key: 'k-1', endpoint, fingerprint });

test('store: first use starts, the answer is replayed byte for byte, other bodies and endpoints are refused', async (t) => {
  const { store } = storeFixture(t);
  const first = await store.begin(req());
  assert.equal(first.kind, 'started');
  assert.ok(first.kind === 'started');
  assert.deepEqual(await store.begin(req()), { kind: 'in-progress' });
  assert.equal(await store.complete('key-a', 'k-1', first.token, answer('{"data":{"id":7}}')), true);

  const replay = await store.begin(req());
  assert.ok(replay.kind === 'replay');
  assert.equal(replay.answer.status, 200);
  assert.deepEqual(replay.answer.headers, { 'content-type': 'application/json; charset=utf-8' });
  assert.equal(replay.answer.body.toString(), '{"data":{"id":7}}');
  assert.equal(replay.createdAt, T0);

  assert.deepEqual(await store.begin(req('f2')), { kind: 'mismatch', what: 'body', endpoint: 'POST /v1/image/edit/async' });
  assert.deepEqual(await store.begin(req('f1', 'POST /v1/image/edit')), {
    kind: 'mismatch',
    what: 'endpoint',
    endpoint: 'POST /v1/image/edit/async',
  });
  // Keys are scoped per API key: another key's identical string is a different key.
  assert.equal((await store.begin({ ...req('f2'), owner: 'key-b' })).kind, 'started');
});

test('store: a released key runs again; a stale token can neither complete nor release', async (t) => {
  const { store } = storeFixture(t);
  const first = await store.begin(req());
  assert.ok(first.kind === 'started');
  await store.release('key-a', 'k-1', first.token);
  const second = await store.begin(req('another body is fine after a release'));
  assert.ok(second.kind === 'started');
  assert.equal(await store.complete('key-a', 'k-1', first.token, answer('stale')), false);
  await store.release('key-a', 'k-1', first.token);
  assert.deepEqual(await store.begin(req('another body is fine after a release')), { kind: 'in-progress' });
});

test('store: answers expire after the time to live; the sweep deletes them', async (t) => {
  const { store, db, advance } = storeFixture(t);
  const first = await store.begin(req());
  assert.ok(first.kind === 'started');
  await store.complete('key-a', 'k-1', first.token, answer('{}'));
  const other = await store.begin({ ...req(), key: 'k-2' });
  assert.ok(other.kind === 'started');
  await store.complete('key-a', 'k-2', other.token, answer('{}'));

  advance(24 * HOUR - 1);
  assert.equal((await store.begin(req())).kind, 'replay');
  assert.equal(await store.sweep(), 0);
  advance(1);
  // Expired: the key is free again, even for another body.
  assert.equal((await store.begin(req('new'))).kind, 'started');
  assert.equal(await store.sweep(), 1, 'k-2 swept; k-1 was just started anew');
  assert.deepEqual(
    (db.prepare('SELECT key FROM idempotency_keys').all() as { key: string }[]).map((r) => r.key),
    ['k-1'],
  );
});

test('store: an abandoned in-flight key is taken over after its lock runs out, or at once from a dead process', async (t) => {
  const { store, db, advance } = storeFixture(t, { exclusive: false, instanceId: 'p1' });
  const first = await store.begin(req());
  assert.ok(first.kind === 'started');
  advance(59_999);
  assert.equal((await store.begin(req())).kind, 'in-progress');
  advance(1);
  const taken = await store.begin(req());
  assert.ok(taken.kind === 'started');
  assert.equal(await store.complete('key-a', 'k-1', first.token, answer('late')), false, 'the first holder is fenced off');

  // Embedded mode: a lock held under another process id belongs to a process that no longer runs.
  const restarted = new SqliteIdempotencyStore(db, { clock: () => T0 + 60_000, exclusive: true, instanceId: 'p2' });
  const resumed = await restarted.begin(req());
  assert.ok(resumed.kind === 'started');
  assert.equal(await restarted.complete('key-a', 'k-1', resumed.token, answer('{"ok":true}')), true);
  assert.equal((await store.begin(req())).kind, 'replay');
});

test('key format, replayable statuses and the multipart fingerprint', () => {
  assert.equal(parseIdempotencyKey(undefined), undefined);
  assert.equal(parseIdempotencyKey('a'), 'a');
  assert.equal(parseIdempotencyKey('x'.repeat(255)), 'x'.repeat(255));
  assert.equal(parseIdempotencyKey('order 42/retry ~!'), 'order 42/retry ~!');
  for (const bad of ['', 'x'.repeat(256), 'caf\u00e9', 'tab\there', ['a', 'b']]) {
    assert.throws(
      () => parseIdempotencyKey(bad),
      (err: unknown) => err instanceof AtelierError && err.status === 422 && err.code === 'invalid_idempotency_key',
    );
  }
  for (const s of [200, 201, 204, 400, 404, 413, 415, 422]) assert.equal(isReplayableStatus(s), true, String(s));
  for (const s of [402, 408, 409, 425, 429, 500, 502, 503]) assert.equal(isReplayableStatus(s), false, String(s));
  // Length prefixes keep part boundaries: moving a byte from one part to the next changes the digest.
  assert.notEqual(fingerprintOf('ab', 'c'), fingerprintOf('a', 'bc'));
  assert.equal(fingerprintOf('a', Buffer.from('bc')), fingerprintOf('a', 'bc'));
  assert.match(fingerprintOf(), /^[0-9a-f]{64}$/);
});

const TOKEN = 'atl_test_key_for_idempotency_tests_0123456789';

interface Harness {
  app: FastifyInstance;
  db: Db;
  keys: KeyStore;
  runs: { work: number; failing: number; busy: number; upload: number };
  /** Holds /work answers until called. */
  gate: { hold: boolean; release: () => void };
  post(url: string, body: unknown, headers?: Record<string, string>): Promise<LightMyRequestResponse>;
}

async function harness(t: TestContext): Promise<Harness> {
  const db = openDatabase(':memory:');
  const keys = new KeyStore(db, TOKEN);
  const app = Fastify({ logger: false });
  installErrorHandling(app);
  installAuth(app, keys, new RateLimiter([]));
  installIdempotency(app, new SqliteIdempotencyStore(db));
  await app.register(multipart);
  t.after(async () => {
    await app.close();
    db.close();
  });
  const runs = { work: 0, failing: 0, busy: 0, upload: 0 };
  let waiting: (() => void)[] = [];
  const gate = {
    hold: false,
    release() {
      gate.hold = false;
      for (const wake of waiting) wake();
      waiting = [];
    },
  };
  app.post<{ Body: { n: number } }>(
    '/work',
    { config: { scope: 'image_editing', idempotent: true } },
    async (request, reply) => {
      runs.work += 1;
      if (gate.hold) await new Promise<void>((resolve) => waiting.push(resolve));
      if (request.body.n < 0) throw new AtelierError(422, 'validation', 'negative', 'n must not be negative.');
      reply.header('location', `/work/${runs.work}`).header('x-run', String(runs.work));
      return { data: { n: request.body.n, run: runs.work } };
    },
  );
  app.post('/failing', { config: { scope: 'image_editing', idempotent: true } }, async () => {
    runs.failing += 1;
    throw new Error('boom');
  });
  app.post('/busy', { config: { scope: 'image_editing', idempotent: true } }, async () => {
    runs.busy += 1;
    throw new AtelierError(429, 'general', 'server_busy', 'Busy.');
  });
  app.post('/other', { config: { scope: 'image_editing', idempotent: true } }, async () => ({ other: true }));
  app.post('/plain', { config: { scope: 'image_editing' } }, async () => ({ ok: true }));
  app.post('/upload', { config: { scope: 'image_editing', idempotent: 'manual' } }, async (request, reply) => {
    const parts: (string | Buffer)[] = [];
    for await (const part of request.parts()) {
      parts.push(part.type === 'file' ? await part.toBuffer() : String(part.value));
    }
    if (await beginIdempotent(request, reply, fingerprintOf(...parts))) return reply;
    runs.upload += 1;
    return { data: { run: runs.upload, bytes: parts.reduce((sum, p) => sum + p.length, 0) } };
  });
  const post: Harness['post'] = (url, body, headers = {}) =>
    app.inject({
      method: 'POST',
      url,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
      payload: typeof body === 'string' ? body : JSON.stringify(body),
    });
  return { app, db, keys, runs, gate, post };
}

test('plugin: a repeated key replays status, body and body headers without running again', async (t) => {
  const h = await harness(t);
  const first = await h.post('/work', { n: 1 }, { 'idempotency-key': 'abc' });
  assert.equal(first.statusCode, 200);
  assert.equal(first.headers['idempotent-replayed'], undefined);
  const again = await h.post('/work', { n: 1 }, { 'idempotency-key': 'abc' });
  assert.equal(again.statusCode, 200);
  assert.equal(again.body, first.body);
  assert.equal(again.headers['content-type'], first.headers['content-type']);
  assert.equal(again.headers.location, '/work/1');
  assert.equal(again.headers['x-run'], undefined, 'only headers that describe the body are replayed');
  assert.equal(again.headers['idempotent-replayed'], 'true');
  assert.equal(h.runs.work, 1);

  // The fingerprint is the raw body: other bytes for the same JSON are another request.
  const spaced = await h.post('/work', '{ "n": 1 }', { 'idempotency-key': 'abc' });
  assert.equal(spaced.statusCode, 409);
  assert.deepEqual(
    [spaced.json().error_code, spaced.json().error_type],
    ['idempotency_key_reused', 'general'],
  );
  const other = await h.post('/work', { n: 2 }, { 'idempotency-key': 'abc' });
  assert.equal(other.json().error_code, 'idempotency_key_reused');
  // No key, or another key: runs normally.
  assert.equal((await h.post('/work', { n: 1 })).json().data.run, 2);
  assert.equal((await h.post('/work', { n: 1 }, { 'idempotency-key': 'abd' })).json().data.run, 3);
  assert.equal(h.runs.work, 3);
});

test('plugin: keys are per API key, per endpoint, and only on routes that opt in', async (t) => {
  const h = await harness(t);
  const { token } = h.keys.create('second', ['image_editing']);
  assert.equal((await h.post('/work', { n: 1 }, { 'idempotency-key': 'same' })).json().data.run, 1);
  const theirs = await h.post('/work', { n: 1 }, { 'idempotency-key': 'same', authorization: `Bearer ${token}` });
  assert.equal(theirs.json().data.run, 2, 'another API key with the same key string runs its own request');
  const elsewhere = await h.post('/other', { n: 1 }, { 'idempotency-key': 'same' });
  assert.equal(elsewhere.statusCode, 409);
  assert.match(elsewhere.json().error_message, /already used for POST \/work/);
  // A route that does not opt in ignores the header, even a malformed one.
  assert.equal((await h.post('/plain', {}, { 'idempotency-key': 'x'.repeat(300) })).statusCode, 200);
});

test('plugin: a malformed key is a 422 before anything runs', async (t) => {
  const h = await harness(t);
  const res = await h.post('/work', { n: 1 }, { 'idempotency-key': 'x'.repeat(256) });
  assert.equal(res.statusCode, 422);
  const body = res.json();
  assert.deepEqual([body.error_type, body.error_code], ['validation', 'invalid_idempotency_key']);
  assert.deepEqual(body.error_details.errors[0].loc, ['header', 'Idempotency-Key']);
  assert.equal(h.runs.work, 0);
  // Authentication still comes first.
  const anonymous = await h.app.inject({ method: 'POST', url: '/work', headers: { 'idempotency-key': '\u00e9' } });
  assert.equal(anonymous.statusCode, 401);
});

test('plugin: 4xx answers are replayed; 5xx and 429 are not, so a retry runs again', async (t) => {
  const h = await harness(t);
  const invalid = await h.post('/work', { n: -1 }, { 'idempotency-key': 'neg' });
  assert.equal(invalid.statusCode, 422);
  const replayed = await h.post('/work', { n: -1 }, { 'idempotency-key': 'neg' });
  assert.deepEqual([replayed.statusCode, replayed.body], [422, invalid.body]);
  assert.equal(replayed.headers['idempotent-replayed'], 'true');
  assert.equal(h.runs.work, 1);

  for (const path of ['/failing', '/busy'] as const) {
    const a = await h.post(path, {}, { 'idempotency-key': path });
    const b = await h.post(path, {}, { 'idempotency-key': path });
    assert.equal(a.statusCode, path === '/failing' ? 500 : 429);
    assert.equal(b.statusCode, a.statusCode);
    assert.equal(b.headers['idempotent-replayed'], undefined);
  }
  assert.deepEqual([h.runs.failing, h.runs.busy], [2, 2]);

  // A body the schema-less parser refuses never reaches the handler: nothing is recorded either.
  const broken = await h.post('/work', '{"n":', { 'idempotency-key': 'broken' });
  assert.equal(broken.statusCode, 422);
  assert.equal((await h.post('/work', { n: 5 }, { 'idempotency-key': 'broken' })).statusCode, 200);
});

test('plugin: a twin of a running request gets 409 in progress, then the answer once it is recorded', async (t) => {
  const h = await harness(t);
  h.gate.hold = true;
  const first = h.post('/work', { n: 1 }, { 'idempotency-key': 'slow' });
  while (h.runs.work === 0) await new Promise((resolve) => setTimeout(resolve, 2));
  const twin = await h.post('/work', { n: 1 }, { 'idempotency-key': 'slow' });
  assert.equal(twin.statusCode, 409);
  assert.equal(twin.json().error_code, 'idempotency_key_in_progress');
  assert.equal(twin.headers['retry-after'], '1');
  h.gate.release();
  const done = await first;
  assert.equal(done.statusCode, 200);
  const after = await h.post('/work', { n: 1 }, { 'idempotency-key': 'slow' });
  assert.deepEqual([after.body, after.headers['idempotent-replayed']], [done.body, 'true']);
  assert.equal(h.runs.work, 1);
});

test('plugin: multipart routes fingerprint what they parsed, whatever the boundary', async (t) => {
  const h = await harness(t);
  const send = (boundary: string, file: string) =>
    h.app.inject({
      method: 'POST',
      url: '/upload',
      headers: {
        authorization: `Bearer ${TOKEN}`,
        'idempotency-key': 'up-1',
        'content-type': `multipart/form-data; boundary=${boundary}`,
      },
      payload:
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n` +
        `Content-Type: image/png\r\n\r\n${file}\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="data"\r\n\r\n{"operations":{}}\r\n--${boundary}--\r\n`,
    });
  const first = await send('aaaa1111', 'PNGBYTES');
  assert.equal(first.statusCode, 200);
  const retry = await send('bbbb2222', 'PNGBYTES');
  assert.deepEqual([retry.statusCode, retry.body, retry.headers['idempotent-replayed']], [200, first.body, 'true']);
  const changed = await send('cccc3333', 'OTHERPNG');
  assert.equal(changed.statusCode, 409);
  assert.equal(changed.json().error_code, 'idempotency_key_reused');
  assert.equal(h.runs.upload, 1);
});
