// The worker pool. Like BullMQ it keeps three concerns apart: producing (submit persists a task), dispatching
// (claim under a lease, at most `concurrency` at a time) and storage (every state change is one TaskStore call,
// so this file holds no SQL and works unchanged on another store).
//
// Life of a task: submit → ACCEPTED → claim → PROCESSING (lease renewed while the handler runs) → DONE | ERROR.
// A worker that dies leaves its task PROCESSING with a lease nobody renews; the poll tick (or, for a store this
// process owns alone, start-up) puts it back to ACCEPTED to run again, or ends it ERROR after `maxAttempts`.
// Cancel ends an unfinished task CANCELLED in the store; a handler running it here is aborted at once, one
// running in another process at its next lease renewal, which then fails.
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { failureOutcome, normalizeOutcome } from './outcome.js';
import { leaseOf } from './types.js';
import type { CancelResult, TaskHandler, TaskKind, TaskLease, TaskOutcome, TaskRecord, TaskStore } from './types.js';

/** The subset of a pino logger the queue uses. */
export interface TaskLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export type SettledListener = (task: TaskRecord) => void | Promise<void>;

export interface TaskQueueOptions {
  store: TaskStore;
  handlers: Readonly<Record<TaskKind, TaskHandler>>;
  /** Handlers running at once in this process. Default: os.availableParallelism(). */
  concurrency?: number;
  /** How long a claim stays valid without renewal; renewed every third of it. Default 30 s. */
  leaseMs?: number;
  /** How often to look for tasks submitted elsewhere and for abandoned ones. Default 1 s. */
  pollMs?: number;
  /** Runs allowed per task before an interrupted task ends ERROR. Default 3. */
  maxAttempts?: number;
  /** Lease owner name. Default: one id per process, shared by every queue in it. */
  instanceId?: string;
  /**
   * True when this process is the only one using the store (embedded mode): at start every PROCESSING task held
   * by another instance id is abandoned, so it is taken back at once instead of after its lease runs out. Set
   * false when several processes share the store. Default true.
   */
  exclusive?: boolean;
  /**
   * Back-pressure: submissions are refused with QueueFullError while this many tasks (all kinds, all processes
   * sharing the store) are ACCEPTED. Default: no bound.
   */
  maxQueued?: number;
  logger?: TaskLogger;
}

export interface StopOptions {
  /**
   * true (default): stop claiming and let running handlers finish, for up to `timeoutMs`.
   * false: interrupt running handlers at once.
   * Tasks still running when the wait ends are aborted and handed back as ACCEPTED, without using an attempt,
   * for the next start to run; tasks not yet claimed simply stay ACCEPTED.
   */
  drain?: boolean;
  timeoutMs?: number;
}

const INTERRUPTION_MESSAGES = {
  shutdown: 'The worker is shutting down.',
  'lease-lost': 'The task lease was lost.',
  cancelled: 'The task was cancelled.',
} as const;

/** The reason given to a handler's AbortSignal when the queue takes its task away. */
export class TaskInterruptedError extends Error {
  constructor(readonly reason: keyof typeof INTERRUPTION_MESSAGES) {
    super(INTERRUPTION_MESSAGES[reason]);
    this.name = 'TaskInterruptedError';
  }
}


/** One id per process: in embedded mode, a lease held under any other id belongs to a process that is gone. */
export const PROCESS_INSTANCE_ID = `${process.pid}-${randomUUID()}`;

const DEFAULT_LEASE_MS = 30_000;
const DEFAULT_POLL_MS = 1_000;
const DEFAULT_MAX_ATTEMPTS = 3;
const DEFAULT_STOP_TIMEOUT_MS = 30_000;

const fallbackLogger: TaskLogger = {
  debug() {},
  info() {},
  warn: (obj, msg) => console.warn(msg, obj),
  error: (obj, msg) => console.error(msg, obj),
};

