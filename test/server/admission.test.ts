import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Admission } from '../../src/services/admission.js';
import { AtelierError } from '../../src/errors.js';

test('runs at most `concurrency` at once, queues the rest in order, refuses past the queue bound', async () => {
  const adm = new Admission(2, 2);
  let active = 0;
  let peak = 0;
  const order: number[] = [];
  const gates: (() => void)[] = [];
  const job = (i: number) =>
    adm.run(async () => {
      active++;
      peak = Math.max(peak, active);
      await new Promise<void>((r) => gates.push(r));
      order.push(i);
      active--;
      return i;
    });
  const running = [job(1), job(2), job(3), job(4)];
  await assert.rejects(job(5), (e: unknown) => e instanceof AtelierError && e.status === 429);
  assert.deepEqual(adm.stats, { running: 2, waiting: 2 });
  while (order.length < 4) {
    await new Promise((r) => setImmediate(r));
    gates.shift()?.();
  }
  assert.deepEqual(await Promise.all(running), [1, 2, 3, 4]);
  assert.equal(peak, 2);
  assert.deepEqual(adm.stats, { running: 0, waiting: 0 });
});

test('a failing job frees its slot', async () => {
  const adm = new Admission(1, 0);
  await assert.rejects(adm.run(async () => { throw new Error('boom'); }));
  assert.equal(await adm.run(async () => 'ok'), 'ok');
});
