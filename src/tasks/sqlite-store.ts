// TaskStore on the embedded SQLite file. All task SQL lives here. Each state change is one UPDATE (recovery: one
// IMMEDIATE transaction) guarded by the state it expects and, for a held task, by its lease, so two connections
// (two processes on one file) can never both win the same transition: SQLite serialises writers, and the
// loser's WHERE no longer matches.
import type { PipelineError, TaskStatus } from '../contract/types.js';
import { ensureSchema, type Db } from '../db/sqlite.js';
import { QueueFullError } from './errors.js';
import { isoTimestamp, pipelineError, TOO_MANY_INTERRUPTIONS_MESSAGE } from './outcome.js';
import type {
  CancelResult,
  NewTask,
  StalledScope,
  TaskKind,
  TaskLease,
  TaskOutcome,
  TaskRecord,
  TaskStore,
} from './types.js';

const SCHEMA = [
  // AUTOINCREMENT so an id is never handed out twice, even after rows are purged: clients keep task ids.
  `CREATE TABLE tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ACCEPTED','WAITING','PROCESSING','DONE','ERROR','CANCELLED','PAUSED')),
    owner TEXT NOT NULL,
    request TEXT NOT NULL,
    result TEXT,
    errors TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
    lease_owner TEXT,
    lease_until INTEGER
  )`,
  'CREATE INDEX tasks_by_status ON tasks (status, id)',
  'CREATE INDEX tasks_by_owner ON tasks (owner, id)',
];

interface TaskRow {
  id: number;
  kind: string;
  status: TaskStatus;
  owner: string;
  request: string;
  result: string | null;
  errors: string;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  finished_at: string | null;
  attempts: number;
  max_attempts: number;
  lease_owner: string | null;
  lease_until: number | null;
}

function fromRow(row: TaskRow): TaskRecord {
  return {
    id: row.id,
    kind: row.kind,
    status: row.status,
    owner: row.owner,
    request: JSON.parse(row.request) as unknown,
    result: row.result === null ? null : (JSON.parse(row.result) as unknown),
    errors: JSON.parse(row.errors) as PipelineError[],
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    leaseOwner: row.lease_owner,
    leaseUntil: row.lease_until,
  };
}

function toJson(value: unknown, what: string): string {
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError(`Task ${what} is not JSON-serialisable.`);
  return text;
}

const HELD = `status = 'PROCESSING' AND id = @id AND lease_owner = @owner AND attempts = @attempt`;
/** Statuses a task can be cancelled from: every one that is not final. */
const CANCELLABLE = `'ACCEPTED','WAITING','PAUSED','PROCESSING'`;

export interface SqliteTaskStoreOptions {
  /** Epoch milliseconds; injectable so lease expiry can be tested without waiting. */
  clock?: () => number;
}

