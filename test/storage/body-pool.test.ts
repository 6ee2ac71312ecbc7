import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BodyPool, slabSizeFor } from '../../src/storage/body-pool.js';

const KiB = 1024;

test('slab sizes are the next power of two from the minimum', () => {
  assert.equal(slabSizeFor(1, 256 * KiB), 256 * KiB);
  assert.equal(slabSizeFor(256 * KiB, 256 * KiB), 256 * KiB);
  assert.equal(slabSizeFor(256 * KiB + 1, 256 * KiB), 512 * KiB);
  assert.equal(slabSizeFor(3_600_000, 256 * KiB), 4096 * KiB);
});

test('a released slab is lent again, and only after it is released', () => {
  const pool = new BodyPool({ minBytes: 64 * KiB });
  const a = pool.borrow(100 * KiB);
  assert.equal(a.data.length, 100 * KiB);
  a.data.fill(1);
  const b = pool.borrow(100 * KiB);
  assert.notEqual(b.data.buffer, a.data.buffer, 'a borrowed slab is never lent twice');
  a.release();
  assert.equal(pool.idleBytes, 128 * KiB);
  const c = pool.borrow(70 * KiB);
  assert.equal(c.data.buffer, a.data.buffer, 'the same size class reuses the idle slab');
  assert.equal(c.data.length, 70 * KiB);
  assert.equal(pool.idleBytes, 0);
  b.release();
  c.release();
  pool.trim();
});

test('release is idempotent: a double release does not pool the slab twice', () => {
  const pool = new BodyPool({ minBytes: 64 * KiB });
  const a = pool.borrow(64 * KiB);
  a.release();
  a.release();
  assert.equal(pool.idleBytes, 64 * KiB);
  const b = pool.borrow(64 * KiB);
  const c = pool.borrow(64 * KiB);
  assert.notEqual(b.data.buffer, c.data.buffer);
  pool.trim();
});

test('small bodies are plain buffers and never pooled', () => {
  const pool = new BodyPool({ minBytes: 64 * KiB });
  const a = pool.borrow(1000);
  assert.equal(a.data.length, 1000);
  a.release();
  assert.equal(pool.idleBytes, 0);
});

test('the pool keeps at most maxPooledBytes idle, and drops idle slabs after idleMs', async () => {
  const pool = new BodyPool({ minBytes: 64 * KiB, maxPooledBytes: 128 * KiB, idleMs: 30 });
  const borrowed = [pool.borrow(64 * KiB), pool.borrow(64 * KiB), pool.borrow(64 * KiB)];
  for (const b of borrowed) b.release();
  assert.equal(pool.idleBytes, 128 * KiB);
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(pool.idleBytes, 0);
});
