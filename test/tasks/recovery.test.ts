// Crash recovery and cross-process claiming with real processes: workers are separate Node processes on the same
// database file, and a crash is a SIGKILL in the middle of a handler.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import {
  SqliteTaskStore,
  TaskQueue,
  TOO_MANY_INTERRUPTIONS_MESSAGE,
  type TaskHandler,
  type TaskQueueOptions,
  type TaskRecord,
} from '../../src/tasks/index.js';
import { captureLogger, sleep, spawnWorker, tempStore, waitFor, type TempStore } from './helpers.js';

const request = { input: 'https://example.com/a.jpg', operations: { resizing: { width: 64 } } };

/** Starts a worker process whose handler hangs, waits until it holds the task, then kills it mid-task. */
async function crashWhileProcessing(
  t: TestContext,
  temp: TempStore,
  options: { leaseMs: number; exclusive: boolean },
): Promise<{ instance: string; attempt: number }> {
  const child = spawnWorker(t, { db: temp.file, mode: 'hang', pollMs: 20, concurrency: 1, ...options });
  const [, instance = ''] = await child.line('instance ');
  const [, , attempt = ''] = await child.line('claimed ');
  child.process.kill('SIGKILL');
  const { signal } = await child.exited;
  assert.equal(signal, 'SIGKILL');
  return { instance, attempt: Number(attempt) };
}

/** The kind of handler the contract asks for: deterministic, writing its output under a name from the task id. */
function deterministicHandler(outDir: string, calls: number[]): TaskHandler {
  return async (task) => {
    calls.push(task.id);
    const file = join(outDir, `${task.id}.json`);
    writeFileSync(file, JSON.stringify({ resized: (task.request as typeof request).operations.resizing.width }));
    return { status: 'DONE', result: { output: file } };
  };
}

function recoveringQueue(t: TestContext, temp: TempStore, handler: TaskHandler, options: Partial<TaskQueueOptions>) {
  const queue = new TaskQueue({
    store: new SqliteTaskStore(temp.open()),
    handlers: { edit: handler },
    pollMs: 20,
    logger: captureLogger(),
    ...options,
  });
  const settled: TaskRecord[] = [];
  queue.on('settled', (task) => void settled.push(task));
  t.after(() => queue.stop({ drain: false }));
  return { queue, settled };
}

test('a task cut off by a crash is taken back at start-up and ends DONE exactly once', async (t) => {
  const temp = tempStore(t);
  const store = new SqliteTaskStore(temp.open());
  const task = await store.create({ kind: 'edit', owner: 'key-1', request, maxAttempts: 3 });

  // A long lease: only the start-up rule (no other process can own this file) can bring it back quickly.
  const crash = await crashWhileProcessing(t, temp, { leaseMs: 60_000, exclusive: true });
  assert.equal(crash.attempt, 1);
  const orphan = await store.get(task.id);
  assert.deepEqual([orphan?.status, orphan?.leaseOwner, orphan?.attempts], ['PROCESSING', crash.instance, 1]);

  const calls: number[] = [];
  const { queue, settled } = recoveringQueue(t, temp, deterministicHandler(temp.dir, calls), { exclusive: true });
  assert.notEqual(queue.instanceId, crash.instance);
  await queue.start();
  await waitFor(() => settled.length === 1, 'the recovered task to settle', 3_000);
  await sleep(60); // a few poll ticks: nothing may run it again
  assert.deepEqual(calls, [task.id]);
  assert.equal(settled.length, 1);
  const done = await store.get(task.id);
  assert.deepEqual([done?.status, done?.attempts, done?.leaseOwner], ['DONE', 2, null]);
  assert.deepEqual(done?.result, { output: join(temp.dir, `${task.id}.json`) });
  assert.deepEqual(JSON.parse(readFileSync(join(temp.dir, `${task.id}.json`), 'utf8')), { resized: 64 });
});