function prepareStatements(db: Db) {
  return {
    // The bound and the insert are one statement, i.e. one write transaction: two submissions racing for the
    // last free place cannot both get it. The count walks tasks_by_status and stops at the bound.
    insert: db.prepare<Record<string, unknown>, TaskRow>(
      `INSERT INTO tasks (kind, status, owner, request, created_at, updated_at, max_attempts)
       SELECT @kind, 'ACCEPTED', @owner, @request, @now, @now, @maxAttempts
        WHERE @maxQueued IS NULL
           OR (SELECT COUNT(*) FROM (SELECT 1 FROM tasks WHERE status = 'ACCEPTED' LIMIT @maxQueued)) < @maxQueued
       RETURNING *`,
    ),
    get: db.prepare<[number], TaskRow>('SELECT * FROM tasks WHERE id = ?'),
    countQueued: db.prepare<Record<string, unknown>, { n: number }>(
      `SELECT COUNT(*) AS n FROM (SELECT 1 FROM tasks WHERE status = 'ACCEPTED' LIMIT @limit)`,
    ),
    cancel: db.prepare<Record<string, unknown>, TaskRow>(
      `UPDATE tasks
          SET status = 'CANCELLED', result = NULL, finished_at = @now, updated_at = @now,
              lease_owner = NULL, lease_until = NULL
        WHERE id = @id AND status IN (${CANCELLABLE})
        RETURNING *`,
    ),
    // The inner SELECT and the UPDATE run as one statement, i.e. one write transaction: no other connection
    // can claim the same row in between, and the outer status check keeps the statement safe on its own.
    claim: db.prepare<Record<string, unknown>, TaskRow>(
      `UPDATE tasks
          SET status = 'PROCESSING', lease_owner = @owner, lease_until = @until,
              attempts = attempts + 1, started_at = @now, updated_at = @now
        WHERE status = 'ACCEPTED'
          AND id = (SELECT id FROM tasks
                     WHERE status = 'ACCEPTED' AND kind IN (SELECT value FROM json_each(@kinds))
                     ORDER BY id LIMIT 1)
        RETURNING *`,
    ),
    renew: db.prepare<Record<string, unknown>>(`UPDATE tasks SET lease_until = @until WHERE ${HELD}`),
    complete: db.prepare<Record<string, unknown>, TaskRow>(
      `UPDATE tasks
          SET status = @status, result = @result, errors = @errors, finished_at = @now, updated_at = @now,
              lease_owner = NULL, lease_until = NULL
        WHERE ${HELD}
        RETURNING *`,
    ),
    release: db.prepare<Record<string, unknown>>(
      `UPDATE tasks
          SET status = 'ACCEPTED', attempts = attempts - 1, lease_owner = NULL, lease_until = NULL,
              updated_at = @now
        WHERE ${HELD}`,
    ),
    exhaustExpired: db.prepare<Record<string, unknown>, TaskRow>(
      `UPDATE tasks
          SET status = 'ERROR', errors = @errors, finished_at = @now, updated_at = @now,
              lease_owner = NULL, lease_until = NULL
        WHERE status = 'PROCESSING' AND lease_until < @nowMs AND attempts >= max_attempts
        RETURNING *`,
    ),
    requeueExpired: db.prepare<Record<string, unknown>>(
      `UPDATE tasks SET status = 'ACCEPTED', lease_owner = NULL, lease_until = NULL, updated_at = @now
        WHERE status = 'PROCESSING' AND lease_until < @nowMs`,
    ),
    exhaustForeign: db.prepare<Record<string, unknown>, TaskRow>(
      `UPDATE tasks
          SET status = 'ERROR', errors = @errors, finished_at = @now, updated_at = @now,
              lease_owner = NULL, lease_until = NULL
        WHERE status = 'PROCESSING' AND lease_owner IS NOT @liveOwner AND attempts >= max_attempts
        RETURNING *`,
    ),
    requeueForeign: db.prepare<Record<string, unknown>>(
      `UPDATE tasks SET status = 'ACCEPTED', lease_owner = NULL, lease_until = NULL, updated_at = @now
        WHERE status = 'PROCESSING' AND lease_owner IS NOT @liveOwner`,
    ),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

export class SqliteTaskStore implements TaskStore {
  private readonly clock: () => number;
  private readonly sql: Statements;
  private readonly recoverTx: (scope: StalledScope, nowMs: number) => TaskRow[];
  private readonly cancelTx: (id: number, nowMs: number) => CancelResult;

  constructor(db: Db, options: SqliteTaskStoreOptions = {}) {
    ensureSchema(db, 'tasks-001-create', SCHEMA);
    this.clock = options.clock ?? Date.now;
    const sql = prepareStatements(db);
    this.sql = sql;
    // IMMEDIATE takes the write lock up front, so both steps see and change the same set of rows.
    const recover = db.transaction((scope: StalledScope, nowMs: number): TaskRow[] => {
      const params = {
        now: isoTimestamp(nowMs),
        nowMs,
        errors: toJson([pipelineError(TOO_MANY_INTERRUPTIONS_MESSAGE, undefined, nowMs)], 'errors'),
      };
      if (scope.kind === 'expired') {
        const ended = sql.exhaustExpired.all(params);
        sql.requeueExpired.run(params);
        return ended;
      }
      const foreign = { ...params, liveOwner: scope.liveOwner };
      const ended = sql.exhaustForeign.all(foreign);
      sql.requeueForeign.run(foreign);
      return ended;
    });
    this.recoverTx = (scope, nowMs) => recover.immediate(scope, nowMs);
    // Read and change under one write lock, so the status reported as `previous` is the one that was replaced.
    const cancel = db.transaction((id: number, nowMs: number): CancelResult => {
      const before = sql.get.get(id);
      if (!before) return { kind: 'missing' };
      const row = sql.cancel.get({ id, now: isoTimestamp(nowMs) });
      return row
        ? { kind: 'cancelled', task: fromRow(row), previous: before.status }
        : { kind: 'unchanged', task: fromRow(before) };
    });
    this.cancelTx = (id, nowMs) => cancel.immediate(id, nowMs);
  }

  async create(task: NewTask): Promise<TaskRecord> {
    if (!Number.isInteger(task.maxAttempts) || task.maxAttempts < 1) {
      throw new RangeError(`maxAttempts must be a positive integer, got ${task.maxAttempts}.`);
    }
    const { maxQueued } = task;
    if (maxQueued !== undefined && (!Number.isInteger(maxQueued) || maxQueued < 1)) {
      throw new RangeError(`maxQueued must be a positive integer, got ${maxQueued}.`);
    }
    const row = this.sql.insert.get({
      kind: task.kind,
      owner: task.owner,
      request: toJson(task.request, 'request'),
      now: isoTimestamp(this.clock()),
      maxAttempts: task.maxAttempts,
      maxQueued: maxQueued ?? null,
    });
    if (!row) {
      if (maxQueued !== undefined) throw new QueueFullError(maxQueued);
      throw new Error('Inserting a task returned no row.');
    }
    return fromRow(row);
  }

  async countQueued(limit?: number): Promise<number> {
    // LIMIT -1 is SQLite's "no limit".
    return this.sql.countQueued.get({ limit: limit ?? -1 })?.n ?? 0;
  }

  async cancel(id: number): Promise<CancelResult> {
    return this.cancelTx(id, this.clock());
  }

  async get(id: number): Promise<TaskRecord | undefined> {
    const row = this.sql.get.get(id);
    return row && fromRow(row);
  }

  async claim(kinds: readonly TaskKind[], owner: string, leaseMs: number): Promise<TaskRecord | undefined> {
    if (kinds.length === 0) return undefined;
    const nowMs = this.clock();
    const row = this.sql.claim.get({
      owner,
      until: nowMs + leaseMs,
      now: isoTimestamp(nowMs),
      kinds: JSON.stringify(kinds),
    });
    return row && fromRow(row);
  }

  async renew(lease: TaskLease, leaseMs: number): Promise<boolean> {
    return this.sql.renew.run({ ...lease, until: this.clock() + leaseMs }).changes === 1;
  }

  async complete(lease: TaskLease, outcome: TaskOutcome): Promise<TaskRecord | undefined> {
    const done = outcome.status === 'DONE';
    const row = this.sql.complete.get({
      ...lease,
      status: outcome.status,
      result: done ? toJson(outcome.result ?? null, 'result') : null,
      errors: done ? '[]' : toJson(outcome.errors, 'errors'),
      now: isoTimestamp(this.clock()),
    });
    return row && fromRow(row);
  }

  async release(lease: TaskLease): Promise<boolean> {
    return this.sql.release.run({ ...lease, now: isoTimestamp(this.clock()) }).changes === 1;
  }

  async recoverStalled(scope: StalledScope): Promise<TaskRecord[]> {
    return this.recoverTx(scope, this.clock()).map(fromRow);
  }
}
