// End to end: batch edits against the real server. A local storage folder with nested folders (recursive or
// not), URL lists with broken inputs, 200 images, credits per image, cancel, a crash mid-batch that resumes
// without redoing or duplicating anything, and the batch webhook.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { startServer, type RunningServer } from '../support/server.js';
import { startImageServer, type ImageServer } from '../support/image-server.js';
import { cli, createKey } from '../support/cli.js';
import { gradient, photo } from '../support/images.js';

const noLimits = { ATELIER_RATE_LIMIT_PER_MINUTE: '0', ATELIER_RATE_LIMIT_PER_SECOND: '0' };
const MAX_ITEMS = 250;

let origin: ImageServer;
let localRoot: string;
let api: RunningServer;

before(async () => {
  origin = await startImageServer();
  origin.file('/fruits.jpg', photo('fruits.jpg'), 'image/jpeg');
  origin.file('/baboon.jpg', photo('baboon.jpg'), 'image/jpeg');
  origin.file('/broken.jpg', Buffer.from('this is not an image'), 'image/jpeg');
  // Decodes fine, but 400 % of 4200 px is over the 16384 px output limit.
  origin.file('/wide.png', await gradient(4200, 10), 'image/png');
  localRoot = await mkdtemp(join(tmpdir(), 'atelier-e2e-batch-'));
  api = await startServer({
    env: { ...noLimits, ATELIER_LOCAL_STORAGE_ROOT: localRoot, ATELIER_MAX_BATCH_ITEMS: String(MAX_ITEMS), ATELIER_WORKERS: '4' },
  });
  const res = await api.json('/v1/storage/storages', { name: 'disk', type: 'local', parameters: { path: 'studio' } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
});

after(async () => {
  await api?.dispose();
  await origin?.close();
  if (localRoot) await rm(localRoot, { recursive: true, force: true });
});

async function put(path: string, data: Buffer): Promise<void> {
  const file = join(localRoot, path);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, data);
}

async function waitBatch(
  server: RunningServer,
  id: number,
  opts: { statuses?: string[]; timeoutMs?: number; key?: string; until?: (data: any) => boolean } = {},
): Promise<any> {
  const statuses = opts.statuses ?? ['DONE', 'ERROR', 'CANCELLED'];
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    const res = await server.json(`/v1/image/edit/batch/${id}`, undefined, opts.key ? { key: opts.key } : {});
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const data = res.body.data;
    if (opts.until ? opts.until(data) : statuses.includes(data.status)) return data;
    if (Date.now() > deadline) throw new Error(`batch ${id} still ${data.status}: ${JSON.stringify(data).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function submit(server: RunningServer, body: unknown, key?: string): Promise<number> {
  const res = await server.json('/v1/image/edit/batch', body, key ? { key } : {});
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.data.id as number;
}

/** Mean absolute difference per channel value between two images of the same size, compared as RGB. */
async function meanAbsDiff(a: Buffer, b: Buffer): Promise<number> {
  const [ra, rb] = await Promise.all([a, b].map((img) => sharp(img).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true })));
  assert.deepEqual([ra!.info.width, ra!.info.height], [rb!.info.width, rb!.info.height]);
  let sum = 0;
  for (let i = 0; i < ra!.data.length; i++) sum += Math.abs(ra!.data[i]! - rb!.data[i]!);
  return sum / ra!.data.length;
}

async function listFiles(folder: string): Promise<string[]> {
  const entries = await readdir(join(localRoot, folder), { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(join(localRoot, folder).length + 1))
    .sort();
}

async function credits(dataDir: string, id: string): Promise<number | null> {
  const list = JSON.parse((await cli(dataDir, 'keys', 'list', '--json')).stdout) as { id: string; credits: number | null }[];
  return list.find((k) => k.id === id)!.credits;
}

describe('batch over a local storage folder', () => {
  const fruits = photo('fruits.jpg'); // 512×480
  const baboon = photo('baboon.jpg'); // 512×512
  let png: Buffer; // 300×200
  let webp: Buffer; // 200×100

  before(async () => {
    png = await gradient(300, 200, 'png');
    webp = await gradient(200, 100, 'webp');
    await put('studio/shop/a.jpg', fruits);
    await put('studio/shop/a.png', png);
    await put('studio/shop/notes.txt', Buffer.from('not an image: skipped'));
    await put('studio/shop/.DS_Store', Buffer.from('skipped'));
    await put('studio/shop/.thumbnails/a.jpg', fruits); // a hidden folder: skipped
    await put('studio/shop/sub/c.jpg', baboon);
    await put('studio/shop/sub/deeper/d.webp', webp);
  });

  test('recursive false edits the folder\'s own images into the output folder, names kept', async () => {
    const request = { input: 'storage://disk/shop/', operations: { resizing: { width: 100 } }, output: 'storage://disk/flat/' };
    const res = await api.json('/v1/image/edit/batch', request);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const accepted = res.body.data;
    assert.deepEqual(Object.keys(accepted).sort(), ['created_at', 'errors', 'id', 'request', 'result_url', 'results', 'status']);
    assert.equal(accepted.status, 'ACCEPTED');
    assert.equal(accepted.result_url, `${api.url}/v1/image/edit/batch/${accepted.id}`);
    assert.match(accepted.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00$/);
    assert.deepEqual(accepted.request, request);
    assert.deepEqual([accepted.errors, accepted.results], [[], []]);

    const done = await waitBatch(api, accepted.id);
    assert.equal(done.status, 'DONE', JSON.stringify(done));
    assert.deepEqual(done.errors, []);
    assert.equal(done.result_url, accepted.result_url);
    assert.deepEqual(done.request, request);
    assert.deepEqual(
      done.results.map((r: any) => [r.input, r.output_object.claid_storage_uri, r.output_object.width, r.output_object.height]),
      [
        ['storage://disk/shop/a.jpg', 'storage://disk/flat/a.jpg', 100, 94],
        ['storage://disk/shop/a.png', 'storage://disk/flat/a.jpeg', 100, 67],
      ],
    );
    assert.deepEqual(done.results[0].input_object, { ext: 'jpeg', mps: 0.24576, mime: 'image/jpeg', format: 'JPEG', width: 512, height: 480 });
    assert.equal(done.results[1].input_object.format, 'PNG');
    assert.deepEqual(await listFiles('studio/flat'), ['a.jpeg', 'a.jpg']);
    const out = await readFile(join(localRoot, 'studio/flat/a.jpg'));
    assert.deepEqual(Object.values((({ format, width, height }) => ({ format, width, height }))(await sharp(out).metadata())), ['jpeg', 100, 94]);
    const diff = await meanAbsDiff(out, await sharp(fruits).resize(100, 94, { fit: 'fill' }).png().toBuffer());
    // JPEG at quality 85 of a detailed photo: a few levels off on average; another photo would be tens off.
    assert.ok(diff < 8, `a.jpg differs from its input by ${diff} per channel`);
    // And it is what the single-image edit makes of the same file with the same operations.
    await put('studio/single/a.jpg', fruits);
    const single = await api.json('/v1/image/edit', { input: 'storage://disk/single/a.jpg', operations: { resizing: { width: 100 } } });
    assert.equal(single.status, 200, JSON.stringify(single.body));
    const singleOut = Buffer.from(await (await fetch(single.body.data.output.tmp_url)).arrayBuffer());
    const same = await meanAbsDiff(out, singleOut);
    assert.ok(same < 0.5, `batch and single edit outputs differ by ${same} per channel`);
  });

  test('recursive true keeps sub-folders; outputs that would share a file name are told apart', async () => {
    const id = await submit(api, {
      input: { source: 'storage://disk/shop', recursive: true },
      operations: { resizing: { width: 50 } },
      output: { destination: 'storage://disk/tree', format: 'png' },
    });
    const done = await waitBatch(api, id);
    assert.equal(done.status, 'DONE', JSON.stringify(done));
    assert.deepEqual(done.errors, []);
    // Listed in path order; a.jpg and a.png would both be a.png, so the later one is a_2.png.
    assert.deepEqual(
      done.results.map((r: any) => [r.input, r.output_object.claid_storage_uri]),
      [
        ['storage://disk/shop/a.jpg', 'storage://disk/tree/a.png'],
        ['storage://disk/shop/a.png', 'storage://disk/tree/a_2.png'],
        ['storage://disk/shop/sub/c.jpg', 'storage://disk/tree/sub/c.png'],
        ['storage://disk/shop/sub/deeper/d.webp', 'storage://disk/tree/sub/deeper/d.png'],
      ],
    );
    assert.deepEqual(await listFiles('studio/tree'), ['a.png', 'a_2.png', 'sub/c.png', 'sub/deeper/d.png']);
    const sources: [string, Buffer][] = [
      ['a.png', fruits],
      ['a_2.png', png],
      ['sub/c.png', baboon],
      ['sub/deeper/d.png', webp],
    ];
    for (const [i, [file, source]] of sources.entries()) {
      const out = await readFile(join(localRoot, 'studio/tree', file));
      const meta = await sharp(out).metadata();
      assert.equal(meta.format, 'png');
      assert.deepEqual([meta.width, meta.height], [done.results[i].output_object.width, done.results[i].output_object.height]);
      assert.equal(meta.width, 50);
      const expected = await sharp(source).resize(meta.width, meta.height, { fit: 'fill' }).png().toBuffer();
      const diff = await meanAbsDiff(out, expected);
      assert.ok(diff < 4, `${file} differs from its input by ${diff} per channel`);
    }
  });

  test('a folder without images ends ERROR with the reason', async () => {
    await put('studio/empty/readme.txt', Buffer.from('no images here'));
    const id = await submit(api, { input: { source: 'storage://disk/empty/' }, operations: {} });
    const data = await waitBatch(api, id);
    assert.equal(data.status, 'ERROR');
    assert.deepEqual(data.results, []);
    assert.equal(data.errors.length, 1);
    assert.match(data.errors[0].error, /holds no images/);
    assert.equal(data.errors[0].input_object, null);
  });
});

describe('batch over URLs', () => {
  test('one broken URL: DONE, its error listed, the other images fine (tmp URLs)', async () => {
    const id = await submit(api, {
      input: [`${origin.url}/fruits.jpg`, `${origin.url}/broken.jpg`, `${origin.url}/baboon.jpg`],
      operations: { resizing: { width: 64, height: 64, fit: 'crop' } },
    });
    const done = await waitBatch(api, id);
    assert.equal(done.status, 'DONE', JSON.stringify(done));
    assert.equal(done.errors.length, 1);
    const [error] = done.errors;
    assert.ok(error.error.startsWith(`${origin.url}/broken.jpg: `), error.error);
    assert.match(error.error, /not an image/);
    assert.match(error.created_at, /\+00:00$/);
    assert.equal(error.input_object, null, 'nothing could be read from it');
    assert.equal(error.input, `${origin.url}/broken.jpg`);
    assert.deepEqual(done.results.map((r: any) => r.input), [`${origin.url}/fruits.jpg`, `${origin.url}/baboon.jpg`]);
    for (const [i, source] of [photo('fruits.jpg'), photo('baboon.jpg')].entries()) {
      const object = done.results[i].output_object;
      assert.match(object.tmp_url, new RegExp(`^${api.url}/tmp/[^/]+/(fruits|baboon)\\.jpeg$`));
      const file = Buffer.from(await (await fetch(object.tmp_url)).arrayBuffer());
      const meta = await sharp(file).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 64, 64]);
      const expected = await sharp(source).resize(64, 64, { fit: 'cover' }).png().toBuffer();
      const diff = await meanAbsDiff(file, expected);
      assert.ok(diff < 10, `output ${i} differs from its input by ${diff} per channel`);
    }
  });

  test('every image failing ends ERROR with one error per image; a decoded input is described', async () => {
    const id = await submit(api, {
      input: [`${origin.url}/broken.jpg`, `${origin.url}/wide.png`],
      operations: { resizing: { width: '400%' } },
    });
    const data = await waitBatch(api, id);
    assert.equal(data.status, 'ERROR', JSON.stringify(data));
    assert.deepEqual(data.results, []);
    assert.deepEqual(data.errors.map((e: any) => e.input), [`${origin.url}/broken.jpg`, `${origin.url}/wide.png`]);
    assert.equal(data.errors[0].input_object, null);
    assert.deepEqual(data.errors[1].input_object, { ext: 'png', mps: 0.042, mime: 'image/png', format: 'PNG', width: 4200, height: 10 });
  });

  test('the same file name twice gets two tmp URLs, not one overwritten file', async () => {
    const id = await submit(api, {
      input: [`${origin.url}/fruits.jpg`, `${origin.url}/fruits.jpg?second`],
      operations: { resizing: { width: 40 } },
    });
    const done = await waitBatch(api, id);
    assert.equal(done.status, 'DONE');
    const urls = done.results.map((r: any) => r.output_object.tmp_url);
    assert.equal(new Set(urls).size, 2);
    for (const url of urls) assert.equal((await fetch(url)).status, 200);
  });
});

test('images run in parallel up to ATELIER_WORKERS, and an async edit submitted meanwhile is not held back', async () => {
  // Every image of this batch takes 600 ms to download; the origin counts downloads in flight.
  let inFlight = 0;
  let maxInFlight = 0;
  const body = photo('home.jpg');
  for (let i = 0; i < 12; i++) {
    origin.route(`/slow/${i}.jpg`, (_req, res) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      setTimeout(() => {
        inFlight -= 1;
        res.writeHead(200, { 'content-type': 'image/jpeg' }).end(body);
      }, 600);
    });
  }
  const id = await submit(api, {
    input: Array.from({ length: 12 }, (_, i) => `${origin.url}/slow/${i}.jpg`),
    operations: { resizing: { width: 40 } },
  });
  await waitBatch(api, id, { until: () => inFlight > 0 });
  const edit = await api.json('/v1/image/edit/async', { input: `${origin.url}/fruits.jpg`, operations: { resizing: { width: 30 } } });
  assert.equal(edit.status, 200);
  const deadline = Date.now() + 10_000;
  let editData: any;
  for (;;) {
    editData = (await api.json(`/v1/image/edit/async/${edit.body.data.id}`)).body.data;
    if (editData.status === 'DONE' || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.equal(editData.status, 'DONE');
  const batchMeanwhile = (await api.json(`/v1/image/edit/batch/${id}`)).body.data;
  assert.equal(batchMeanwhile.status, 'PROCESSING', 'the edit finished while the batch was still running');
  const done = await waitBatch(api, id);
  assert.equal(done.status, 'DONE');
  assert.equal(done.results.length, 12);
  assert.equal(maxInFlight, 4, 'four images (ATELIER_WORKERS) at once, never more');
});

test('200 images: every output exists with its size and its own pixels, in reasonable time', async () => {
  const count = 200;
  const colour = (i: number) => ({ r: i, g: 255 - i, b: (i * 37) % 256 });
  await Promise.all(
    Array.from({ length: count }, async (_, i) =>
      put(
        `studio/many/img-${String(i).padStart(3, '0')}.png`,
        await sharp({ create: { width: 40, height: 30, channels: 3, background: colour(i) } }).png().toBuffer(),
      ),
    ),
  );
  const started = Date.now();
  const id = await submit(api, {
    input: 'storage://disk/many/',
    operations: { resizing: { width: 20 } },
    output: { destination: 'storage://disk/many-out/', format: 'png' },
  });
  const done = await waitBatch(api, id, { timeoutMs: 90_000 });
  const seconds = (Date.now() - started) / 1000;
  assert.equal(done.status, 'DONE', JSON.stringify(done.errors.slice(0, 3)));
  assert.equal(done.results.length, count);
  assert.deepEqual(done.errors, []);
  assert.ok(seconds < 60, `200 small images took ${seconds} s`);
  const files = await listFiles('studio/many-out');
  assert.equal(files.length, count);
  for (let i = 0; i < count; i++) {
    const name = `img-${String(i).padStart(3, '0')}.png`;
    assert.equal(files[i], name);
    assert.equal(done.results[i].output_object.claid_storage_uri, `storage://disk/many-out/${name}`);
    const { data, info } = await sharp(await readFile(join(localRoot, 'studio/many-out', name)))
      .raw()
      .toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [20, 15]);
    const { r, g, b } = colour(i);
    assert.deepEqual(Array.from(data.subarray(0, 3)), [r, g, b], name);
  }
});

