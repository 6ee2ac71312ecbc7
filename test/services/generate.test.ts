// GenerateService in process, on synthetic model sets, for what the end-to-end tests (output side 64, below the
// native 512) do not reach: an output side above the native resolution generates at 512 and is brought up by an
// image-to-image pass, or by Lanczos alone when the installed set cannot do image-to-image.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { GenerateService } from '../../src/services/generate.js';
import { GenerativeOutput } from '../../src/services/generative-output.js';
import type { StorageService } from '../../src/storage/service.js';
import { TmpStore } from '../../src/storage/tmp-store.js';
import { writeSyntheticModelSet } from '../support/onnx-builder.js';

let root: string;
let tmp: TmpStore;
const previous = process.env.ATELIER_MODELS_DIR;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'atelier-generate-'));
  writeSyntheticModelSet(join(root, 'full', 'sd15-onnx'));
  writeSyntheticModelSet(join(root, 'txt2img-only', 'sd15-onnx'), { noEncoder: true });
  tmp = new TmpStore(join(root, 'tmp'), 3600, 'test-secret');
  await tmp.init();
});

after(async () => {
  if (previous === undefined) delete process.env.ATELIER_MODELS_DIR;
  else process.env.ATELIER_MODELS_DIR = previous;
  await rm(root, { recursive: true, force: true });
});

function service(size: number): GenerateService {
  // No request here names a destination, so the storages are never reached.
  const output = new GenerativeOutput({ tmp, storages: undefined as unknown as StorageService, publicUrl: 'http://atelier.test' });
  return new GenerateService({ output, settings: { size } });
}

async function stored(url: string): Promise<Buffer> {
  const [token, name] = new URL(url).pathname.split('/').slice(2);
  return readFile(join(root, 'tmp', token!, decodeURIComponent(name!)));
}

describe('GenerateService above the native resolution', () => {
  test('generates at 512 and refines at the output size by image-to-image', async () => {
    process.env.ATELIER_MODELS_DIR = join(root, 'full');
    const res = await service(576).generate('owner', { input: 'a tall lighthouse', options: { number_of_images: 1 } }, { seed: 7 });
    assert.equal(res.profiling?.generation_size, '512x512');
    assert.equal(res.profiling?.upscale, 'lanczos+img2img(0.35)');
    assert.deepEqual(res.profiling?.seeds, [7]);
    const out = res.output[0]!;
    assert.deepEqual([out.width, out.height, out.ext], [576, 576, 'png']);
    const meta = await sharp(await stored(out.tmp_url!)).metadata();
    assert.deepEqual([meta.width, meta.height, meta.format], [576, 576, 'png']);
  });

  test('without image-to-image the Lanczos enlargement is returned, and says so', async () => {
    process.env.ATELIER_MODELS_DIR = join(root, 'txt2img-only');
    const res = await service(576).generate('owner', { input: 'a tall lighthouse', options: { number_of_images: 2 } }, { seed: 7 });
    assert.equal(res.profiling?.upscale, 'lanczos');
    assert.equal(res.output.length, 2);
    for (const out of res.output) assert.deepEqual([out.width, out.height], [576, 576]);
  });

  test('at or below the native size nothing is upscaled', async () => {
    process.env.ATELIER_MODELS_DIR = join(root, 'full');
    const res = await service(128).generate('owner', { input: 'a small boat', options: { number_of_images: 1 } });
    assert.equal(res.profiling?.generation_size, '128x128');
    assert.equal(res.profiling?.upscale, undefined);
  });
});
