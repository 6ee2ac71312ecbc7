// End to end through the real server and the real diffusion pipeline, on a synthetic model set (small ONNX
// graphs with Stable Diffusion's signatures, test/support/onnx-builder.ts) installed as sd15-onnx, with the
// output side set to 64 px for speed: image generate (count, shape, PNGs, seeds, determinism, storage output)
// and AI edit tasks (life cycle to DONE, result shape, aspect ratios, JPEG, webhook body = GET body, ERROR,
// cancel, credits).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { startServer, type RunningServer } from '../support/server.js';
import { startImageServer, type ImageServer } from '../support/image-server.js';
import { cli, createKey } from '../support/cli.js';
import { photo } from '../support/images.js';
import { writeSyntheticModelSet } from '../support/onnx-builder.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let api: RunningServer;
let origin: ImageServer;
let modelsDir: string;
let receiver: Server;
let receiverUrl: string;
const received: { path: string; body: Buffer }[] = [];
/** Requests to /slow.jpg are held until this is called. */
let releaseSlow: () => void = () => {};

before(async () => {
  modelsDir = await mkdtemp(join(tmpdir(), 'atelier-synthetic-models-'));
  writeSyntheticModelSet(join(modelsDir, 'sd15-onnx'));
  origin = await startImageServer();
  origin.file('/fruits.jpg', photo('fruits.jpg'), 'image/jpeg');
  origin.file('/broken.jpg', Buffer.from('not an image at all'), 'image/jpeg');
  origin.route('/slow.jpg', (_req, res) => {
    const body = photo('home.jpg');
    new Promise<void>((r) => (releaseSlow = r)).then(() => {
      if (!res.destroyed) res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': body.length }).end(body);
    });
  });
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '/', body: Buffer.concat(chunks) });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  api = await startServer({
    env: {
      ATELIER_MODELS_DIR: modelsDir,
      ATELIER_GENERATE_SIZE: '64',
      ATELIER_RATE_LIMIT_PER_MINUTE: '0',
      ATELIER_RATE_LIMIT_PER_SECOND: '0',
    },
  });
});

after(async () => {
  releaseSlow();
  await api?.dispose();
  await origin?.close();
  receiver?.closeAllConnections();
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
  await rm(modelsDir, { recursive: true, force: true });
});

async function download(url: string): Promise<Buffer> {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  return Buffer.from(await res.arrayBuffer());
}