describe('refusals, ownership and credits', () => {
  test('invalid batches are refused at submission with 422', async () => {
    const cases: [unknown, number, string][] = [
      [{ input: Array.from({ length: MAX_ITEMS + 1 }, (_, i) => `${origin.url}/p${i}.jpg`), operations: {} }, 422, 'too_many_batch_items'],
      [{ input: { source: `${origin.url}/folder/` }, operations: {} }, 422, 'unsupported_batch_source'],
      [{ input: { source: 'storage://nowhere/in/' }, operations: {} }, 422, 'storage_not_found'],
      [{ input: ['storage://disk/shop/'], operations: {} }, 422, 'invalid_storage_uri'],
      [{ input: 'storage://disk/shop/', operations: {}, output: 'https://example.com/out/' }, 422, 'unsupported_destination'],
      [{ input: 'storage://disk/shop/', operations: { resizing: { width: 'wide' } } }, 422, 'validation_error'],
      [{ input: [], operations: {} }, 422, 'validation_error'],
    ];
    for (const [body, status, code] of cases) {
      const res = await api.json('/v1/image/edit/batch', body);
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.equal(res.body.error_code, code, JSON.stringify(res.body));
    }
    assert.match(
      (await api.json('/v1/image/edit/batch', cases[0]![0])).body.error_message,
      new RegExp(`${MAX_ITEMS + 1} images; a batch takes at most ${MAX_ITEMS}`),
    );
  });

  test('Idempotency-Key: a retried submission returns the first batch instead of a second one', async () => {
    const body = { input: [`${origin.url}/fruits.jpg`], operations: { resizing: { width: 24 } } };
    const headers = { 'idempotency-key': `batch-${Date.now()}` };
    const first = await api.json('/v1/image/edit/batch', body, { headers });
    const again = await api.json('/v1/image/edit/batch', body, { headers });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(again.status, 200);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.equal(again.body.data.id, first.body.data.id);
    const other = await api.json('/v1/image/edit/batch', { ...body, operations: {} }, { headers });
    assert.equal(other.status, 409);
    await waitBatch(api, first.body.data.id);
  });

  test('another key\'s batch, an edit task and unknown ids answer 404', async () => {
    const id = await submit(api, { input: [`${origin.url}/fruits.jpg`], operations: {} });
    const other = await createKey(api.dataDir, 'image_editing');
    let res = await api.json(`/v1/image/edit/batch/${id}`, undefined, { key: other.token });
    assert.equal(res.status, 404);
    assert.equal(res.body.error_message, 'Batch image edit pipeline not found.');
    res = await api.json(`/v1/image/edit/async/${id}`);
    assert.equal(res.status, 404, 'a batch is not an async edit');
    const edit = await api.json('/v1/image/edit/async', { input: `${origin.url}/fruits.jpg`, operations: {} });
    res = await api.json(`/v1/image/edit/batch/${edit.body.data.id}`);
    assert.equal(res.status, 404, 'an async edit is not a batch');
    res = await api.json('/v1/image/edit/batch/99999999');
    assert.equal(res.status, 404);
    await waitBatch(api, id);
  });

  test('each image is paid as it is made: failures are free, a short balance yields what it covers, then 402', async () => {
    const { id: keyId, token } = await createKey(api.dataDir, 'image_editing', 2);
    const failed = await waitBatch(api, await submit(api, { input: [`${origin.url}/broken.jpg`], operations: {} }, token), { key: token });
    assert.equal(failed.status, 'ERROR');
    assert.equal(await credits(api.dataDir, keyId), 2, 'a failed image costs nothing');

    const inputs = [`${origin.url}/fruits.jpg`, `${origin.url}/baboon.jpg`, `${origin.url}/fruits.jpg?again`];
    const done = await waitBatch(api, await submit(api, { input: inputs, operations: {} }, token), { key: token });
    assert.equal(done.status, 'DONE', JSON.stringify(done));
    assert.equal(done.results.length, 2);
    assert.equal(done.errors.length, 1);
    assert.match(done.errors[0].error, /: No API calls left\.$/);
    assert.equal(done.errors[0].input_object, null);
    assert.deepEqual(
      [...done.results.map((r: any) => r.input), done.errors[0].input].sort(),
      [...inputs].sort(),
      'every image is either made or reported',
    );
    assert.equal(await credits(api.dataDir, keyId), 0);
    const refused = await api.json('/v1/image/edit/batch', { input: [`${origin.url}/fruits.jpg`], operations: {} }, { key: token });
    assert.equal(refused.status, 402);
    assert.equal(refused.body.error_message, 'No API calls left.');
  });

  test('cancel: CANCELLED at once, unfinished images refunded, nothing listed', async () => {
    const { id: keyId, token } = await createKey(api.dataDir, 'image_editing', 10);
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    origin.route('/held.jpg', (_req, res) => void gate.then(() => res.writeHead(200, { 'content-type': 'image/jpeg' }).end(photo('home.jpg'))));
    const id = await submit(api, { input: [`${origin.url}/held.jpg`, `${origin.url}/held.jpg?2`], operations: {} }, token);
    await waitBatch(api, id, { key: token, until: () => origin.hits('/held.jpg') >= 2 });
    assert.equal(await credits(api.dataDir, keyId), 8, 'two images in flight hold their credits');
    const res = await api.json(`/v1/image/edit/batch/${id}/cancel`, undefined, { key: token, method: 'POST' });
    release();
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.data.status, 'CANCELLED');
    assert.deepEqual([res.body.data.results, res.body.data.errors], [[], []]);
    assert.equal(await credits(api.dataDir, keyId), 10);
    await new Promise((r) => setTimeout(r, 300));
    const data = await waitBatch(api, id, { key: token });
    assert.deepEqual([data.status, data.results, data.errors], ['CANCELLED', [], []]);
    assert.equal(await credits(api.dataDir, keyId), 10, 'late finishes neither publish nor charge');
  });
});

