import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, seedForImage } from '../../src/generative/prng.js';
import { float16ToFloat32, float32ToFloat16, fromHalfBits, toHalfBits } from '../../src/generative/fp16.js';

test('xoshiro128** seeded by splitmix32: fixed sequence (cross-checked with an independent Python version)', () => {
  const r = createRng(42);
  assert.deepEqual([r.nextU32(), r.nextU32(), r.nextU32()], [2837322924, 544945897, 479756282]);
  const n = createRng(42);
  const normals = [n.nextNormal(), n.nextNormal(), n.nextNormal()];
  assert.deepEqual(normals, [0.6362302292365903, 0.651442266477932, 0.8308018995720857]);
});

test('normals: mean 0, variance 1, no infinities', () => {
  const buf = createRng(123).fillNormal(new Float32Array(200_000));
  let sum = 0;
  let sq = 0;
  for (const v of buf) {
    assert.ok(Number.isFinite(v));
    sum += v;
    sq += v * v;
  }
  const mean = sum / buf.length;
  const variance = sq / buf.length - mean * mean;
  assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 0.01, `variance ${variance}`);
});

test('seeds: same seed same noise, neighbouring seeds uncorrelated, per-image seeds wrap at 2^32', () => {
  const a = createRng(5).fillNormal(new Float32Array(1000));
  const b = createRng(5).fillNormal(new Float32Array(1000));
  const c = createRng(6).fillNormal(new Float32Array(1000));
  assert.deepEqual(a, b);
  let dot = 0;
  for (let i = 0; i < 1000; i++) dot += a[i]! * c[i]!;
  assert.ok(Math.abs(dot / 1000) < 0.1);
  assert.equal(seedForImage(2 ** 32 - 1, 1), 0);
  assert.equal(seedForImage(10, 3), 13);
});

test('float16: known bit patterns, rounding to nearest even, subnormals, overflow, NaN', () => {
  assert.equal(toHalfBits(1), 0x3c00);
  assert.equal(toHalfBits(-2), 0xc000);
  assert.equal(toHalfBits(0.1), 0x2e66);
  assert.equal(toHalfBits(65504), 0x7bff);
  assert.equal(toHalfBits(65520), 0x7c00); // rounds up to infinity
  assert.equal(toHalfBits(1e6), 0x7c00);
  assert.equal(toHalfBits(-Infinity), 0xfc00);
  assert.equal(toHalfBits(2 ** -24), 0x0001); // smallest subnormal
  assert.equal(toHalfBits(2 ** -25), 0x0000); // tie → even (0)
  assert.equal(toHalfBits(3 * 2 ** -25), 0x0002); // 1.5 ulp → 2
  assert.equal(toHalfBits(2 ** -14), 0x0400); // smallest normal
  assert.equal(toHalfBits(1 + 2 ** -11), 0x3c00); // tie → even
  assert.equal(toHalfBits(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(toHalfBits(-0), 0x8000);
  assert.ok(Number.isNaN(fromHalfBits(toHalfBits(NaN))));
  assert.equal(fromHalfBits(0x3555), 0.333251953125);
  assert.equal(fromHalfBits(0x0001), 2 ** -24);
  assert.equal(fromHalfBits(0x7c00), Infinity);
});

test('float16 arrays round-trip every half value exactly', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const back = float32ToFloat16(float16ToFloat32(all));
  for (let i = 0; i < 65536; i++) {
    const exp = (i >>> 10) & 0x1f;
    const isNaN = exp === 0x1f && (i & 0x3ff) !== 0;
    if (!isNaN) assert.equal(back[i], i, `half 0x${i.toString(16)}`);
  }
});
