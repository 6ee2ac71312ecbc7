// The batch item gate: parallelism follows the slots other tasks leave, never below one, first come first served.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ItemGate, type Release } from '../../src/services/batch-gate.js';

const never = new AbortController().signal;

async function settle(): Promise<void> {
  await new Promise((r) => setImmediate(r));
}

test('grants up to the capacity, then hands freed slots to waiters in order', async () => {
  const gate = new ItemGate(() => 2);
  const a = await gate.acquire(never);
  const b = await gate.acquire(never);
  assert.ok(a && b);
  const order: string[] = [];
  const c = gate.acquire(never).then((r) => (order.push('c'), r));
  const d = gate.acquire(never).then((r) => (order.push('d'), r));
  await settle();
  assert.deepEqual([gate.running, gate.waiting], [2, 2]);
  a();
  a(); // a second call of the same release frees nothing more
  await settle();
  assert.deepEqual(order, ['c']);
  assert.deepEqual([gate.running, gate.waiting], [2, 1]);
  b();
  await settle();
  assert.deepEqual(order, ['c', 'd']);
  (await c)!();
  (await d)!();
  assert.equal(gate.running, 0);
});

test('capacity below one still lets one item run, so a busy server never stops a batch', async () => {
  const gate = new ItemGate(() => -3);
  const first = await gate.acquire(never);
  assert.ok(first);
  const slot: { second?: Release } = {};
  void gate.acquire(never).then((r) => (slot.second = r));
  await settle();
  assert.deepEqual([gate.running, gate.waiting], [1, 1], 'the second item waits');
  first();
  await settle();
  assert.ok(slot.second, 'the waiter got the freed slot');
  slot.second();
});

test('waiters start when the capacity grows, without any release (other tasks ended)', async () => {
  // The gate's re-check timer is unref'd (it must not keep a server alive); this keeps the test's loop alive.
  const alive = setInterval(() => {}, 1000);
  let capacity = 1;
  const gate = new ItemGate(() => capacity, 10);
  const held = await gate.acquire(never);
  let granted = false;
  const next = gate.acquire(never).then((r) => ((granted = true), r));
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(granted, false);
  capacity = 2;
  const release = await next;
  assert.ok(granted && release);
  assert.equal(gate.running, 2);
  held!();
  release();
  clearInterval(alive);
});

test('an aborted waiter gets nothing and leaves the line', async () => {
  const gate = new ItemGate(() => 1);
  const held = await gate.acquire(never);
  const controller = new AbortController();
  const waiting = gate.acquire(controller.signal);
  await settle();
  assert.equal(gate.waiting, 1);
  controller.abort();
  assert.equal(await waiting, undefined);
  assert.equal(gate.waiting, 0);
  held!();
  assert.equal(gate.running, 0);
  assert.equal(await gate.acquire(controller.signal), undefined, 'an aborted signal never gets a slot');
});