test('with a shared store a crashed task waits for its lease to run out, then ends DONE', async (t) => {
  const temp = tempStore(t);
  const store = new SqliteTaskStore(temp.open());
  const task = await store.create({ kind: 'edit', owner: 'key-1', request, maxAttempts: 3 });
  await crashWhileProcessing(t, temp, { leaseMs: 400, exclusive: false });
  const leaseUntil = (await store.get(task.id))?.leaseUntil ?? 0;
  assert.ok(leaseUntil > Date.now(), 'the dead worker still holds an unexpired lease');

  const calls: number[] = [];
  const runAt: number[] = [];
  const handler = deterministicHandler(temp.dir, calls);
  const { queue, settled } = recoveringQueue(
    t,
    temp,
    async (record, signal) => {
      runAt.push(Date.now());
      return handler(record, signal);
    },
    { exclusive: false, leaseMs: 400 },
  );
  await queue.start();
  await waitFor(() => settled.length === 1, 'the task to settle after its lease ran out', 5_000);
  assert.ok((runAt[0] ?? 0) > leaseUntil, 'not taken before the lease ran out');
  assert.deepEqual(calls, [task.id]);
  const done = await store.get(task.id);
  assert.deepEqual([done?.status, done?.attempts], ['DONE', 2]);
});

test('a task that crashes its worker every time ends ERROR after its attempts are used up', async (t) => {
  const temp = tempStore(t);
  const store = new SqliteTaskStore(temp.open());
  const task = await store.create({ kind: 'edit', owner: 'key-1', request, maxAttempts: 3 });
  const attempts: number[] = [];
  // Each new worker takes the previous one's orphan back at start-up and dies on it in turn.
  for (let i = 0; i < 3; i += 1) {
    attempts.push((await crashWhileProcessing(t, temp, { leaseMs: 60_000, exclusive: true })).attempt);
  }
  assert.deepEqual(attempts, [1, 2, 3]);

  const calls: number[] = [];
  const { queue, settled } = recoveringQueue(t, temp, deterministicHandler(temp.dir, calls), { exclusive: true });
  await queue.start();
  await waitFor(() => settled.length === 1, 'the task to be given up', 3_000);
  await sleep(60);
  assert.deepEqual(calls, [], 'never run a fourth time');
  const ended = await store.get(task.id);
  assert.equal(ended?.status, 'ERROR');
  assert.equal(ended?.attempts, 3);
  assert.equal(ended?.result, null);
  assert.deepEqual(
    ended?.errors.map((e) => e.error),
    [TOO_MANY_INTERRUPTIONS_MESSAGE],
  );
  assert.deepEqual(settled[0], ended);
});

test('worker processes racing on one file run every task exactly once', async (t) => {
  const temp = tempStore(t);
  const runsDir = join(temp.dir, 'runs');
  mkdirSync(runsDir);
  const store = new SqliteTaskStore(temp.open());
  const total = 240;
  for (let i = 0; i < total; i += 1) await store.create({ kind: 'edit', owner: 'key-1', request: { i }, maxAttempts: 3 });

  const options = { db: temp.file, mode: 'work', leaseMs: 5_000, pollMs: 10, concurrency: 4, exclusive: false, runsDir };
  const workers = [spawnWorker(t, options), spawnWorker(t, options), spawnWorker(t, options)];
  await Promise.all(workers.map((w) => w.line('instance ')));
  for (const worker of workers) worker.send('go\n'); // all start claiming at about the same moment

  const allDone = async () => {
    const tasks = await Promise.all(Array.from({ length: total }, (_, i) => store.get(i + 1)));
    return tasks.every((task) => task?.status === 'DONE') && tasks;
  };
  const tasks = await waitFor(allDone, 'every task to finish', 20_000);
  for (const worker of workers) worker.process.kill('SIGTERM');
  const exits = await Promise.all(workers.map((w) => w.exited));
  assert.deepEqual(
    exits.map((e) => e.code),
    [0, 0, 0],
  );

  const runs = readdirSync(runsDir).map((name) => name.split('-').map(Number));
  assert.equal(runs.length, total, 'one run per task');
  const byTask = new Map(runs.map(([id, pid, attempt]) => [id, { pid, attempt }]));
  assert.equal(byTask.size, total, 'no task ran twice');
  for (const task of tasks) {
    if (!task) continue;
    const run = byTask.get(task.id);
    assert.equal(run?.attempt, 1);
    assert.equal(task.attempts, 1);
    assert.deepEqual(task.result, { pid: run?.pid }, 'the recorded result comes from the run that happened');
  }
  const pids = new Set(runs.map(([, pid]) => pid));
  assert.ok(pids.size >= 2, `work was shared between processes (${pids.size})`);
});
