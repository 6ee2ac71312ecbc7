// The delivery log and schedule, persisted. A delivery is one event for one task (or a re-send of one); its
// attempts are rows of their own, so the log shows every try with its time, status code, latency and error.
// All SQL of the webhook deliveries lives here. Each state change is one transaction guarded by the state it
// expects (and, while an attempt is in flight, by its lease), the same discipline as the task store: two
// processes on one file cannot both send the same attempt, and a stale writer's update simply matches nothing.
import { ensureSchema, type Db } from '../db/sqlite.js';
import { isoTimestamp } from '../tasks/outcome.js';
import type { AfterAttempt, AttemptVerdict } from './schedule.js';
import type { WebhookEvent } from './settings.js';

export type DeliveryState = 'pending' | 'sending' | 'delivered' | 'failed' | 'cancelled';
/** How one attempt ended; `interrupted` when Atelier stopped while it was in flight (it does not count). */
export type AttemptOutcome = AttemptVerdict | 'interrupted';

export interface Delivery {
  id: number;
  account: string;
  taskId: number;
  taskKind: string;
  event: WebhookEvent;
  /** The exact bytes every attempt sends (and the signature covers). */
  body: Buffer;
  state: DeliveryState;
  /** Attempts that ran to an answer or a failure; interrupted ones are not counted. */
  attempts: number;
  /** Epoch ms when the next attempt is due; null unless pending. */
  dueAt: number | null;
  leaseOwner: string | null;
  leaseUntil: number | null;
  /** The delivery this one re-sends, or null for the automatic one. */
  resendOf: number | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

export interface AttemptRecord {
  deliveryId: number;
  attempt: number;
  startedAt: string;
  url: string;
  statusCode: number | null;
  latencyMs: number | null;
  error: string | null;
  /** null while the attempt is in flight. */
  outcome: AttemptOutcome | null;
}

/** An attempt being made: what the sender needs to finish it. */
export interface ClaimedAttempt {
  delivery: Delivery;
  attempt: number;
  attemptRowId: number;
  owner: string;
}

export interface AttemptReport {
  url: string;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  verdict: AttemptVerdict;
  next: AfterAttempt;
}

export interface DeliveryListOptions {
  taskId?: number;
  /** Only deliveries with a smaller id (paging backwards from the newest). */
  beforeId?: number;
  limit?: number;
}

const SCHEMA = [
  `CREATE TABLE webhook_deliveries (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     account TEXT NOT NULL,
     task_id INTEGER NOT NULL,
     task_kind TEXT NOT NULL,
     event TEXT NOT NULL CHECK (event IN ('success', 'failed')),
     body BLOB NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'delivered', 'failed', 'cancelled')),
     attempts INTEGER NOT NULL DEFAULT 0,
     due_at INTEGER,
     lease_owner TEXT,
     lease_until INTEGER,
     resend_of INTEGER REFERENCES webhook_deliveries (id),
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     finished_at TEXT
   )`,
  // One automatic delivery per task and event, whoever announces the task's end and however often.
  `CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (task_id, event) WHERE resend_of IS NULL`,
  'CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, due_at)',
  'CREATE INDEX webhook_deliveries_by_account ON webhook_deliveries (account, task_id, id)',
  `CREATE TABLE webhook_attempts (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries (id),
     attempt INTEGER NOT NULL,
     started_at TEXT NOT NULL,
     url TEXT NOT NULL,
     status_code INTEGER,
     latency_ms INTEGER,
     error TEXT,
     outcome TEXT CHECK (outcome IN ('delivered', 'retry', 'final', 'interrupted'))
   )`,
  'CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, id)',
];

interface DeliveryRow {
  id: number;
  account: string;
  task_id: number;
  task_kind: string;
  event: WebhookEvent;
  body: Buffer;
  state: DeliveryState;
  attempts: number;
  due_at: number | null;
  lease_owner: string | null;
  lease_until: number | null;
  resend_of: number | null;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

interface AttemptRow {
  id: number;
  delivery_id: number;
  attempt: number;
  started_at: string;
  url: string;
  status_code: number | null;
  latency_ms: number | null;
  error: string | null;
  outcome: AttemptOutcome | null;
}

function fromRow(row: DeliveryRow): Delivery {
  return {
    id: row.id,
    account: row.account,
    taskId: row.task_id,
    taskKind: row.task_kind,
    event: row.event,
    body: row.body,
    state: row.state,
    attempts: row.attempts,
    dueAt: row.due_at,
    leaseOwner: row.lease_owner,
    leaseUntil: row.lease_until,
    resendOf: row.resend_of,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
  };
}

function attemptFromRow(row: AttemptRow): AttemptRecord {
  return {
    deliveryId: row.delivery_id,
    attempt: row.attempt,
    startedAt: row.started_at,
    url: row.url,
    statusCode: row.status_code,
    latencyMs: row.latency_ms,
    error: row.error,
    outcome: row.outcome,
  };
}

const MAX_LIST = 500;
const SENDING = `state = 'sending' AND id = @id AND lease_owner = @owner`;

function prepareStatements(db: Db) {
  return {
    insert: db.prepare<Record<string, unknown>, DeliveryRow>(
      `INSERT INTO webhook_deliveries (account, task_id, task_kind, event, body, state, due_at, resend_of, created_at, updated_at)
       VALUES (@account, @taskId, @taskKind, @event, @body, 'pending', @dueAt, @resendOf, @now, @now)
       ON CONFLICT DO NOTHING
       RETURNING *`,
    ),
    get: db.prepare<[number], DeliveryRow>('SELECT * FROM webhook_deliveries WHERE id = ?'),
    claim: db.prepare<Record<string, unknown>, DeliveryRow>(
      `UPDATE webhook_deliveries
          SET state = 'sending', lease_owner = @owner, lease_until = @until, due_at = NULL, updated_at = @nowIso
        WHERE state = 'pending'
          AND id = (SELECT id FROM webhook_deliveries
                     WHERE state = 'pending' AND due_at <= @now
                     ORDER BY due_at, id LIMIT 1)
        RETURNING *`,
    ),
    insertAttempt: db.prepare<Record<string, unknown>>(
      `INSERT INTO webhook_attempts (delivery_id, attempt, started_at, url) VALUES (@deliveryId, @attempt, @startedAt, @url)`,
    ),
    closeAttempt: db.prepare<Record<string, unknown>>(
      `UPDATE webhook_attempts SET url = COALESCE(@url, url), status_code = @statusCode, latency_ms = @latencyMs, error = @error,
              outcome = @outcome
        WHERE id = @rowId AND outcome IS NULL`,
    ),
    finish: db.prepare<Record<string, unknown>>(
      `UPDATE webhook_deliveries
          SET state = @state, attempts = attempts + 1, due_at = @dueAt, lease_owner = NULL, lease_until = NULL,
              updated_at = @nowIso, finished_at = @finishedAt
        WHERE ${SENDING}`,
    ),
    // An interrupted attempt hands the delivery back as due at once, without counting it.
    handBack: db.prepare<Record<string, unknown>>(
      `UPDATE webhook_deliveries
          SET state = 'pending', due_at = @now, lease_owner = NULL, lease_until = NULL, updated_at = @nowIso
        WHERE ${SENDING}`,
    ),
    cancelOne: db.prepare<Record<string, unknown>>(
      `UPDATE webhook_deliveries
          SET state = 'cancelled', due_at = NULL, lease_owner = NULL, lease_until = NULL, updated_at = @nowIso,
              finished_at = @nowIso
        WHERE ${SENDING}`,
    ),
    cancelPending: db.prepare<Record<string, unknown>>(
      `UPDATE webhook_deliveries
          SET state = 'cancelled', due_at = NULL, updated_at = @nowIso, finished_at = @nowIso
        WHERE account = @account AND state = 'pending'`,
    ),
    stalled: db.prepare<Record<string, unknown>, DeliveryRow>(
      `SELECT * FROM webhook_deliveries
        WHERE state = 'sending' AND (CASE WHEN @foreignOf IS NULL THEN lease_until < @now ELSE lease_owner <> @foreignOf END)`,
    ),
    openAttempts: db.prepare<[number], AttemptRow>(
      'SELECT * FROM webhook_attempts WHERE delivery_id = ? AND outcome IS NULL',
    ),
    nextDue: db.prepare<[], { due: number | null }>(
      `SELECT MIN(due_at) AS due FROM webhook_deliveries WHERE state = 'pending'`,
    ),
    attemptsOf: db.prepare<[number], AttemptRow>(
      'SELECT * FROM webhook_attempts WHERE delivery_id = ? ORDER BY id',
    ),
  };
}

export class DeliveryStore {
  private readonly sql: ReturnType<typeof prepareStatements>;