async function creditsOf(id: string): Promise<number | null> {
  const list = JSON.parse((await cli(api.dataDir, 'keys', 'list', '--json')).stdout) as { id: string; credits: number | null }[];
  return list.find((k) => k.id === id)?.credits ?? null;
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function settled(id: number, key?: string): Promise<any> {
  return until(`task ${id} to settle`, async () => {
    const res = await api.json(`/v1/image/ai-edit/${id}`, undefined, key ? { key } : {});
    assert.equal(res.status, 200);
    return ['DONE', 'ERROR', 'CANCELLED'].includes(res.body.data.status) ? res.body.data : undefined;
  });
}

describe('POST /v1/image/generate on a synthetic model set', () => {
  test('N PNGs at the configured size with the published shape and seeds in profiling', async () => {
    const res = await api.json('/v1/image/generate', { input: 'A delicious ceviche cheesecake slice', options: { number_of_images: 3, guidance_scale: 5 } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const data = res.body.data;
    assert.deepEqual(Object.keys(data).sort(), ['input', 'output', 'profiling']);
    assert.deepEqual(data.input, { text: 'A delicious ceviche cheesecake slice' });
    assert.equal(data.output.length, 3);
    const names = new Set<string>();
    for (const out of data.output) {
      assert.deepEqual(
        { ext: out.ext, mps: out.mps, mime: out.mime, format: out.format, width: out.width, height: out.height },
        { ext: 'png', mps: 0.004096, mime: 'image/png', format: 'PNG', width: 64, height: 64 },
      );
      assert.equal(out.object_uri, undefined);
      const png = await download(out.tmp_url);
      const meta = await sharp(png).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['png', 64, 64]);
      names.add(new URL(out.tmp_url).pathname.split('/').pop()!);
    }
    // Numbered like the reference's example (xxxx_1.png, xxxx_2.png, ...).
    assert.deepEqual([...names].map((n) => n.replace(/^.*_(\d)\.png$/, '$1')).sort(), ['1', '2', '3']);
    const seeds = data.profiling.seeds as number[];
    assert.equal(seeds.length, 3);
    assert.deepEqual(seeds, [seeds[0], (seeds[0]! + 1) >>> 0, (seeds[0]! + 2) >>> 0]);
    assert.equal(data.profiling.model_set, 'sd15-onnx');
  });

  test('four images by default', async () => {
    const res = await api.json('/v1/image/generate', { input: 'a red bicycle' });
    assert.equal(res.status, 200);
    assert.equal(res.body.data.output.length, 4);
  });

  test('a fixed seed gives the same pixels; another seed or another guidance gives others', async () => {
    const pixels = async (body: object, seed: string) => {
      const res = await api.json('/v1/image/generate', body, { headers: { 'x-atelier-seed': seed } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.data.profiling.seeds[0], Number(seed));
      return sharp(await download(res.body.data.output[0].tmp_url)).raw().toBuffer();
    };
    const body = { input: 'a lighthouse at dusk', options: { number_of_images: 1, guidance_scale: 7 } };
    const a = await pixels(body, '1234');
    const b = await pixels(body, '1234');
    assert.ok(a.equals(b), 'same seed, same image');
    assert.ok(!a.equals(await pixels(body, '1235')), 'another seed');
    assert.ok(!a.equals(await pixels({ ...body, options: { number_of_images: 1, guidance_scale: 20 } }, '1234')), 'another guidance');
    assert.ok(!a.equals(await pixels({ ...body, input: 'a bicycle at dawn' }, '1234')), 'another prompt');
  });

  test('output to a storage folder writes the files there and answers their locations, no tmp_url', async () => {
    const root = join(api.dataDir, 'storage');
    await mkdir(join(root, 'gen'), { recursive: true });
    const created = await api.json('/v1/storage/storages', { name: 'gen-out', type: 'local', parameters: { path: 'gen' } });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const res = await api.json('/v1/image/generate', { input: 'a blue teapot', options: { number_of_images: 2 }, output: 'storage://gen-out/cakes/' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    for (const out of res.body.data.output) {
      assert.equal(out.tmp_url, undefined);
      assert.match(out.claid_storage_uri, /^storage:\/\/gen-out\/cakes\/[A-Za-z0-9_-]+_[12]\.png$/);
      const file = await readFile(join(root, 'gen', out.object_key));
      assert.equal((await sharp(file).metadata()).width, 64);
    }
  });

  test('credits: 4 per image asked for', async () => {
    const key = await createKey(api.dataDir, 'image_editing', 10);
    const res = await api.json('/v1/image/generate', { input: 'a green apple', options: { number_of_images: 2 } }, { key: key.token });
    assert.equal(res.status, 200);
    assert.equal(await creditsOf(key.id), 2);
    const refused = await api.json('/v1/image/generate', { input: 'a green apple', options: { number_of_images: 1 } }, { key: key.token });
    assert.equal(refused.status, 402);
    assert.equal(refused.body.error_code, 'no_api_calls_left');
  });
});

describe('AI edit tasks on a synthetic model set', () => {
  test('ACCEPTED → DONE with the published result shape; the webhook body is the GET body', async () => {
    const key = await createKey(api.dataDir, 'image_editing', 100);
    const hook = await api.json('/v1/webhook', { url: `${receiverUrl}/ai-edit` }, { key: key.token, method: 'PUT' });
    assert.equal(hook.status, 200, JSON.stringify(hook.body));
    const body = {
      input: `${origin.url}/fruits.jpg`,
      options: { prompt: 'add a duck', aspect_ratio: '16:9', inference_steps: 8, guidance_scale: 4.0 },
      output: { number_of_images: 2, format: 'jpeg' },
    };
    const res = await api.json('/v1/image/ai-edit', body, { key: key.token });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const accepted = res.body.data;
    assert.deepEqual(Object.keys(accepted), ['id', 'status', 'result_url', 'created_at', 'request']);
    assert.equal(accepted.status, 'ACCEPTED');
    assert.equal(accepted.result_url, `${api.url}/v1/image/ai-edit/${accepted.id}`);
    assert.deepEqual(accepted.request, body);
    assert.match(accepted.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00$/);

    const done = await settled(accepted.id, key.token);
    assert.equal(done.status, 'DONE', JSON.stringify(done.errors));
    assert.deepEqual(Object.keys(done), ['id', 'status', 'created_at', 'request', 'errors', 'result']);
    assert.deepEqual(done.errors, []);
    assert.deepEqual(done.request, body);
    assert.deepEqual(done.result.input_object, { ext: 'jpeg', mps: 0.24576, mime: 'image/jpeg', format: 'JPEG', width: 512, height: 480 });
    assert.equal(done.result.output_objects.length, 2);
    for (const out of done.result.output_objects) {
      // 16:9 at side 64 on an 8-pixel grid.
      assert.deepEqual({ ...out, tmp_url: undefined }, { ext: 'jpeg', mps: 0.004224, mime: 'image/jpeg', format: 'JPEG', width: 88, height: 48, tmp_url: undefined });
      const meta = await sharp(await download(out.tmp_url)).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 88, 48]);
    }
    assert.notEqual(done.result.output_objects[0].tmp_url, done.result.output_objects[1].tmp_url);
    assert.equal(await creditsOf(key.id), 92);

    const receipt = await until('the webhook', async () => received.find((r) => r.path === '/ai-edit' && JSON.parse(r.body.toString()).data.id === accepted.id));
    const get = await api.fetch(`/v1/image/ai-edit/${accepted.id}`, { key: key.token });
    assert.ok(receipt.body.equals(Buffer.from(await get.arrayBuffer())), 'webhook body equals the GET body');
  });

  test('without aspect_ratio the output takes the ratio nearest the input; one PNG by default', async () => {
    const res = await api.json('/v1/image/ai-edit', { input: `${origin.url}/fruits.jpg`, options: { prompt: 'make it autumn' } });
    assert.equal(res.status, 200);
    const done = await settled(res.body.data.id);
    assert.equal(done.status, 'DONE', JSON.stringify(done.errors));
    assert.equal(done.result.output_objects.length, 1);
    const out = done.result.output_objects[0];
    assert.deepEqual([out.ext, out.format, out.width, out.height], ['png', 'PNG', 64, 64]);
    assert.match(new URL(out.tmp_url).pathname, /\/fruits\.png$/);
  });

  test('an input that is not an image ends ERROR with {error, created_at}, an empty result, and the credits back', async () => {
    const key = await createKey(api.dataDir, 'image_editing', 100);
    const res = await api.json('/v1/image/ai-edit', { input: `${origin.url}/broken.jpg`, options: { prompt: 'add a duck' }, output: { number_of_images: 3 } }, { key: key.token });
    assert.equal(res.status, 200);
    const failed = await settled(res.body.data.id, key.token);
    assert.equal(failed.status, 'ERROR');
    assert.deepEqual(failed.result, {});
    assert.equal(failed.errors.length, 1);
    assert.deepEqual(Object.keys(failed.errors[0]).sort(), ['created_at', 'error']);
    assert.match(failed.errors[0].error, /not an image|supported format/);
    await until('the refund', async () => (await creditsOf(key.id)) === 100);
  });

  test('cancel: a running task ends CANCELLED with no result and its credits back; another key sees 404', async () => {
    const key = await createKey(api.dataDir, 'image_editing', 100);
    const res = await api.json('/v1/image/ai-edit', { input: `${origin.url}/slow.jpg`, options: { prompt: 'add a duck' } }, { key: key.token });
    const id = res.body.data.id as number;
    await until('the input fetch', async () => origin.hits('/slow.jpg') > 0);
    assert.equal(await creditsOf(key.id), 96);
    const other = await createKey(api.dataDir, 'image_editing');
    assert.equal((await api.json(`/v1/image/ai-edit/${id}/cancel`, {}, { key: other.token })).status, 404);
    assert.equal((await api.json(`/v1/image/ai-edit/${id}`, undefined, { key: other.token })).status, 404);
    const cancelled = await api.json(`/v1/image/ai-edit/${id}/cancel`, {}, { key: key.token });
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
    assert.equal(cancelled.body.data.status, 'CANCELLED');
    assert.deepEqual(cancelled.body.data.result, {});
    releaseSlow();
    await until('the refund', async () => (await creditsOf(key.id)) === 100);
    await sleep(300);
    const after = await api.json(`/v1/image/ai-edit/${id}`, undefined, { key: key.token });
    assert.equal(after.body.data.status, 'CANCELLED');
    // A task of the edit family is not reachable through the AI edit routes.
    const edit = await api.json('/v1/image/edit/async', { input: `${origin.url}/fruits.jpg`, operations: {} }, { key: key.token });
    assert.equal((await api.json(`/v1/image/ai-edit/${edit.body.data.id}`, undefined, { key: key.token })).status, 404);
  });
});
