import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { TaskStatus } from '../../src/contract/types.js';
import { ImageError } from '../../src/errors.js';
import {
  INTERNAL_ERROR_MESSAGE,
  SqliteTaskStore,
  TaskInterruptedError,
  TaskQueue,
  type TaskHandler,
  type TaskQueueOptions,
  type TaskRecord,
} from '../../src/tasks/index.js';
import { captureLogger, sleep, tempStore, waitFor } from './helpers.js';

const ISO_WITH_OFFSET = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/;
const request = { input: 'https://example.com/a.jpg', operations: { resizing: { width: 1000 } } };

/** A queue on a fresh file, stopped (without waiting) when the test ends; collects settled tasks. */
function setup(t: TestContext, handler: TaskHandler, options: Partial<TaskQueueOptions> = {}) {
  const temp = tempStore(t);
  const store = new SqliteTaskStore(temp.open());
  const logger = captureLogger();
  const queue = new TaskQueue({ store, handlers: { edit: handler }, pollMs: 20, leaseMs: 1_000, logger, ...options });
  const settled: TaskRecord[] = [];
  queue.on('settled', (task) => void settled.push(task));
  t.after(() => queue.stop({ drain: false }));
  const settledTask = (id: number) => waitFor(() => settled.find((task) => task.id === id), `task ${id} to settle`);
  return { temp, store, queue, logger, settled, settledTask };
}

test('a task goes ACCEPTED → PROCESSING → DONE and keeps its request and result', async (t) => {
  const seen: { status: TaskStatus | undefined; leaseOwner: string | null | undefined }[] = [];
  const { store, queue, settledTask } = setup(t, async (task) => {
    const now = await store.get(task.id);
    seen.push({ status: now?.status, leaseOwner: now?.leaseOwner });
    return { status: 'DONE', result: { output_object: { width: 1000, height: 750 }, echo: task.request } };
  });
  const accepted = await queue.submit('edit', request, 'key-1');
  assert.equal(accepted.status, 'ACCEPTED');
  assert.match(accepted.createdAt, ISO_WITH_OFFSET);
  assert.deepEqual(accepted.request, request);
  assert.equal(accepted.owner, 'key-1');
  await queue.start();

  const done = await settledTask(accepted.id);
  assert.deepEqual(seen, [{ status: 'PROCESSING', leaseOwner: queue.instanceId }]);
  assert.equal(done.status, 'DONE');
  assert.deepEqual(done.result, { output_object: { width: 1000, height: 750 }, echo: request });
  assert.deepEqual(done.errors, []);
  assert.equal(done.attempts, 1);
  assert.equal(done.leaseOwner, null);
  assert.match(done.startedAt ?? '', ISO_WITH_OFFSET);
  assert.match(done.finishedAt ?? '', ISO_WITH_OFFSET);
  assert.ok((done.finishedAt ?? '') >= (done.startedAt ?? '~') && (done.startedAt ?? '') >= done.createdAt);
  assert.deepEqual(await queue.get(accepted.id), done);
});

test('a returned ERROR outcome is stored as given', async (t) => {
  const input = { ext: 'jpeg', mps: 0.01, mime: 'image/jpeg', format: 'JPEG', width: 100, height: 100 };
  const errors = [{ error: 'Image is too small.', created_at: '2026-11-22T10:00:00.000+00:00', input_object: input }];
  const { queue, settledTask } = setup(t, async () => ({ status: 'ERROR', errors }));
  await queue.start();
  const task = await queue.submit('edit', request, 'key-1');
  const ended = await settledTask(task.id);
  assert.equal(ended.status, 'ERROR');
  assert.deepEqual(ended.errors, errors);
  assert.equal(ended.result, null);
});

test('a thrown AtelierError becomes one error item with its message', async (t) => {
  const { queue, logger, settledTask } = setup(t, async () => {
    throw new ImageError('image_too_small', 'The input image is too small.');
  });
  await queue.start();
  const task = await queue.submit('edit', request, 'key-1');
  const ended = await settledTask(task.id);
  assert.equal(ended.status, 'ERROR');
  assert.equal(ended.errors.length, 1);
  assert.deepEqual(Object.keys(ended.errors[0] ?? {}), ['error', 'created_at']);
  assert.equal(ended.errors[0]?.error, 'The input image is too small.');
  assert.match(ended.errors[0]?.created_at ?? '', ISO_WITH_OFFSET);
  assert.ok(logger.entries.some((e) => e.level === 'error' && (e.obj as { err?: unknown }).err instanceof ImageError));
});

test('any other throw is reported generically and logged in full, never exposed', async (t) => {
  const secret = new Error('ENOENT: /srv/atelier/private/model.onnx');
  const { queue, logger, settledTask } = setup(t, async () => {
    throw secret;
  });
  await queue.start();
  const task = await queue.submit('edit', request, 'key-1');
  const ended = await settledTask(task.id);
  assert.deepEqual(
    ended.errors.map((e) => e.error),
    [INTERNAL_ERROR_MESSAGE],
  );
  assert.ok(!JSON.stringify(ended).includes('/srv/atelier'));
  assert.ok(logger.entries.some((e) => e.level === 'error' && (e.obj as { err?: unknown }).err === secret));
});

