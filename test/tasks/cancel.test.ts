// Cancellation and back-pressure: the store's transitions, and the queue aborting handlers of cancelled tasks.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { AtelierError } from '../../src/errors.js';
import {
  leaseOf,
  QueueFullError,
  SqliteTaskStore,
  TaskInterruptedError,
  TaskQueue,
  type TaskHandler,
  type TaskOutcome,
  type TaskRecord,
  type TaskStore,
} from '../../src/tasks/index.js';
import { captureLogger, sleep, tempStore, waitFor } from './helpers.js';

const T0 = Date.parse('2026-11-22T10:00:00.123Z');
const request = { input: 'https://example.com/a.jpg', operations: {} };

function storeFixture(t: TestContext) {
  const temp = tempStore(t);
  let now = T0;
  const store = new SqliteTaskStore(temp.open(), { clock: () => now });
  return { temp, store, advance: (ms: number) => void (now += ms) };
}

test('store: an ACCEPTED task cancelled is never claimed; a second cancel changes nothing', async (t) => {
  const { store, advance } = storeFixture(t);
  const a = await store.create({ kind: 'edit', owner: 'k', request, maxAttempts: 3 });
  const b = await store.create({ kind: 'edit', owner: 'k', request, maxAttempts: 3 });
  advance(250);
  const result = await store.cancel(a.id);
  assert.equal(result.kind, 'cancelled');
  assert.ok(result.kind === 'cancelled');
  assert.equal(result.previous, 'ACCEPTED');
  assert.deepEqual(
    [result.task.status, result.task.result, result.task.errors, result.task.attempts, result.task.startedAt],
    ['CANCELLED', null, [], 0, null],
  );
  assert.equal(result.task.finishedAt, '2026-11-22T10:00:00.373+00:00');
  assert.equal(result.task.updatedAt, result.task.finishedAt);

  // The oldest ACCEPTED task is now b: a is skipped for ever.
  assert.equal((await store.claim(['edit'], 'w', 1_000))?.id, b.id);
  assert.equal(await store.claim(['edit'], 'w', 1_000), undefined);

  const again = await store.cancel(a.id);
  assert.equal(again.kind, 'unchanged');
  assert.equal(again.kind === 'unchanged' && again.task.status, 'CANCELLED');
  assert.deepEqual(await store.cancel(b.id + 1), { kind: 'missing' });
});

test('store: a PROCESSING task cancelled loses its lease: renew, complete and release all fail', async (t) => {
  const { store, advance } = storeFixture(t);
  const created = await store.create({ kind: 'edit', owner: 'k', request, maxAttempts: 3 });
  const claimed = await store.claim(['edit'], 'worker-1', 1_000);
  assert.ok(claimed);
  const lease = leaseOf(claimed);
  const result = await store.cancel(created.id);
  assert.ok(result.kind === 'cancelled');
  assert.equal(result.previous, 'PROCESSING');
  assert.deepEqual([result.task.leaseOwner, result.task.leaseUntil, result.task.attempts], [null, null, 1]);

  assert.equal(await store.renew(lease, 1_000), false);
  assert.equal(await store.complete(lease, { status: 'DONE', result: { output_object: {} } }), undefined);
  assert.equal(await store.release(lease), false);
  // Recovery only looks at PROCESSING tasks: a cancelled one is never put back or ended ERROR.
  advance(10_000);
  assert.deepEqual(await store.recoverStalled({ kind: 'expired' }), []);
  assert.deepEqual(await store.recoverStalled({ kind: 'foreign', liveOwner: 'someone-else' }), []);
  const final = await store.get(created.id);
  assert.deepEqual([final?.status, final?.result, final?.errors], ['CANCELLED', null, []]);
});

test('store: finished tasks are returned unchanged by cancel', async (t) => {
  const { store } = storeFixture(t);
  const outcomes: TaskOutcome[] = [
    { status: 'DONE', result: { n: 1 } },
    { status: 'ERROR', errors: [{ error: 'bad', created_at: '2026-11-22T10:00:00.123+00:00' }] },
  ];
  for (const outcome of outcomes) {
    await store.create({ kind: 'edit', owner: 'k', request, maxAttempts: 3 });
    const claimed = await store.claim(['edit'], 'w', 1_000);
    assert.ok(claimed);
    const ended = await store.complete(leaseOf(claimed), outcome);
    assert.ok(ended);
    const result = await store.cancel(claimed.id);
    assert.equal(result.kind, 'unchanged');
    assert.deepEqual(result.kind === 'unchanged' && result.task, ended);
  }
});

