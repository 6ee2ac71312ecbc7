// The engine surface the services use: which model set serves a request, the 503 when none is installed,
// warm engines, default steps per set, and captioning — on synthetic model sets in ATELIER_MODELS_DIR.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { caption, defaultSteps, getEngine, releaseEngines, resolveModelSet } from '../../src/generative/engine.js';
import { candidates, installedState } from '../../src/generative/model-sets.js';
import { UnavailableError } from '../../src/errors.js';
import { decodeTokens, loadCaptionModel } from '../../src/generative/caption.js';
import { bytesToUnicode } from '../../src/generative/tokenizer.js';
import { writeSyntheticCaptionSet, writeSyntheticModelSet } from '../support/onnx-builder.js';

const saved = { models: process.env.ATELIER_MODELS_DIR, device: process.env.ATELIER_DEVICE };
let dir: string;

before(() => {
  delete process.env.ATELIER_DEVICE;
});

afterEach(async () => {
  await releaseEngines();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

after(() => {
  if (saved.models === undefined) delete process.env.ATELIER_MODELS_DIR;
  else process.env.ATELIER_MODELS_DIR = saved.models;
  if (saved.device !== undefined) process.env.ATELIER_DEVICE = saved.device;
});

function freshModelsDir(): string {
  dir = mkdtempSync(join(tmpdir(), 'atelier-models-'));
  process.env.ATELIER_MODELS_DIR = dir;
  return dir;
}

async function unavailable(promise: Promise<unknown>): Promise<UnavailableError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof UnavailableError, String(err));
    return err;
  }
  assert.fail('expected a 503');
}

test('nothing installed: 503 naming the model set and the pull command', async () => {
  freshModelsDir();
  const err = await unavailable(getEngine({ capability: 'inpaint' }));
  assert.equal(err.status, 503);
  assert.equal(err.code, 'model_not_installed');
  assert.equal(
    err.message,
    "The model set 'sd15-inpaint-onnx' needed for inpainting is not installed. Install it with: npm run atelier -- models pull sd15-inpaint-onnx",
  );
  assert.deepEqual(err.details, { model: 'sd15-inpaint-onnx', capability: 'inpaint', command: 'npm run atelier -- models pull sd15-inpaint-onnx' });
  assert.equal((await unavailable(getEngine({ capability: 'txt2img' }))).details.model, 'sd15-onnx');
  assert.equal((await unavailable(getEngine({ capability: 'txt2img', preference: 'fast' }))).details.model, 'lcm-dreamshaper-v7-onnx');
  // v2 prefers SD-Turbo, which needs CUDA: on a CPU-only machine the 503 names the set that would run here.
  assert.equal(candidates('txt2img', 'v2')[0], 'sd-turbo-onnx');
  assert.equal((await unavailable(getEngine({ capability: 'txt2img', model: 'v2' }))).details.model, 'lcm-dreamshaper-v7-onnx');
  const cap = await unavailable(caption({ data: Buffer.alloc(12), width: 2, height: 2, channels: 3 }));
  assert.equal(cap.details.model, 'vit-gpt2-caption-onnx');
  assert.match(cap.message, /needed for captioning is not installed/);
});

test('installed sets serve what their files allow; fallbacks in table order', async () => {
  const models = freshModelsDir();
  writeSyntheticModelSet(join(models, 'sd15-onnx'));
  assert.deepEqual(installedState('sd15-onnx').capabilities, ['txt2img', 'img2img', 'inpaint']);
  const engine = await getEngine({ capability: 'txt2img' });
  assert.equal(engine.modelSet, 'sd15-onnx');
  // fast prefers LCM; not installed, so the full model runs with its own fast step count.
  const fast = await getEngine({ capability: 'txt2img', preference: 'fast' });
  assert.equal(fast.modelSet, 'sd15-onnx');
  assert.equal(defaultSteps('fast', fast), 15);
  assert.equal(defaultSteps('best'), 40);
  // Inpainting falls back to latent blending on the normal UNet.
  assert.equal(resolveModelSet({ capability: 'inpaint' }), 'sd15-onnx');
  const r = await engine.txt2img({ prompt: 'a cat', width: 64, height: 64, steps: 2, guidanceScale: 5, seed: 1, numberOfImages: 2 });
  assert.equal(r.images.length, 2);
  assert.equal(r.modelSet, 'sd15-onnx');

  writeSyntheticModelSet(join(models, 'sd15-inpaint-onnx'), { inChannels: 9 });
  assert.deepEqual(installedState('sd15-inpaint-onnx').capabilities, ['inpaint']);
  assert.equal(resolveModelSet({ capability: 'inpaint' }), 'sd15-inpaint-onnx');
  assert.equal(resolveModelSet({ capability: 'txt2img' }), 'sd15-onnx');

  writeSyntheticModelSet(join(models, 'lcm-dreamshaper-v7-onnx'), { timestepCond: 256, noEncoder: true });
  assert.deepEqual(installedState('lcm-dreamshaper-v7-onnx').capabilities, ['txt2img']);
  assert.equal(resolveModelSet({ capability: 'txt2img', preference: 'fast' }), 'lcm-dreamshaper-v7-onnx');
  assert.equal(resolveModelSet({ capability: 'img2img', preference: 'fast' }), 'sd15-onnx'); // LCM set lacks vae_encoder
  const lcm = await getEngine({ capability: 'txt2img', preference: 'fast' });
  assert.equal(defaultSteps('fast', lcm), 4);
  assert.equal(defaultSteps('best', lcm), 8);
});

test('the same engine stays warm between requests', async () => {
  const models = freshModelsDir();
  writeSyntheticModelSet(join(models, 'sd15-onnx'));
  const a = await getEngine({ capability: 'txt2img' });
  const b = await getEngine({ capability: 'img2img' });
  const args = { prompt: 'a dog', width: 64, height: 64, steps: 2, guidanceScale: 3, seed: 3, numberOfImages: 1 };
  const [x, y] = await Promise.all([a.txt2img(args), b.txt2img(args)]);
  assert.ok(x.images[0]!.data.equals(y.images[0]!.data));
});

test('captioning: greedy decoding through the encoder and decoder (plain and key/value-cache decoders)', async () => {
  const models = freshModelsDir();
  const bright = { data: Buffer.alloc(32 * 32 * 3, 230), width: 32, height: 32, channels: 3 as const };
  const dark = { data: Buffer.alloc(32 * 32 * 4, 20).fill(255, 0, 0), width: 32, height: 32, channels: 4 as const };
  for (let i = 3; i < dark.data.length; i += 4) dark.data[i] = 255;
  writeSyntheticCaptionSet(join(models, 'vit-gpt2-caption-onnx'));
  assert.equal(await caption(bright), 'a white cat sitting on grass');
  assert.equal(await caption(dark), 'a black dog sitting on grass');

  writeSyntheticCaptionSet(join(models, 'merged'), { merged: true });
  const merged = await loadCaptionModel(join(models, 'merged'));
  try {
    assert.equal(await merged.describe(bright), 'a white cat sitting on grass');
    assert.equal(await merged.describe(dark, 3), 'a black dog');
  } finally {
    await merged.release();
  }
});

test('GPT-2 byte-level decoding restores spaces and UTF-8', () => {
  const chars = bytesToUnicode();
  const table = [...chars];
  // "é" is C3 A9; "Ġ" (U+0120) is the byte-level form of a space.
  assert.equal(decodeTokens([0x61, 0x20, 0xc3, 0xa9], table), 'a é');
});