test('a malformed outcome fails the task instead of storing garbage', async (t) => {
  const { queue, logger, settledTask } = setup(t, async () => ({ status: 'FINE' }) as never);
  await queue.start();
  const task = await queue.submit('edit', request, 'key-1');
  const ended = await settledTask(task.id);
  assert.equal(ended.status, 'ERROR');
  assert.deepEqual(
    ended.errors.map((e) => e.error),
    [INTERNAL_ERROR_MESSAGE],
  );
  assert.ok(logger.entries.some((e) => e.level === 'error' && /malformed/.test(e.msg ?? '')));
});

test('no more handlers run at once than the concurrency allows, and the limit is reached', async (t) => {
  let current = 0;
  let peak = 0;
  const { queue, settled } = setup(
    t,
    async () => {
      current += 1;
      peak = Math.max(peak, current);
      await sleep(25);
      current -= 1;
      return { status: 'DONE', result: null };
    },
    { concurrency: 3 },
  );
  for (let i = 0; i < 12; i += 1) await queue.submit('edit', { i }, 'key-1');
  await queue.start();
  await waitFor(() => settled.length === 12, 'all tasks to settle');
  assert.equal(peak, 3);
  assert.ok(settled.every((task) => task.status === 'DONE'));
});

test('submit wakes an idle worker at once instead of waiting for the next poll', async (t) => {
  const { queue, settledTask } = setup(t, async () => ({ status: 'DONE', result: 1 }), { pollMs: 60_000 });
  await queue.start();
  await sleep(20); // the queue has looked, found nothing, and is idle
  const started = Date.now();
  const task = await queue.submit('edit', request, 'key-1');
  await settledTask(task.id);
  assert.ok(Date.now() - started < 200, `took ${Date.now() - started} ms`);
});

test('two queues on one database file never run the same task twice', async (t) => {
  const temp = tempStore(t);
  const runs = new Map<number, number>();
  const ranBy = { a: 0, b: 0 };
  const handler =
    (name: 'a' | 'b'): TaskHandler =>
    async (task) => {
      runs.set(task.id, (runs.get(task.id) ?? 0) + 1);
      ranBy[name] += 1;
      await sleep(task.id % 3);
      return { status: 'DONE', result: name };
    };
  const options = { pollMs: 5, leaseMs: 1_000, concurrency: 4, logger: captureLogger() };
  const a = new TaskQueue({ store: new SqliteTaskStore(temp.open()), handlers: { edit: handler('a') }, ...options });
  const b = new TaskQueue({ store: new SqliteTaskStore(temp.open()), handlers: { edit: handler('b') }, ...options });
  t.after(() => Promise.all([a.stop({ drain: false }), b.stop({ drain: false })]));
  const settled: number[] = [];
  a.on('settled', (task) => void settled.push(task.id));
  b.on('settled', (task) => void settled.push(task.id));
  await Promise.all([a.start(), b.start()]);

  const total = 200;
  const ids: number[] = [];
  for (let i = 0; i < total; i += 1) ids.push((await (i % 2 ? a : b).submit('edit', { i }, 'key-1')).id);
  await waitFor(() => settled.length >= total, 'all tasks to settle', 10_000);
  await sleep(30); // let any (wrong) second run show up
  assert.equal(settled.length, total);
  assert.deepEqual([...settled].sort((x, y) => x - y), ids);
  assert.ok([...runs.values()].every((count) => count === 1));
  assert.equal(runs.size, total);
  assert.ok(ranBy.a > 0 && ranBy.b > 0, `both queues worked: ${JSON.stringify(ranBy)}`);
});

test('stop() lets running tasks finish, claims nothing more, and a restart runs the rest', async (t) => {
  let started = 0;
  const handler: TaskHandler = async () => {
    started += 1;
    await sleep(60);
    return { status: 'DONE', result: 'ok' };
  };
  const { temp, store, queue, settled } = setup(t, handler, { concurrency: 2 });
  const ids: number[] = [];
  for (let i = 0; i < 4; i += 1) ids.push((await queue.submit('edit', { i }, 'key-1')).id);
  await queue.start();
  await waitFor(() => queue.activeCount === 2, 'two running');
  await queue.stop();
  assert.equal(queue.activeCount, 0);
  assert.equal(started, 2);
  const statuses = await Promise.all(ids.map(async (id) => (await store.get(id))?.status));
  assert.deepEqual(statuses, ['DONE', 'DONE', 'ACCEPTED', 'ACCEPTED']);
  assert.equal(settled.length, 2);
  await sleep(50);
  assert.equal(started, 2, 'nothing is claimed after stop');

  const next = new TaskQueue({ store: new SqliteTaskStore(temp.open()), handlers: { edit: handler }, pollMs: 20 });
  t.after(() => next.stop({ drain: false }));
  await next.start();
  await waitFor(async () => (await store.get(ids[3] ?? 0))?.status === 'DONE', 'the rest to finish');
  assert.equal((await store.get(ids[2] ?? 0))?.status, 'DONE');
});