describe('webhook', () => {
  let receiver: Server;
  const received: { headers: IncomingMessage['headers']; body: string }[] = [];

  before(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  });

  after(async () => {
    receiver.closeAllConnections();
    await new Promise((r) => receiver.close(r));
  });

  test('a finished batch notifies with the body its GET answers', async () => {
    const { token } = await createKey(api.dataDir, 'image_editing');
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const set = await api.json('/v1/webhook', { url, events: ['success', 'failed'] }, { key: token, method: 'PUT' });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const id = await submit(api, { input: [`${origin.url}/fruits.jpg`, `${origin.url}/broken.jpg`], operations: { resizing: { width: 32 } } }, token);
    await waitBatch(api, id, { key: token });
    const deadline = Date.now() + 10_000;
    while (!received.some((r) => JSON.parse(r.body).data?.id === id)) {
      if (Date.now() > deadline) throw new Error('no webhook arrived');
      await new Promise((r) => setTimeout(r, 50));
    }
    const hook = received.find((r) => JSON.parse(r.body).data?.id === id)!;
    assert.equal(hook.headers['content-type'], 'application/json');
    assert.equal(hook.headers['x-atelier-event'], 'success');
    const get = await api.fetch(`/v1/image/edit/batch/${id}`, { key: token });
    assert.equal(hook.body, await get.text());
    const body = JSON.parse(hook.body);
    assert.equal(body.data.status, 'DONE');
    assert.equal(body.data.results.length, 1);
    assert.equal(body.data.errors.length, 1);
  });
});

