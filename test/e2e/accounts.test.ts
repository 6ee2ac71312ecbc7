// End to end: keys and scopes, rate limits and credits, as a client sees them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from '../support/server.js';
import { startImageServer, type ImageServer } from '../support/image-server.js';
import { cli, createKey } from '../support/cli.js';
import { photo } from '../support/images.js';

let api: RunningServer;
let origin: ImageServer;

before(async () => {
  origin = await startImageServer();
  origin.file('/photo.jpg', photo('home.jpg'), 'image/jpeg');
  api = await startServer();
});

after(async () => {
  await api?.dispose();
  await origin?.close();
});

const editBody = () => ({ input: `${origin.url}/photo.jpg`, operations: { resizing: { width: 64 } } });

describe('authentication and scopes', () => {
  test('no key, a malformed header and an unknown key are 401 in the error shape', async () => {
    for (const headers of [{}, { authorization: 'Basic abc' }, { authorization: 'Bearer nope' }] as Record<string, string>[]) {
      const res = await api.json('/v1/image/edit', editBody(), { key: null, headers });
      assert.equal(res.status, 401);
      assert.equal(res.body.error_type, 'auth');
      assert.ok(res.headers.get('x-request-id'));
    }
  });

  test('a key without the scope is 403; with it, 200; revoked, 401', async () => {
    const storageOnly = await createKey(api.dataDir, 'storage');
    let res = await api.json('/v1/image/edit', editBody(), { key: storageOnly.token });
    assert.equal(res.status, 403);
    assert.equal(res.body.error_type, 'auth');
    assert.match(res.body.error_message, /image_editing/);

    const editor = await createKey(api.dataDir, 'image_editing');
    res = await api.json('/v1/image/edit', editBody(), { key: editor.token });
    assert.equal(res.status, 200, JSON.stringify(res.body));

    const list = await cli(api.dataDir, 'keys', 'list', '--json');
    assert.ok((JSON.parse(list.stdout) as { id: string }[]).some((k) => k.id === editor.id));
    assert.ok(!list.stdout.includes(editor.token), 'tokens are never listed');

    await cli(api.dataDir, 'keys', 'revoke', editor.id);
    res = await api.json('/v1/image/edit', editBody(), { key: editor.token });
    assert.equal(res.status, 401);
  });

  test('the CLI refuses unknown scopes', async () => {
    await assert.rejects(cli(api.dataDir, 'keys', 'create', '--name', 'x', '--scopes', 'root'), /unknown scope/);
  });
});

describe('rate limits', () => {
  test('every authenticated answer has the ratelimit headers; the fifth request in a second is 429', async () => {
    const { token } = await createKey(api.dataDir, 'image_editing');
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => api.json('/v1/image/edit/async/999999', undefined, { key: token })),
    );
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [404, 404, 404, 404, 429, 429]);
    for (const a of answers) {
      assert.equal(a.headers.get('ratelimit-limit'), '120, 120;w=60, 4;w=1');
      assert.match(a.headers.get('ratelimit-remaining') ?? '', /^\d+$/);
      assert.match(a.headers.get('ratelimit-reset') ?? '', /^\d+$/);
    }
    const limited = answers.find((a) => a.status === 429)!;
    assert.equal(limited.body.error_code, 'rate_limit_exceeded');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    await new Promise((r) => setTimeout(r, 1100));
    const again = await api.json('/v1/image/edit/async/999999', undefined, { key: token });
    assert.equal(again.status, 404);
  });
});

describe('credits', () => {
  test('each image costs credits; an exhausted key gets 402 "No API calls left."; failures are free', async () => {
    const { id, token } = await createKey(api.dataDir, 'image_editing', 2);
    const failed = await api.json('/v1/image/edit', { input: `${origin.url}/missing.jpg`, operations: {} }, { key: token });
    assert.equal(failed.status, 422);
    await new Promise((r) => setTimeout(r, 300));
    let res = await api.json('/v1/image/edit', editBody(), { key: token });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await new Promise((r) => setTimeout(r, 300));
    res = await api.json('/v1/image/edit', editBody(), { key: token });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await new Promise((r) => setTimeout(r, 300));
    res = await api.json('/v1/image/edit', editBody(), { key: token });
    assert.equal(res.status, 402);
    assert.equal(res.body.error_message, 'No API calls left.');
    assert.equal(res.body.error_type, 'billing');
    const list = JSON.parse((await cli(api.dataDir, 'keys', 'list', '--json')).stdout) as { id: string; credits: number }[];
    assert.equal(list.find((k) => k.id === id)?.credits, 0);
  });
});