test('stop() interrupts a handler that outlives the timeout and hands its task back unused', async (t) => {
  let signal: AbortSignal | undefined;
  const { store, queue, settled } = setup(t, (_task, s) => {
    signal = s;
    return new Promise(() => {});
  });
  await queue.start();
  const task = await queue.submit('edit', request, 'key-1');
  await waitFor(() => signal, 'the handler to start');
  const before = Date.now();
  const stopping = queue.stop({ drain: true, timeoutMs: 80 });
  await queue.stop(); // a second call waits for the same shutdown
  assert.ok(Date.now() - before >= 70);
  await stopping;
  assert.equal(signal?.aborted, true);
  assert.ok(signal?.reason instanceof TaskInterruptedError);
  assert.equal((signal?.reason as TaskInterruptedError).reason, 'shutdown');
  const back = await store.get(task.id);
  assert.deepEqual([back?.status, back?.attempts, back?.leaseOwner], ['ACCEPTED', 0, null]);
  assert.equal(settled.length, 0);
  assert.equal(queue.activeCount, 0);
});

test('stop({ drain: false }) aborts at once, and an aborted handler that then throws records nothing', async (t) => {
  let aborted = false;
  const { store, queue, settled } = setup(t, (_task, signal) => {
    return new Promise((_resolve, reject) =>
      signal.addEventListener('abort', () => {
        aborted = true;
        reject(signal.reason);
      }),
    );
  });
  await queue.start();
  const task = await queue.submit('edit', request, 'key-1');
  await waitFor(async () => (await store.get(task.id))?.status === 'PROCESSING', 'the task to start');
  const before = Date.now();
  await queue.stop({ drain: false });
  assert.ok(Date.now() - before < 50);
  await sleep(10);
  assert.equal(aborted, true);
  assert.equal((await store.get(task.id))?.status, 'ACCEPTED');
  assert.deepEqual((await store.get(task.id))?.errors, []);
  assert.equal(settled.length, 0);
});

test('a worker that loses its lease is aborted, its late result is discarded, and the task runs again', async (t) => {
  const temp = tempStore(t);
  const store = new SqliteTaskStore(temp.open());
  const signals: AbortSignal[] = [];
  const queue = new TaskQueue({
    store,
    handlers: {
      edit: async (task, signal) => {
        signals.push(signal);
        if (task.attempts === 1) {
          await new Promise((resolve) => signal.addEventListener('abort', resolve));
          return { status: 'DONE', result: 'stale' }; // ignores the abort on purpose
        }
        return { status: 'DONE', result: 'fresh' };
      },
    },
    leaseMs: 90,
    pollMs: 10_000, // only the lease and the wake-ups matter here
    logger: captureLogger(),
  });
  t.after(() => queue.stop({ drain: false }));
  const settled: TaskRecord[] = [];
  queue.on('settled', (task) => void settled.push(task));
  await queue.start();
  const task = await queue.submit('edit', request, 'key-1');
  await waitFor(() => signals.length === 1, 'the first run');
  // Another process decides the lease ran out (say this one stalled) and takes the task back.
  const later = new SqliteTaskStore(temp.open(), { clock: () => Date.now() + 60_000 });
  await later.recoverStalled({ kind: 'expired' });
  await waitFor(() => settled.length === 1, 'the task to settle');
  assert.equal((signals[0]?.reason as TaskInterruptedError).reason, 'lease-lost');
  const final = await store.get(task.id);
  assert.deepEqual([final?.status, final?.result, final?.attempts], ['DONE', 'fresh', 2]);
  assert.deepEqual(settled.map((s) => s.result), ['fresh']);
});

test('a failing settled listener is logged and does not stop the others or the queue', async (t) => {
  const { queue, logger } = setup(t, async (task) => ({ status: 'DONE', result: task.id }));
  const heard: number[] = [];
  queue.on('settled', () => {
    throw new Error('webhook down');
  });
  queue.on('settled', async () => {
    throw new Error('async webhook down');
  });
  const listener = (task: TaskRecord) => void heard.push(task.id);
  queue.on('settled', listener);
  await queue.start();
  const first = await queue.submit('edit', request, 'key-1');
  await waitFor(() => heard.length === 1, 'the first task');
  queue.off('settled', listener);
  const second = await queue.submit('edit', request, 'key-1');
  await waitFor(async () => (await queue.get(second.id))?.status === 'DONE', 'the second task');
  await sleep(10);
  assert.deepEqual(heard, [first.id]);
  const failures = logger.entries.filter((e) => e.msg === 'settled listener failed');
  assert.equal(failures.length, 4);
});

test('submit refuses a kind without a handler; options are checked', async (t) => {
  const { queue, store } = setup(t, async () => ({ status: 'DONE', result: null }));
  await assert.rejects(queue.submit('batch', request, 'key-1'), /No handler for task kind "batch"/);
  assert.throws(() => new TaskQueue({ store, handlers: {}, concurrency: 0 }), RangeError);
  assert.throws(() => new TaskQueue({ store, handlers: {}, leaseMs: 1.5 }), RangeError);
  assert.ok(new TaskQueue({ store, handlers: {} }).concurrency >= 1);
});
