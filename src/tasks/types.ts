// The task model and the storage seam. The queue (./queue.ts) only speaks to `TaskStore`, so the embedded SQLite
// store can later be swapped for a PostgreSQL one (with BullMQ doing the dispatch) without touching the worker
// logic. Every store method is async for that reason, even though SQLite answers synchronously.
import type { PipelineError, TaskStatus } from '../contract/types.js';

/** What a task does: 'edit' today; 'batch', 'ai_edit', ... later. Each kind has one handler in the queue. */
export type TaskKind = string;

export interface TaskRecord {
  /** Ascending integer id, never reused: it is the contract's task id. */
  id: number;
  kind: TaskKind;
  status: TaskStatus;
  /** Id of the API key that submitted the task; reads by another key must answer 404. */
  owner: string;
  /** The request body as the client sent it, echoed back in task answers. */
  request: unknown;
  /** What the handler returned for a DONE task; null until then, and for ERROR tasks. */
  result: unknown;
  /** Empty unless the task ended ERROR. */
  errors: PipelineError[];
  /** ISO 8601 with an explicit offset, like the contract's examples ("2026-11-22T10:00:00.123+00:00"). */
  createdAt: string;
  updatedAt: string;
  /** When the current (or last) attempt started. */
  startedAt: string | null;
  finishedAt: string | null;
  /** How many times a worker has claimed the task; a crash-interrupted run counts, a clean shutdown does not. */
  attempts: number;
  maxAttempts: number;
  /** Instance id of the worker holding the task while it is PROCESSING. */
  leaseOwner: string | null;
  /** Epoch milliseconds after which a PROCESSING task counts as abandoned. */
  leaseUntil: number | null;
}

export type TaskOutcome = { status: 'DONE'; result: unknown } | { status: 'ERROR'; errors: PipelineError[] };

/**
 * Runs one task. The contract a handler must keep, because a task can be run more than once:
 * - A task whose worker died (process killed, lease lost) is run again from the start, up to `maxAttempts` times.
 *   So the handler must be deterministic for a given task and write any output under a name derived from
 *   `task.id` (never a random name), so that a re-run overwrites the same output instead of leaving a second,
 *   different result behind.
 * - `signal` aborts when the worker shuts down, loses the task (lease taken over) or the task is cancelled. The
 *   handler should stop promptly; whatever it returns after that is discarded, and any output it already wrote
 *   must stay unpublished (a handler only publishes through its outcome, so this holds as long as output names
 *   are not guessable).
 * - Expected failures (bad input image, unreachable URL) should be returned as an ERROR outcome. A thrown
 *   AtelierError becomes an ERROR with its message; any other throw becomes a generic message and is logged.
 */
export type TaskHandler = (task: TaskRecord, signal: AbortSignal) => Promise<TaskOutcome>;

export interface NewTask {
  kind: TaskKind;
  owner: string;
  /** Must be JSON-serialisable. */
  request: unknown;
  maxAttempts: number;
  /**
   * Back-pressure: refuse the task when this many tasks (of any kind) are already ACCEPTED. Checked in the same
   * statement as the insert, so concurrent submissions cannot overshoot the bound. Absent: no bound.
   */
  maxQueued?: number;
}

/** Statuses a task never leaves. */
export const FINAL_STATUSES: readonly TaskStatus[] = ['DONE', 'ERROR', 'CANCELLED'];

export function isFinal(status: TaskStatus): boolean {
  return FINAL_STATUSES.includes(status);
}

/**
 * What a cancel found: `cancelled` when this call moved the task to CANCELLED (its `previous` status tells
 * whether a worker may be running it); `unchanged` when the task had already reached a final status (CANCELLED
 * included), returned as it is; `missing` when there is no such task.
 */
export type CancelResult =
  | { kind: 'cancelled'; task: TaskRecord; previous: TaskStatus }
  | { kind: 'unchanged'; task: TaskRecord }
  | { kind: 'missing' };

/**
 * Proof that a worker holds a task. `attempt` fences off stale runs: once a task is reclaimed its attempt count
 * moves on, so writes from the previous run (even from the same process) no longer match.
 */
export interface TaskLease {
  id: number;
  owner: string;
  attempt: number;
}

/**
 * Which PROCESSING tasks to treat as abandoned: those whose lease ran out, or (at start-up of a process that
 * owns the store alone) every one held by another instance, since no other instance can still be alive.
 */
export type StalledScope = { kind: 'expired' } | { kind: 'foreign'; liveOwner: string };

export interface TaskStore {
  /** Inserts an ACCEPTED task; throws QueueFullError when `maxQueued` is given and that many tasks already wait. */
  create(task: NewTask): Promise<TaskRecord>;
  get(id: number): Promise<TaskRecord | undefined>;
  /** Atomically moves the oldest ACCEPTED task of one of `kinds` to PROCESSING under a fresh lease. */
  claim(kinds: readonly TaskKind[], owner: string, leaseMs: number): Promise<TaskRecord | undefined>;
  /** Extends a lease; false when the task is no longer held under it (reclaimed, finished, cancelled). */
  renew(lease: TaskLease, leaseMs: number): Promise<boolean>;
  /** Records the outcome if the lease still holds; undefined when it does not (the outcome is discarded). */
  complete(lease: TaskLease, outcome: TaskOutcome): Promise<TaskRecord | undefined>;
  /**
   * Ends a task that has not finished yet (ACCEPTED, WAITING, PAUSED or PROCESSING) as CANCELLED, dropping any
   * lease: an ACCEPTED task is never claimed after this, and the worker of a PROCESSING one finds out at its next
   * renew or complete, both of which then fail, so its outcome is discarded.
   */
  cancel(id: number): Promise<CancelResult>;
  /** ACCEPTED tasks, counted up to `limit` (the count stops there, so the query stays cheap on a long queue). */
  countQueued(limit?: number): Promise<number>;
  /** Hands a held task back to ACCEPTED without counting the attempt (clean shutdown). */
  release(lease: TaskLease): Promise<boolean>;
  /**
   * Puts abandoned PROCESSING tasks back to ACCEPTED, or ends them ERROR when they have used up their attempts.
   * Returns the tasks it ended, so the caller can announce them.
   */
  recoverStalled(scope: StalledScope): Promise<TaskRecord[]>;
}

export function leaseOf(task: TaskRecord): TaskLease {
  if (task.leaseOwner === null) throw new Error(`Task ${task.id} is not leased.`);
  return { id: task.id, owner: task.leaseOwner, attempt: task.attempts };
}