  constructor(
    private readonly db: Db,
    private readonly clock: () => number = Date.now,
  ) {
    ensureSchema(db, 'webhooks/002_deliveries', SCHEMA);
    this.sql = prepareStatements(db);
  }

  /**
   * Records the automatic delivery of `event` for a task, due now. Undefined when the task already has one:
   * an end announced twice (two listeners, a recovery) must not notify twice.
   */
  create(input: { account: string; taskId: number; taskKind: string; event: WebhookEvent; body: Buffer }): Delivery | undefined {
    const now = this.clock();
    const row = this.sql.insert.get({ ...input, dueAt: now, resendOf: null, now: isoTimestamp(now) });
    return row ? fromRow(row) : undefined;
  }

  /** A new delivery of the same event and body as `id`, with a schedule of its own starting now. */
  resend(account: string, id: number): Delivery | undefined {
    const original = this.get(account, id);
    if (!original) return undefined;
    const now = this.clock();
    const row = this.sql.insert.get({
      account,
      taskId: original.taskId,
      taskKind: original.taskKind,
      event: original.event,
      body: original.body,
      dueAt: now,
      resendOf: original.id,
      now: isoTimestamp(now),
    });
    if (!row) throw new Error(`Re-sending delivery ${id} was not recorded.`);
    return fromRow(row);
  }