test('store: maxQueued bounds ACCEPTED tasks only, and refuses without creating anything', async (t) => {
  const { store, temp } = storeFixture(t);
  const created: TaskRecord[] = [];
  for (let i = 0; i < 3; i++) created.push(await store.create({ kind: 'edit', owner: 'k', request, maxAttempts: 3, maxQueued: 3 }));
  assert.equal(await store.countQueued(), 3);
  assert.equal(await store.countQueued(2), 2, 'the count stops at its limit');

  const refused = await store.create({ kind: 'edit', owner: 'k', request, maxAttempts: 3, maxQueued: 3 }).then(
    () => assert.fail('a fourth task was accepted'),
    (err: unknown) => err,
  );
  assert.ok(refused instanceof QueueFullError);
  assert.ok(refused instanceof AtelierError);
  assert.deepEqual([refused.status, refused.type, refused.code], [429, 'general', 'queue_full']);
  assert.deepEqual(refused.details, { max_queued_tasks: 3, retry_after_seconds: refused.retryAfterSeconds });
  assert.ok(refused.retryAfterSeconds >= 1);
  const db = temp.open();
  const rows = db.prepare('SELECT COUNT(*) AS n FROM tasks').get() as { n: number };
  assert.equal(rows.n, 3, 'the refused task left no row');

  // A claimed (PROCESSING) or cancelled task no longer waits, so each frees a place.
  await store.claim(['edit'], 'w', 1_000);
  await store.create({ kind: 'edit', owner: 'k', request, maxAttempts: 3, maxQueued: 3 });
  await store.cancel(created[1]!.id);
  await store.create({ kind: 'batch', owner: 'k2', request, maxAttempts: 3, maxQueued: 3 });
  await assert.rejects(store.create({ kind: 'batch', owner: 'k2', request, maxAttempts: 3, maxQueued: 3 }), QueueFullError);
  // Without a bound, creation always succeeds.
  await store.create({ kind: 'edit', owner: 'k', request, maxAttempts: 3 });
  assert.equal(await store.countQueued(), 4);
  await assert.rejects(store.create({ kind: 'edit', owner: 'k', request, maxAttempts: 3, maxQueued: 0 }), RangeError);
});

test('store: two connections filling the queue together never pass the bound', async (t) => {
  const temp = tempStore(t);
  const stores = [new SqliteTaskStore(temp.open()), new SqliteTaskStore(temp.open())];
  const attempts = Array.from({ length: 40 }, (_, i) =>
    stores[i % 2]!.create({ kind: 'edit', owner: 'k', request, maxAttempts: 3, maxQueued: 25 }).then(
      () => 'accepted',
      (err: unknown) => (err instanceof QueueFullError ? 'refused' : Promise.reject(err)),
    ),
  );
  const results = await Promise.all(attempts);
  assert.equal(results.filter((r) => r === 'accepted').length, 25);
  assert.equal(await stores[1]!.countQueued(), 25);
});

/** A queue on a fresh file; collects settled tasks; stopped without waiting when the test ends. */
function queueFixture(t: TestContext, handler: TaskHandler, concurrency = 1) {
  const temp = tempStore(t);
  const store = new SqliteTaskStore(temp.open());
  const logger = captureLogger();
  const queue = new TaskQueue({ store, handlers: { edit: handler }, concurrency, pollMs: 20, leaseMs: 1_000, logger });
  const settled: TaskRecord[] = [];
  queue.on('settled', (task) => void settled.push(task));
  t.after(() => queue.stop({ drain: false }));
  return { temp, store, queue, logger, settled };
}

