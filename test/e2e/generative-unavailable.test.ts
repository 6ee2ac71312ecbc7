// End to end, with no model set installed (the default): image generate and AI edit answer 503 in the contract's
// error shape naming the model set and the pull command, create no task, and charge nothing; every request
// that is invalid is refused (422) before that; the routes need a key with the image_editing scope.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../support/server.js';
import { cli, createKey } from '../support/cli.js';

let api: RunningServer;
let modelsDir: string;

before(async () => {
  modelsDir = await mkdtemp(join(tmpdir(), 'atelier-no-models-'));
  api = await startServer({
    env: { ATELIER_MODELS_DIR: modelsDir, ATELIER_RATE_LIMIT_PER_MINUTE: '0', ATELIER_RATE_LIMIT_PER_SECOND: '0' },
  });
});

after(async () => {
  await api?.dispose();
  await rm(modelsDir, { recursive: true, force: true });
});

async function creditsOf(id: string): Promise<number | null> {
  const list = JSON.parse((await cli(api.dataDir, 'keys', 'list', '--json')).stdout) as { id: string; credits: number | null }[];
  const key = list.find((k) => k.id === id);
  assert.ok(key);
  return key.credits;
}

function assertModelMissing(body: Record<string, any>, capability: string): void {
  assert.equal(body.error_type, 'runtime_settings');
  assert.equal(body.error_code, 'model_not_installed');
  assert.equal(typeof body.error_message, 'string');
  assert.equal(body.error_details.capability, capability);
  assert.equal(typeof body.error_details.model, 'string');
  assert.match(body.error_message, new RegExp(body.error_details.model));
  assert.equal(body.error_details.command, `npm run atelier -- models pull ${body.error_details.model}`);
}

describe('POST /v1/image/generate without a model set', () => {
  test('503 naming the txt2img model set and its pull command; the reserved credits come back', async () => {
    const key = await createKey(api.dataDir, 'image_editing', 100);
    const res = await api.json('/v1/image/generate', { input: 'A delicious ceviche cheesecake slice', options: { number_of_images: 2 } }, { key: key.token });
    assert.equal(res.status, 503);
    assertModelMissing(res.body, 'txt2img');
    assert.equal(await creditsOf(key.id), 100);
  });

  test('invalid bodies are 422 before any model is looked up', async () => {
    const cases: [unknown, string[]][] = [
      [{ input: 'ab' }, ['body', 'input']],
      [{ input: 'a cake', options: { number_of_images: 5 } }, ['body', 'options', 'number_of_images']],
      [{ input: 'a cake', options: { guidance_scale: 50 } }, ['body', 'options', 'guidance_scale']],
      [{ input: 'a cake', extra: true }, ['body', 'extra']],
    ];
    for (const [body, loc] of cases) {
      const res = await api.json('/v1/image/generate', body);
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.equal(res.body.error_type, 'validation');
      assert.deepEqual(res.body.error_details.errors[0].loc, loc);
    }
  });

  test('an output that is not a storage is refused (422) before the model; an unknown storage too', async () => {
    let res = await api.json('/v1/image/generate', { input: 'a cake', output: 'https://example.com/out/' });
    assert.equal(res.status, 422);
    assert.equal(res.body.error_code, 'unsupported_destination');
    res = await api.json('/v1/image/generate', { input: 'a cake', output: 'storage://nowhere/out/' });
    assert.equal(res.status, 422);
    assert.equal(res.body.error_type, 'storage');
  });

  test('a malformed x-atelier-seed header is a 422 naming the header', async () => {
    const res = await api.json('/v1/image/generate', { input: 'a cake' }, { headers: { 'x-atelier-seed': 'soon' } });
    assert.equal(res.status, 422);
    assert.deepEqual(res.body.error_details.errors[0].loc, ['header', 'x-atelier-seed']);
  });

  test('a key without the image_editing scope is refused (403), none at all is 401', async () => {
    const key = await createKey(api.dataDir, 'storage');
    let res = await api.json('/v1/image/generate', { input: 'a cake' }, { key: key.token });
    assert.equal(res.status, 403);
    res = await api.json('/v1/image/generate', { input: 'a cake' }, { key: null });
    assert.equal(res.status, 401);
  });
});

describe('POST /v1/image/ai-edit without a model set', () => {
  test('503 at submission naming the img2img model set; no task, no charge', async () => {
    const key = await createKey(api.dataDir, 'image_editing', 100);
    const res = await api.json(
      '/v1/image/ai-edit',
      { input: 'https://picsum.photos/500', options: { prompt: 'add a duck', model: 'v1' }, output: { number_of_images: 2 } },
      { key: key.token },
    );
    assert.equal(res.status, 503);
    assertModelMissing(res.body, 'img2img');
    assert.equal(await creditsOf(key.id), 100);
    // Nothing was queued: the first ids are free and answer 404.
    const get = await api.json('/v1/image/ai-edit/1', undefined, { key: key.token });
    assert.equal(get.status, 404);
  });

  test('invalid bodies are 422; ids must be integers; unknown ids are 404 in the error shape', async () => {
    let res = await api.json('/v1/image/ai-edit', { input: 'https://x.test/a.png', options: { prompt: 'add a duck', inference_steps: 51 } });
    assert.equal(res.status, 422);
    assert.deepEqual(res.body.error_details.errors[0].loc, ['body', 'options', 'inference_steps']);
    res = await api.json('/v1/image/ai-edit', { input: 'https://x.test/a.png', options: { prompt: 'add a duck' }, output: { format: 'webp' } });
    assert.equal(res.status, 422);
    assert.deepEqual(res.body.error_details.errors[0].loc, ['body', 'output', 'format']);
    res = await api.json('/v1/image/ai-edit/abc');
    assert.equal(res.status, 422);
    res = await api.json('/v1/image/ai-edit/999999');
    assert.equal(res.status, 404);
    assert.equal(res.body.error_code, 'task_not_found');
    res = await api.json('/v1/image/ai-edit/999999/cancel', {});
    assert.equal(res.status, 404);
  });

  test('a destination that is not a storage is 422 before the model is looked up', async () => {
    const res = await api.json('/v1/image/ai-edit', {
      input: 'https://x.test/a.png',
      options: { prompt: 'add a duck' },
      output: 'https://example.com/out/a.png',
    });
    assert.equal(res.status, 422);
    assert.equal(res.body.error_code, 'unsupported_destination');
  });
});