  /** A delivery of `account`; another account's delivery reads as missing. */
  get(account: string, id: number): Delivery | undefined {
    const row = this.sql.get.get(id);
    return row && row.account === account ? fromRow(row) : undefined;
  }

  list(account: string, options: DeliveryListOptions = {}): Delivery[] {
    const limit = Math.min(Math.max(1, options.limit ?? 50), MAX_LIST);
    const where = ['account = @account'];
    if (options.taskId !== undefined) where.push('task_id = @taskId');
    if (options.beforeId !== undefined) where.push('id < @beforeId');
    const rows = this.db
      .prepare<Record<string, unknown>, DeliveryRow>(
        `SELECT * FROM webhook_deliveries WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT @limit`,
      )
      .all({ account, taskId: options.taskId, beforeId: options.beforeId, limit });
    return rows.map(fromRow);
  }

  attempts(deliveryId: number): AttemptRecord[] {
    return this.sql.attemptsOf.all(deliveryId).map(attemptFromRow);
  }

  /**
   * Takes the most overdue pending delivery for one attempt: marks it `sending` under a lease and opens the
   * attempt's log row, in one transaction. `url` is where the attempt is about to go.
   */
  claim(owner: string, leaseMs: number, urlFor: (d: Delivery) => string): ClaimedAttempt | undefined {
    return this.db.transaction((): ClaimedAttempt | undefined => {
      const now = this.clock();
      const row = this.sql.claim.get({ owner, until: now + leaseMs, now, nowIso: isoTimestamp(now) });
      if (!row) return undefined;
      const delivery = fromRow(row);
      const attempt = delivery.attempts + 1;
      const info = this.sql.insertAttempt.run({
        deliveryId: delivery.id,
        attempt,
        startedAt: isoTimestamp(now),
        url: urlFor(delivery),
      });
      return { delivery, attempt, attemptRowId: Number(info.lastInsertRowid), owner };
    }).immediate();
  }