test('queue: a cancelled ACCEPTED task never runs, and settles once as CANCELLED', async (t) => {
  let releaseFirst: () => void = () => {};
  const firstMayEnd = new Promise<void>((resolve) => (releaseFirst = resolve));
  const ran: number[] = [];
  const { queue, settled } = queueFixture(t, async (task) => {
    ran.push(task.id);
    if (ran.length === 1) await firstMayEnd;
    return { status: 'DONE', result: task.id };
  });
  await queue.start();
  const busy = await queue.submit('edit', request, 'k');
  await waitFor(() => ran.length === 1, 'the first task to start');
  const waiting = await queue.submit('edit', request, 'k');
  const later = await queue.submit('edit', request, 'k');

  const result = await queue.cancel(waiting.id);
  assert.ok(result.kind === 'cancelled');
  assert.equal(result.previous, 'ACCEPTED');
  releaseFirst();
  await waitFor(() => settled.length === 3, 'every task to settle');
  assert.deepEqual(ran, [busy.id, later.id]);
  assert.deepEqual(
    settled.map((task) => [task.id, task.status]),
    [[waiting.id, 'CANCELLED'], [busy.id, 'DONE'], [later.id, 'DONE']],
  );
  // Cancelling again neither settles again nor fails.
  assert.equal((await queue.cancel(waiting.id)).kind, 'unchanged');
  await sleep(30);
  assert.equal(settled.length, 3);
  assert.equal((await queue.get(waiting.id))?.status, 'CANCELLED');
});

test('queue: cancelling a PROCESSING task aborts its handler at once and discards its late outcome', async (t) => {
  let abortedAt = 0;
  let reason: unknown;
  const started: number[] = [];
  const { queue, store, settled, logger } = queueFixture(t, async (task, signal) => {
    started.push(task.id);
    if (started.length > 1) return { status: 'DONE', result: 'next' };
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    abortedAt = performance.now();
    reason = signal.reason;
    // Ignores the abort and reports success anyway: the queue must drop it.
    return { status: 'DONE', result: { output_object: { tmp_url: 'http://leak' } } };
  });
  await queue.start();
  const task = await queue.submit('edit', request, 'k');
  await waitFor(() => started.length === 1, 'the handler to start');
  const cancelledAt = performance.now();
  const result = await queue.cancel(task.id);
  assert.ok(result.kind === 'cancelled');
  assert.equal(result.previous, 'PROCESSING');
  await waitFor(() => abortedAt > 0, 'the abort', 1_000);
  assert.ok(abortedAt - cancelledAt < 100, `aborted after ${abortedAt - cancelledAt} ms`);
  assert.ok(reason instanceof TaskInterruptedError);
  assert.equal(reason.reason, 'cancelled');

  // The slot frees up once the handler returns, and the next task runs in it.
  const next = await queue.submit('edit', request, 'k');
  await waitFor(() => settled.some((s) => s.id === next.id), 'the next task');
  const final = await store.get(task.id);
  assert.deepEqual([final?.status, final?.result, final?.errors], ['CANCELLED', null, []]);
  assert.deepEqual(
    settled.filter((s) => s.id === task.id).map((s) => s.status),
    ['CANCELLED'],
    'settled exactly once, as CANCELLED',
  );
  assert.equal(logger.entries.filter((e) => e.level === 'error').length, 0);
});

test('queue: a handler that throws on abort records nothing either', async (t) => {
  const { queue, store, settled, logger } = queueFixture(t, async (_task, signal) => {
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    throw signal.reason;
  });
  await queue.start();
  const task = await queue.submit('edit', request, 'k');
  await waitFor(async () => (await store.get(task.id))?.status === 'PROCESSING', 'the task to start');
  await queue.cancel(task.id);
  await waitFor(() => queue.activeCount === 0, 'the handler to stop', 1_000);
  assert.deepEqual((await store.get(task.id))?.errors, []);
  assert.deepEqual(settled.map((s) => s.status), ['CANCELLED']);
  assert.equal(logger.entries.filter((e) => e.msg === 'task handler failed').length, 0);
});

