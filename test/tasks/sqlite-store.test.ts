import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  isoTimestamp,
  leaseOf,
  SqliteTaskStore,
  TOO_MANY_INTERRUPTIONS_MESSAGE,
  type TaskOutcome,
  type TaskRecord,
} from '../../src/tasks/index.js';
import { tempStore } from './helpers.js';

const T0 = Date.parse('2026-11-22T10:00:00.123Z');

function fixture(t: import('node:test').TestContext) {
  const temp = tempStore(t);
  let now = T0;
  const store = new SqliteTaskStore(temp.open(), { clock: () => now });
  return {
    temp,
    store,
    advance(ms: number) {
      now += ms;
    },
    now: () => now,
  };
}

const request = { input: 'https://example.com/a.jpg', operations: { resizing: { width: 1000 }, adjustments: {} } };

test('create stores an ACCEPTED task with the request echoed exactly and contract-style timestamps', async (t) => {
  const { store } = fixture(t);
  const a = await store.create({ kind: 'edit', owner: 'key-1', request, maxAttempts: 3 });
  const b = await store.create({ kind: 'edit', owner: 'key-2', request: { z: 1, a: [2, { y: null }] }, maxAttempts: 3 });
  assert.equal(a.status, 'ACCEPTED');
  assert.ok(Number.isInteger(a.id));
  assert.ok(b.id > a.id, 'ids ascend');
  assert.equal(a.createdAt, '2026-11-22T10:00:00.123+00:00');
  assert.equal(a.updatedAt, a.createdAt);
  assert.deepEqual(
    [a.startedAt, a.finishedAt, a.result, a.errors, a.attempts, a.maxAttempts, a.leaseOwner, a.leaseUntil],
    [null, null, null, [], 0, 3, null, null],
  );
  const read = await store.get(b.id);
  // Key order survives too, so the echoed request reads as the client wrote it.
  assert.equal(JSON.stringify(read?.request), '{"z":1,"a":[2,{"y":null}]}');
  assert.equal(read?.owner, 'key-2');
  assert.equal(await store.get(b.id + 100), undefined);
});

test('create refuses a request that is not JSON and a bad attempt limit', async (t) => {
  const { store } = fixture(t);
  await assert.rejects(store.create({ kind: 'edit', owner: 'k', request: undefined, maxAttempts: 3 }), TypeError);
  await assert.rejects(store.create({ kind: 'edit', owner: 'k', request: {}, maxAttempts: 0 }), RangeError);
});

test('claim takes the oldest ACCEPTED task of the given kinds under a lease, once', async (t) => {
  const { store, advance, now } = fixture(t);
  const batch = await store.create({ kind: 'batch', owner: 'k', request: {}, maxAttempts: 3 });
  const first = await store.create({ kind: 'edit', owner: 'k', request: { n: 1 }, maxAttempts: 3 });
  const second = await store.create({ kind: 'edit', owner: 'k', request: { n: 2 }, maxAttempts: 3 });
  advance(50);
  const claimed = await store.claim(['edit'], 'worker-a', 1_000);
  assert.equal(claimed?.id, first.id);
  assert.equal(claimed?.status, 'PROCESSING');
  assert.equal(claimed?.attempts, 1);
  assert.equal(claimed?.leaseOwner, 'worker-a');
  assert.equal(claimed?.leaseUntil, now() + 1_000);
  assert.equal(claimed?.startedAt, isoTimestamp(now()));
  assert.equal((await store.claim(['edit'], 'worker-b', 1_000))?.id, second.id);
  assert.equal(await store.claim(['edit'], 'worker-b', 1_000), undefined);
  assert.equal(await store.claim([], 'worker-b', 1_000), undefined);
  assert.equal((await store.claim(['edit', 'batch'], 'worker-b', 1_000))?.id, batch.id);
});

test('complete, renew and release only work for the current holder of the current attempt', async (t) => {
  const { store, advance, now } = fixture(t);
  const created = await store.create({ kind: 'edit', owner: 'k', request, maxAttempts: 3 });
  const claimed = (await store.claim(['edit'], 'worker-a', 1_000)) as TaskRecord;
  const lease = leaseOf(claimed);
  const done = { status: 'DONE', result: { output_object: { width: 10 } } } as const;

  assert.equal(await store.complete({ ...lease, owner: 'worker-b' }, done), undefined);
  assert.equal(await store.complete({ ...lease, attempt: 2 }, done), undefined);
  assert.equal(await store.renew({ ...lease, owner: 'worker-b' }, 1_000), false);
  assert.equal(await store.release({ ...lease, attempt: 0 }), false);

  advance(400);
  assert.equal(await store.renew(lease, 1_000), true);
  assert.equal((await store.get(created.id))?.leaseUntil, now() + 1_000);

  advance(100);
  const finished = await store.complete(lease, done);
  assert.equal(finished?.status, 'DONE');
  assert.deepEqual(finished?.result, done.result);
  assert.deepEqual(finished?.errors, []);
  assert.equal(finished?.finishedAt, isoTimestamp(now()));
  assert.equal(finished?.leaseOwner, null);
  assert.equal(finished?.leaseUntil, null);

  // A finished task is final: nothing can change, renew, release or re-run it.
  const error: TaskOutcome = { status: 'ERROR', errors: [{ error: 'late', created_at: isoTimestamp(now()) }] };
  assert.equal(await store.complete(lease, error), undefined);
  assert.equal(await store.renew(lease, 1_000), false);
  assert.equal(await store.release(lease), false);
  assert.equal(await store.claim(['edit'], 'worker-a', 1_000), undefined);
  advance(1_000_000);
  assert.deepEqual(await store.recoverStalled({ kind: 'expired' }), []);
  assert.deepEqual(await store.recoverStalled({ kind: 'foreign', liveOwner: 'worker-z' }), []);
  assert.deepEqual(await store.get(created.id), finished);
});