  /**
   * Records how an attempt ended and moves the delivery on, in one transaction. False when the attempt was no
   * longer ours (its lease was recovered meanwhile); its log row is closed either way.
   */
  finish(claimed: ClaimedAttempt, report: AttemptReport): boolean {
    return this.db.transaction((): boolean => {
      const now = this.clock();
      const nowIso = isoTimestamp(now);
      this.sql.closeAttempt.run({
        rowId: claimed.attemptRowId,
        url: report.url,
        statusCode: report.statusCode,
        latencyMs: Math.round(report.latencyMs),
        error: report.error,
        outcome: report.verdict,
      });
      const terminal = report.next.state !== 'pending';
      const res = this.sql.finish.run({
        id: claimed.delivery.id,
        owner: claimed.owner,
        state: report.next.state,
        dueAt: report.next.state === 'pending' ? report.next.dueAt : null,
        nowIso,
        finishedAt: terminal ? nowIso : null,
      });
      return res.changes > 0;
    }).immediate();
  }

  /** Closes an attempt that Atelier cut short (shutdown) and makes the delivery due again at once. */
  interrupt(claimed: ClaimedAttempt, reason: string, latencyMs: number | null = null): void {
    this.db.transaction(() => {
      this.closeInterrupted(claimed.attemptRowId, reason, latencyMs);
      const now = this.clock();
      this.sql.handBack.run({ id: claimed.delivery.id, owner: claimed.owner, now, nowIso: isoTimestamp(now) });
    }).immediate();
  }

  /** Ends a claimed delivery without sending (the webhook was disabled meanwhile). */
  cancelClaimed(claimed: ClaimedAttempt, reason: string): void {
    this.db.transaction(() => {
      this.closeInterrupted(claimed.attemptRowId, reason, null);
      this.sql.cancelOne.run({ id: claimed.delivery.id, owner: claimed.owner, nowIso: isoTimestamp(this.clock()) });
    }).immediate();
  }

  /** Cancels an account's pending deliveries (its webhook was disabled); returns how many. */
  cancelPending(account: string): number {
    return this.sql.cancelPending.run({ account, nowIso: isoTimestamp(this.clock()) }).changes;
  }

  /**
   * Finds deliveries left `sending` by an attempt that can no longer finish: leases that ran out, or at the
   * start of a process that owns the store alone, every lease held under another instance id. Their open
   * attempts are logged as interrupted and the deliveries are due again at once, without using an attempt:
   * the receiver may or may not have got the request, and at-least-once means sending it again.
   */
  recoverStalled(scope: { kind: 'expired' } | { kind: 'foreign'; liveOwner: string }, reason: string): Delivery[] {
    return this.db.transaction((): Delivery[] => {
      const now = this.clock();
      const nowIso = isoTimestamp(now);
      const rows = this.sql.stalled.all({ now, foreignOf: scope.kind === 'foreign' ? scope.liveOwner : null });
      for (const row of rows) {
        for (const open of this.sql.openAttempts.all(row.id)) this.closeInterrupted(open.id, reason, null);
        this.sql.handBack.run({ id: row.id, owner: row.lease_owner, now, nowIso });
      }
      return rows.map(fromRow);
    }).immediate();
  }

  /** Epoch ms of the earliest pending delivery, or null when none waits. */
  nextDueAt(): number | null {
    return this.sql.nextDue.get()?.due ?? null;
  }

  private closeInterrupted(rowId: number, reason: string, latencyMs: number | null): void {
    this.sql.closeAttempt.run({
      rowId,
      url: null,
      statusCode: null,
      latencyMs: latencyMs === null ? null : Math.round(latencyMs),
      error: reason,
      outcome: 'interrupted',
    });
  }
}