test('queue: a task cancelled between its claim and its launch never starts', async (t) => {
  const temp = tempStore(t);
  const inner = new SqliteTaskStore(temp.open());
  // The claim's UPDATE runs at once, but its answer reaches the queue only when the test lets it.
  let claimed: () => void = () => {};
  const claimMade = new Promise<void>((resolve) => (claimed = resolve));
  let deliver: () => void = () => {};
  const delivered = new Promise<void>((resolve) => (deliver = resolve));
  let delayed = false;
  const store: TaskStore = Object.assign(Object.create(inner) as TaskStore, {
    async claim(...args: Parameters<TaskStore['claim']>) {
      const task = await inner.claim(...args);
      if (task && !delayed) {
        delayed = true;
        claimed();
        await delivered;
      }
      return task;
    },
  });
  const ran: number[] = [];
  const queue = new TaskQueue({
    store,
    handlers: { edit: async (task) => (ran.push(task.id), { status: 'DONE', result: null }) },
    concurrency: 1,
    pollMs: 20,
    logger: captureLogger(),
  });
  t.after(() => queue.stop({ drain: false }));
  await queue.start();
  const first = await queue.submit('edit', request, 'k');
  await claimMade;
  const result = await queue.cancel(first.id);
  assert.ok(result.kind === 'cancelled');
  assert.equal(result.previous, 'PROCESSING');
  deliver();
  const second = await queue.submit('edit', request, 'k');
  await waitFor(async () => (await inner.get(second.id))?.status === 'DONE', 'the next task');
  assert.deepEqual(ran, [second.id]);
  assert.equal((await inner.get(first.id))?.status, 'CANCELLED');
});

test('queue: a task cancelled by another process is aborted at its next lease renewal', async (t) => {
  const temp = tempStore(t);
  let reason: unknown;
  const signals: AbortSignal[] = [];
  const worker = new TaskQueue({
    store: new SqliteTaskStore(temp.open()),
    handlers: {
      edit: async (_task, signal) => {
        signals.push(signal);
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        reason = signal.reason;
        return { status: 'DONE', result: 'late' };
      },
    },
    concurrency: 1,
    leaseMs: 150, // renewed every 50 ms
    pollMs: 20, // finds tasks submitted by the other process
    instanceId: 'worker-process',
    exclusive: false,
    logger: captureLogger(),
  });
  // The API process: same file, another connection; never started, so it only submits and cancels.
  const api = new TaskQueue({
    store: new SqliteTaskStore(temp.open()),
    handlers: { edit: async () => ({ status: 'DONE', result: null }) },
    instanceId: 'api-process',
    exclusive: false,
    logger: captureLogger(),
  });
  t.after(() => worker.stop({ drain: false }));
  const workerSettled: TaskRecord[] = [];
  const apiSettled: TaskRecord[] = [];
  worker.on('settled', (task) => void workerSettled.push(task));
  api.on('settled', (task) => void apiSettled.push(task));
  await worker.start();
  const task = await api.submit('edit', request, 'k');
  await waitFor(() => signals.length === 1, 'the worker to start the task');
  const result = await api.cancel(task.id);
  assert.equal(result.kind, 'cancelled');
  const cancelledAt = Date.now();
  await waitFor(() => signals[0]?.aborted, 'the remote abort', 1_000);
  assert.ok(Date.now() - cancelledAt < 150, 'seen within one renewal interval (plus slack)');
  assert.ok(reason instanceof TaskInterruptedError);
  assert.equal(reason.reason, 'cancelled');
  await waitFor(() => worker.activeCount === 0, 'the worker to let go');
  assert.equal((await api.get(task.id))?.status, 'CANCELLED');
  assert.deepEqual(apiSettled.map((s) => s.status), ['CANCELLED']);
  assert.deepEqual(workerSettled, [], 'only the process that cancelled announces it');
});

test('queue: submissions past maxQueued are refused with QueueFullError and create nothing', async (t) => {
  const temp = tempStore(t);
  const store = new SqliteTaskStore(temp.open());
  // Not started: every submission stays ACCEPTED.
  const queue = new TaskQueue({ store, handlers: { edit: async () => ({ status: 'DONE', result: null }) }, maxQueued: 2 });
  const a = await queue.submit('edit', request, 'k');
  await queue.submit('edit', request, 'k');
  await assert.rejects(queue.submit('edit', request, 'k'), QueueFullError);
  assert.equal(await queue.queuedCount(), 2);
  await queue.cancel(a.id);
  const c = await queue.submit('edit', request, 'k');
  assert.equal(c.status, 'ACCEPTED');
  assert.throws(() => new TaskQueue({ store, handlers: {}, maxQueued: 0 }), RangeError);
});