interface RunningTask {
  task: TaskRecord;
  lease: TaskLease;
  controller: AbortController;
  /** Set once the queue has given the task up; from then on the handler's outcome is ignored. */
  interrupted: boolean;
  done: Promise<void>;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}.`);
  return value;
}

/** Resolves true when `promise` settles within `ms`, false otherwise. The timer is cleared either way. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    // Left referenced on purpose: whoever awaits stop() wants the wait to happen even if nothing else is alive.
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export class TaskQueue {
  readonly instanceId: string;
  readonly concurrency: number;
  private readonly store: TaskStore;
  private readonly handlers: ReadonlyMap<TaskKind, TaskHandler>;
  private readonly kinds: readonly TaskKind[];
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly maxAttempts: number;
  private readonly exclusive: boolean;
  private readonly maxQueued: number | undefined;
  private readonly logger: TaskLogger;
  private readonly settledListeners = new Set<SettledListener>();
  private readonly running = new Set<RunningTask>();
  /**
   * PROCESSING tasks cancelled here while no local job ran them: either another process holds them, or this one
   * has claimed them and not launched them yet (the claim resolves a tick later). launch() skips those.
   * Entries are forgotten after a lease time, by when a late launch is impossible.
   */
  private readonly cancelledUnlaunched = new Set<number>();
  private state: 'idle' | 'running' | 'stopping' = 'idle';
  private pollTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private ticking = false;
  private filling: Promise<void> | undefined;
  private fillAgain = false;

  constructor(options: TaskQueueOptions) {
    this.store = options.store;
    this.handlers = new Map(Object.entries(options.handlers));
    this.kinds = [...this.handlers.keys()];
    this.concurrency = positiveInteger('concurrency', options.concurrency ?? availableParallelism());
    this.leaseMs = positiveInteger('leaseMs', options.leaseMs ?? DEFAULT_LEASE_MS);
    this.pollMs = positiveInteger('pollMs', options.pollMs ?? DEFAULT_POLL_MS);
    this.maxAttempts = positiveInteger('maxAttempts', options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
    this.instanceId = options.instanceId ?? PROCESS_INSTANCE_ID;
    this.exclusive = options.exclusive ?? true;
    this.maxQueued = options.maxQueued === undefined ? undefined : positiveInteger('maxQueued', options.maxQueued);
    this.logger = options.logger ?? fallbackLogger;
  }

  /** Handlers running now in this queue. */
  get activeCount(): number {
    return this.running.size;
  }

  /**
   * Called once after a task reaches DONE, ERROR or CANCELLED (webhooks and billing hook in here), by the process
   * that made the change. Listener failures are logged, not thrown.
   */
  on(event: 'settled', listener: SettledListener): this {
    this.settledListeners.add(listener);
    return this;
  }

  off(event: 'settled', listener: SettledListener): this {
    this.settledListeners.delete(listener);
    return this;
  }

  /**
   * Persists a task as ACCEPTED and wakes a worker right away. Works before start(); it then runs once started.
   * Throws QueueFullError, having created nothing, when `maxQueued` tasks are already waiting.
   */
  async submit(kind: TaskKind, request: unknown, owner: string): Promise<TaskRecord> {
    // A kind nobody handles would sit in ACCEPTED for ever; refuse it while the caller can still answer.
    if (!this.handlers.has(kind)) throw new Error(`No handler for task kind "${kind}".`);
    const task = await this.store.create({ kind, owner, request, maxAttempts: this.maxAttempts, maxQueued: this.maxQueued });
    this.wake();
    return task;
  }

  get(id: number): Promise<TaskRecord | undefined> {
    return this.store.get(id);
  }

  /** Tasks waiting to be claimed, in every process sharing the store. */
  queuedCount(): Promise<number> {
    return this.store.countQueued();
  }

  /**
   * Cancels a task of any kind that has not finished. An ACCEPTED task will never be claimed; a handler running
   * it in this process is aborted now, and its outcome (and any late one from another process) is discarded.
   * Emits 'settled' with the CANCELLED task when this call cancelled it. A task already final is returned
   * unchanged, so cancelling twice is harmless. Checking who may cancel is the caller's business.
   */
  async cancel(id: number): Promise<CancelResult> {
    const result = await this.store.cancel(id);
    if (result.kind !== 'cancelled') return result;
    let local = false;
    for (const job of this.running) {
      if (job.task.id !== id) continue;
      local = true;
      if (!job.interrupted) this.interrupt(job, 'cancelled');
    }
    if (!local && result.previous === 'PROCESSING') {
      this.cancelledUnlaunched.add(id);
      setTimeout(() => this.cancelledUnlaunched.delete(id), this.leaseMs).unref();
    }
    this.logger.info({ taskId: id, previous: result.previous }, 'task cancelled');
    this.emitSettled(result.task);
    return result;
  }

  async start(): Promise<void> {
    if (this.state !== 'idle') return;
    this.state = 'running';
    if (this.exclusive) await this.recover({ kind: 'foreign', liveOwner: this.instanceId });
    if (this.state !== 'running' || this.pollTimer) return; // stopped (or restarted) while recovering
    this.pollTimer = setInterval(() => void this.tick(), this.pollMs);
    this.wake();
  }

  /** Resolves once nothing runs any more. Calling it again while it works returns the same wait. */
  stop(options: StopOptions = {}): Promise<void> {
    if (this.state === 'running') this.stopping = this.shutDown(options).finally(() => (this.stopping = undefined));
    return this.stopping ?? Promise.resolve();
  }

  private async shutDown({ drain = true, timeoutMs = DEFAULT_STOP_TIMEOUT_MS }: StopOptions): Promise<void> {
    this.state = 'stopping';
    clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    await this.filling; // a claim in flight is either launched or handed back
    if (drain && this.running.size > 0) {
      const finished = await settlesWithin(Promise.allSettled([...this.running].map((job) => job.done)), timeoutMs);
      if (!finished) this.logger.warn({ running: this.running.size, timeoutMs }, 'tasks still running at shutdown');
    }
    await Promise.all([...this.running].map((job) => this.handBack(job)));
    this.state = 'idle';
  }

  /** Runs `fill` now, or once more after the current one, so claims never overlap and no wake-up is lost. */
  private wake(): void {
    if (this.state !== 'running') return;
    if (this.filling) {
      this.fillAgain = true;
      return;
    }
    this.fillAgain = false;
    this.filling = this.fill()
      .catch((err: unknown) => this.logger.error({ err }, 'claiming tasks failed'))
      .finally(() => {
        this.filling = undefined;
        if (this.fillAgain) this.wake();
      });
  }

  private async fill(): Promise<void> {
    while (this.state === 'running' && this.running.size < this.concurrency) {
      const task = await this.store.claim(this.kinds, this.instanceId, this.leaseMs);
      if (!task) return;
      if (this.state !== 'running') {
        await this.store.release(leaseOf(task));
        return;
      }
      this.launch(task);
    }
  }

  private launch(task: TaskRecord): void {
    if (this.cancelledUnlaunched.delete(task.id)) {
      this.logger.info({ taskId: task.id }, 'task cancelled before its handler started');
      return;
    }
    const job: RunningTask = {
      task,
      lease: leaseOf(task),
      controller: new AbortController(),
      interrupted: false,
      done: Promise.resolve(),
    };
    this.running.add(job);
    job.done = this.execute(job)
      .catch((err: unknown) => this.logger.error({ err, taskId: task.id }, 'recording a task outcome failed'))
      .finally(() => {
        this.running.delete(job);
        this.wake();
      });
  }

  private async execute(job: RunningTask): Promise<void> {
    const { task } = job;
    const handler = this.handlers.get(task.kind);
    if (!handler) throw new Error(`Claimed task ${task.id} of unhandled kind "${task.kind}".`);
    const context = { taskId: task.id, kind: task.kind, attempt: task.attempts };
    this.logger.debug(context, 'task started');
    const heartbeat = setInterval(() => void this.heartbeat(job), Math.max(1, Math.floor(this.leaseMs / 3)));
    heartbeat.unref();
    let outcome: TaskOutcome;
    try {
      const value = await handler(task, job.controller.signal);
      const normalized = normalizeOutcome(value);
      if (!normalized) this.logger.error({ ...context, value }, 'task handler returned a malformed outcome');
      outcome = normalized ?? failureOutcome(new Error('malformed outcome'));
    } catch (err) {
      if (job.interrupted) return; // the abort we caused; the task is no longer ours to finish
      this.logger.error({ ...context, err }, 'task handler failed');
      outcome = failureOutcome(err);
    } finally {
      clearInterval(heartbeat);
    }
    if (job.interrupted) return;
    const settled = await this.store.complete(job.lease, outcome);
    if (!settled) {
      this.logger.warn(context, 'task lease lost before completion; outcome discarded');
      return;
    }
    this.logger.debug({ ...context, status: settled.status }, 'task settled');
    this.emitSettled(settled);
  }

  private async heartbeat(job: RunningTask): Promise<void> {
    if (job.interrupted) return;
    try {
      if (await this.store.renew(job.lease, this.leaseMs)) return;
      if (job.interrupted) return;
      // Cancelled by another process (a cancel in this one has already interrupted the job): not a fault.
      const now = await this.store.get(job.task.id);
      if (job.interrupted) return;
      if (now?.status === 'CANCELLED') {
        this.logger.info({ taskId: job.task.id, attempt: job.lease.attempt }, 'task cancelled elsewhere; aborting handler');
        this.interrupt(job, 'cancelled');
        return;
      }
      this.logger.warn({ taskId: job.task.id, attempt: job.lease.attempt }, 'task lease lost; aborting handler');
      this.interrupt(job, 'lease-lost');
    } catch (err) {
      // Keep going: the next beat may succeed before the lease runs out.
      this.logger.error({ err, taskId: job.task.id }, 'renewing a task lease failed');
    }
  }

  private interrupt(job: RunningTask, reason: TaskInterruptedError['reason']): void {
    job.interrupted = true;
    job.controller.abort(new TaskInterruptedError(reason));
  }

  /** Aborts a running handler and returns its task to ACCEPTED for the next start. */
  private async handBack(job: RunningTask): Promise<void> {
    this.interrupt(job, 'shutdown');
    // Forget it now: a handler that ignores the abort must not hold a slot for ever.
    this.running.delete(job);
    try {
      await this.store.release(job.lease);
    } catch (err) {
      // Its lease will run out and the next start (or poll) takes it back instead.
      this.logger.error({ err, taskId: job.task.id }, 'handing a task back at shutdown failed');
    }
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      await this.recover({ kind: 'expired' });
    } finally {
      this.ticking = false;
    }
    this.wake();
  }

  private async recover(scope: Parameters<TaskStore['recoverStalled']>[0]): Promise<void> {
    try {
      const ended = await this.store.recoverStalled(scope);
      for (const task of ended) {
        this.logger.warn({ taskId: task.id, attempts: task.attempts }, 'task interrupted too many times');
        this.emitSettled(task);
      }
    } catch (err) {
      this.logger.error({ err }, 'recovering abandoned tasks failed');
    }
  }

  private emitSettled(task: TaskRecord): void {
    for (const listener of this.settledListeners) {
      try {
        void Promise.resolve(listener(task)).catch((err: unknown) =>
          this.logger.error({ err, taskId: task.id }, 'settled listener failed'),
        );
      } catch (err) {
        this.logger.error({ err, taskId: task.id }, 'settled listener failed');
      }
    }
  }
}
