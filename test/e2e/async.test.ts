// End to end: async edit tasks through their whole life, including a crash of the server mid-task.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { startServer, type RunningServer } from '../support/server.js';
import { startImageServer, type ImageServer } from '../support/image-server.js';
import { createKey } from '../support/cli.js';
import { photo } from '../support/images.js';

let origin: ImageServer;
const noLimits = { ATELIER_RATE_LIMIT_PER_MINUTE: '0', ATELIER_RATE_LIMIT_PER_SECOND: '0' };

before(async () => {
  origin = await startImageServer();
  origin.file('/photo.jpg', photo('starry_night.jpg'), 'image/jpeg');
  origin.file('/broken.jpg', Buffer.from('nope'), 'image/jpeg');
});

after(async () => {
  await origin?.close();
});

async function waitFor(api: RunningServer, id: number, statuses: string[], timeoutMs = 20_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api.json(`/v1/image/edit/async/${id}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    if (statuses.includes(res.body.data.status)) return res.body.data;
    if (Date.now() > deadline) throw new Error(`task ${id} still ${res.body.data.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('async image edit', () => {
  let api: RunningServer;
  before(async () => {
    api = await startServer({ env: noLimits });
  });
  after(async () => {
    await api?.dispose();
  });

  test('ACCEPTED answer, then DONE with input_object and output_object', async () => {
    const request = { input: `${origin.url}/photo.jpg`, operations: { resizing: { width: 200, height: 200, fit: 'crop' } } };
    const res = await api.json('/v1/image/edit/async', request);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const accepted = res.body.data;
    assert.equal(accepted.status, 'ACCEPTED');
    assert.equal(typeof accepted.id, 'number');
    assert.equal(accepted.result_url, `${api.url}/v1/image/edit/async/${accepted.id}`);
    assert.match(accepted.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00$/);
    assert.deepEqual(accepted.request, request);

    const done = await waitFor(api, accepted.id, ['DONE', 'ERROR']);
    assert.equal(done.status, 'DONE', JSON.stringify(done));
    assert.deepEqual(done.errors, []);
    assert.deepEqual(done.request, request);
    assert.equal(done.result.input_object.width, 752);
    assert.equal(done.result.output_object.width, 200);
    assert.equal(done.result.output_object.height, 200);
    const file = Buffer.from(await (await fetch(done.result.output_object.tmp_url)).arrayBuffer());
    const meta = await sharp(file).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 200, 200]);
  });

  test('a bad input ends ERROR with errors[] and an empty result', async () => {
    const res = await api.json('/v1/image/edit/async', { input: `${origin.url}/broken.jpg`, operations: {} });
    assert.equal(res.status, 200);
    const data = await waitFor(api, res.body.data.id, ['DONE', 'ERROR']);
    assert.equal(data.status, 'ERROR');
    assert.equal(data.errors.length, 1);
    assert.equal(typeof data.errors[0].error, 'string');
    assert.ok(data.errors[0].created_at);
    assert.deepEqual(data.result, {});
  });

  test('invalid requests are refused at submission with 422', async () => {
    const res = await api.json('/v1/image/edit/async', { input: `${origin.url}/photo.jpg`, operations: { resizing: { width: 'wide' } } });
    assert.equal(res.status, 422);
    assert.equal(res.body.error_type, 'validation');
  });

  test('unknown ids, ids of other keys and non-integer ids answer in the error shape', async () => {
    let res = await api.json('/v1/image/edit/async/987654');
    assert.equal(res.status, 404);
    assert.equal(typeof res.body.error_message, 'string');
    const submitted = await api.json('/v1/image/edit/async', { input: `${origin.url}/photo.jpg`, operations: {} });
    const other = await createKey(api.dataDir, 'image_editing');
    res = await api.json(`/v1/image/edit/async/${submitted.body.data.id}`, undefined, { key: other.token });
    assert.equal(res.status, 404);
    res = await api.json('/v1/image/edit/async/abc');
    assert.equal(res.status, 422);
    assert.equal(res.body.error_type, 'validation');
  });
});

describe('restart', () => {
  test('tasks cut off by a crash are picked up after restart and finish once', async () => {
    // The origin holds its answer until released, so tasks are surely PROCESSING when the server is killed.
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const body = photo('home.jpg');
    origin.route('/slow.jpg', (_req, res) => {
      void gate.then(() => {
        res.writeHead(200, { 'content-type': 'image/jpeg' });
        res.end(body);
      });
    });
    const first = await startServer({ env: { ...noLimits, ATELIER_WORKERS: '2' } });
    const ids: number[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const res = await first.json('/v1/image/edit/async', {
          input: `${origin.url}/slow.jpg`,
          operations: { resizing: { width: 100 + i } },
        });
        ids.push(res.body.data.id);
      }
      await waitFor(first, ids[0]!, ['PROCESSING']);
      await first.stop('SIGKILL');
    } catch (err) {
      await first.dispose();
      throw err;
    }
    release();
    const second = await startServer({ dataDir: first.dataDir, env: noLimits });
    try {
      for (const [i, id] of ids.entries()) {
        const data = await waitFor(second, id, ['DONE', 'ERROR']);
        assert.equal(data.status, 'DONE', JSON.stringify(data));
        assert.equal(data.result.output_object.width, 100 + i);
      }
    } finally {
      await second.dispose();
    }
  });
});