describe('restart', () => {
  test('a batch cut off by a crash resumes: finished images are not redone, outputs not duplicated, paid once', async () => {
    const root = await mkdtemp(join(tmpdir(), 'atelier-e2e-batch-restart-'));
    const env = { ...noLimits, ATELIER_LOCAL_STORAGE_ROOT: root, ATELIER_WORKERS: '2' };
    // Items 0 and 1 are answered at once; 2 to 5 wait for the gate, so the crash comes while 2 and 3 are fetched.
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const body = photo('home.jpg'); // 512×384
    for (let i = 0; i < 6; i++) {
      origin.route(`/r/${i}.jpg`, (_req, res) => {
        const send = () => res.writeHead(200, { 'content-type': 'image/jpeg' }).end(body);
        if (i < 2) send();
        else void gate.then(send);
      });
    }
    const first = await startServer({ env });
    let second: RunningServer | undefined;
    try {
      const { id: keyId, token } = await createKey(first.dataDir, 'image_editing,storage', 20);
      const storage = await first.json('/v1/storage/storages', { name: 'out', type: 'local', parameters: { path: 'outputs' } }, { key: token });
      assert.equal(storage.status, 200, JSON.stringify(storage.body));
      const id = await submit(
        first,
        {
          input: Array.from({ length: 6 }, (_, i) => `${origin.url}/r/${i}.jpg`),
          operations: { resizing: { width: 80 } },
          output: 'storage://out/batch/',
        },
        token,
      );
      const progress = await waitBatch(first, id, {
        key: token,
        until: (d) => d.results.length === 2 && origin.hits('/r/2.jpg') === 1 && origin.hits('/r/3.jpg') === 1,
      });
      assert.equal(progress.status, 'PROCESSING', 'progress is visible while the batch runs');
      await first.stop('SIGKILL');
      release();

      second = await startServer({ dataDir: first.dataDir, env });
      const done = await waitBatch(second, id, { key: token });
      assert.equal(done.status, 'DONE', JSON.stringify(done));
      assert.deepEqual(done.errors, []);
      assert.deepEqual(
        done.results.map((r: any) => [r.input, r.output_object.claid_storage_uri, r.output_object.width, r.output_object.height]),
        Array.from({ length: 6 }, (_, i) => [`${origin.url}/r/${i}.jpg`, `storage://out/batch/${i}.jpg`, 80, 60]),
      );
      const files = (await readdir(join(root, 'outputs/batch'))).sort();
      assert.deepEqual(files, ['0.jpg', '1.jpg', '2.jpg', '3.jpg', '4.jpg', '5.jpg'], 'no duplicate, no temporary file left');
      for (const file of files) {
        const meta = await sharp(await readFile(join(root, 'outputs/batch', file))).metadata();
        assert.deepEqual([meta.width, meta.height], [80, 60]);
      }
      assert.deepEqual(
        Array.from({ length: 6 }, (_, i) => origin.hits(`/r/${i}.jpg`)),
        [1, 1, 2, 2, 1, 1],
        'finished images were not fetched again; the two cut off were',
      );
      assert.equal(await credits(first.dataDir, keyId), 14, 'six images, paid once each');
    } finally {
      release();
      await first.stop('SIGKILL');
      if (second) await second.dispose();
      else await rm(first.dataDir, { recursive: true, force: true });
      await rm(root, { recursive: true, force: true });
    }
  });
});