test('an ERROR outcome keeps its error items and no result', async (t) => {
  const { store } = fixture(t);
  await store.create({ kind: 'edit', owner: 'k', request, maxAttempts: 3 });
  const claimed = (await store.claim(['edit'], 'w', 1_000)) as TaskRecord;
  const input = { ext: 'jpeg', mps: 0.25, mime: 'image/jpeg', format: 'JPEG', width: 500, height: 500 };
  const errors = [{ error: 'Image is too small.', created_at: '2026-11-22T10:00:01.000+00:00', input_object: input }];
  const ended = await store.complete(leaseOf(claimed), { status: 'ERROR', errors });
  assert.equal(ended?.status, 'ERROR');
  assert.equal(ended?.result, null);
  assert.deepEqual(ended?.errors, errors);
});

test('release hands a task back without using up an attempt', async (t) => {
  const { store } = fixture(t);
  const created = await store.create({ kind: 'edit', owner: 'k', request, maxAttempts: 3 });
  const claimed = (await store.claim(['edit'], 'w', 1_000)) as TaskRecord;
  assert.equal(await store.release(leaseOf(claimed)), true);
  const back = await store.get(created.id);
  assert.deepEqual([back?.status, back?.attempts, back?.leaseOwner, back?.leaseUntil], ['ACCEPTED', 0, null, null]);
  assert.equal((await store.claim(['edit'], 'w', 1_000))?.attempts, 1);
});

test('expired leases put tasks back, and a task out of attempts ends ERROR', async (t) => {
  const { store, advance, now } = fixture(t);
  const task = await store.create({ kind: 'edit', owner: 'k', request, maxAttempts: 2 });
  await store.claim(['edit'], 'dead-1', 1_000);

  advance(1_000); // lease_until == now: not yet expired
  assert.deepEqual(await store.recoverStalled({ kind: 'expired' }), []);
  assert.equal((await store.get(task.id))?.status, 'PROCESSING');

  advance(1);
  assert.deepEqual(await store.recoverStalled({ kind: 'expired' }), []);
  const requeued = await store.get(task.id);
  assert.deepEqual([requeued?.status, requeued?.attempts, requeued?.leaseOwner], ['ACCEPTED', 1, null]);

  assert.equal((await store.claim(['edit'], 'dead-2', 1_000))?.attempts, 2);
  advance(1_001);
  const ended = await store.recoverStalled({ kind: 'expired' });
  assert.equal(ended.length, 1);
  assert.equal(ended[0]?.id, task.id);
  assert.equal(ended[0]?.status, 'ERROR');
  assert.equal(ended[0]?.attempts, 2);
  assert.deepEqual(ended[0]?.errors, [{ error: TOO_MANY_INTERRUPTIONS_MESSAGE, created_at: isoTimestamp(now()) }]);
  assert.equal(await store.claim(['edit'], 'w', 1_000), undefined);
});

test('foreign recovery takes back tasks of other instances at once and leaves the live one alone', async (t) => {
  const { store } = fixture(t);
  const a = await store.create({ kind: 'edit', owner: 'k', request, maxAttempts: 3 });
  const b = await store.create({ kind: 'edit', owner: 'k', request, maxAttempts: 3 });
  await store.claim(['edit'], 'gone', 60_000);
  await store.claim(['edit'], 'me', 60_000);
  assert.deepEqual(await store.recoverStalled({ kind: 'foreign', liveOwner: 'me' }), []);
  assert.equal((await store.get(a.id))?.status, 'ACCEPTED');
  assert.equal((await store.get(b.id))?.status, 'PROCESSING');
  assert.equal((await store.get(b.id))?.leaseOwner, 'me');
});

test('tasks survive closing and reopening the file; the schema is created once', async (t) => {
  const temp = tempStore(t);
  const first = temp.open();
  const created = await new SqliteTaskStore(first).create({ kind: 'edit', owner: 'k', request, maxAttempts: 3 });
  first.close();
  const reopened = new SqliteTaskStore(temp.open());
  assert.deepEqual((await reopened.get(created.id))?.request, request);
  const next = await reopened.create({ kind: 'edit', owner: 'k', request, maxAttempts: 3 });
  assert.equal(next.id, created.id + 1);
});
