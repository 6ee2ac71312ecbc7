// Persistence for `Idempotency-Key`: one row per (API key, idempotency key) holding what the first request was
// (endpoint and body fingerprint) and, once answered, the answer to replay. A row is "in flight" while its lock
// is held by the request that created it. Every decision about a key is one IMMEDIATE transaction, so two
// requests with the same key (two connections, even two processes on one file) can never both start.
import { randomUUID } from 'node:crypto';
import { ensureSchema, type Db } from '../db/sqlite.js';
import { PROCESS_INSTANCE_ID } from '../tasks/index.js';

const SCHEMA = [
  `CREATE TABLE idempotency_keys (
    owner TEXT NOT NULL,
    key TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    lock_token TEXT,
    lock_owner TEXT,
    locked_until INTEGER,
    status INTEGER,
    headers TEXT,
    body BLOB,
    PRIMARY KEY (owner, key)
  )`,
  'CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at)',
];

/** The answer recorded for a key, replayed byte for byte. */
export interface StoredAnswer {
  status: number;
  /** Only the headers that describe the body (content type and the like), lower-case names. */
  headers: Record<string, string>;
  body: Buffer;
}

export interface IdempotencyRequest {
  /** Id of the API key: keys are scoped per API key, so two clients can use the same key string. */
  owner: string;
  key: string;
  /** Method and route pattern, e.g. `POST /v1/image/edit/async`. */
  endpoint: string;
  /** SHA-256 (hex) of what the request asks for. */
  fingerprint: string;
}

export type BeginResult =
  /** No usable answer exists: the caller runs the request, then calls complete() or release() with `token`. */
  | { kind: 'started'; token: string }
  | { kind: 'replay'; answer: StoredAnswer; createdAt: number }
  /** Another request with this key is still running. */
  | { kind: 'in-progress' }
  /** The key was first used for another endpoint or another body. */
  | { kind: 'mismatch'; what: 'endpoint' | 'body'; endpoint: string };

export interface IdempotencyStore {
  begin(request: IdempotencyRequest): Promise<BeginResult>;
  /** Records the answer; false when the lock was lost (taken over as abandoned), in which case nothing is stored. */
  complete(owner: string, key: string, token: string, answer: StoredAnswer): Promise<boolean>;
  /** Forgets an in-flight key without an answer (5xx, transient refusals), so a retry runs the request. */
  release(owner: string, key: string, token: string): Promise<void>;
  /** Deletes entries older than the time to live; returns how many. */
  sweep(): Promise<number>;
}

export interface SqliteIdempotencyStoreOptions {
  /** How long an answer is replayed, in milliseconds. Default 24 h. */
  ttlMs?: number;
  /**
   * How long a request may hold its key before a retry may take it over as abandoned. Requests finish long
   * before this (input fetches time out after 30 s); it only matters after a crash of a process sharing the
   * store with others. Default 10 minutes.
   */
  lockMs?: number;
  /** Lock owner name. Default: one id per process (the one task leases use). */
  instanceId?: string;
  /**
   * True when this process is the only one using the store (embedded mode): a lock held under another instance
   * id belongs to a process that is gone, so it is taken over at once. Default true.
   */
  exclusive?: boolean;
  clock?: () => number;
}

interface Row {
  owner: string;
  key: string;
  endpoint: string;
  fingerprint: string;
  created_at: number;
  lock_token: string | null;
  lock_owner: string | null;
  locked_until: number | null;
  status: number | null;
  headers: string | null;
  body: Buffer | null;
}

const DAY_MS = 24 * 3600 * 1000;

export class SqliteIdempotencyStore implements IdempotencyStore {
  readonly ttlMs: number;
  private readonly lockMs: number;
  private readonly instanceId: string;
  private readonly exclusive: boolean;
  private readonly clock: () => number;
  private readonly beginTx: (request: IdempotencyRequest, nowMs: number) => BeginResult;
  private readonly sql;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(db: Db, options: SqliteIdempotencyStoreOptions = {}) {
    ensureSchema(db, 'idempotency-001-create', SCHEMA);
    this.ttlMs = options.ttlMs ?? DAY_MS;
    this.lockMs = options.lockMs ?? 10 * 60 * 1000;
    this.instanceId = options.instanceId ?? PROCESS_INSTANCE_ID;
    this.exclusive = options.exclusive ?? true;
    this.clock = options.clock ?? Date.now;
    const sql = {
      get: db.prepare<[string, string], Row>('SELECT * FROM idempotency_keys WHERE owner = ? AND key = ?'),
      remove: db.prepare<[string, string]>('DELETE FROM idempotency_keys WHERE owner = ? AND key = ?'),
      insert: db.prepare<Record<string, unknown>>(
        `INSERT INTO idempotency_keys (owner, key, endpoint, fingerprint, created_at, lock_token, lock_owner, locked_until)
         VALUES (@owner, @key, @endpoint, @fingerprint, @now, @token, @instance, @until)`,
      ),
      takeOver: db.prepare<Record<string, unknown>>(
        `UPDATE idempotency_keys SET created_at = @now, lock_token = @token, lock_owner = @instance, locked_until = @until
          WHERE owner = @owner AND key = @key`,
      ),
      complete: db.prepare<Record<string, unknown>>(
        `UPDATE idempotency_keys
            SET status = @status, headers = @headers, body = @body,
                lock_token = NULL, lock_owner = NULL, locked_until = NULL
          WHERE owner = @owner AND key = @key AND lock_token = @token`,
      ),
      release: db.prepare<[string, string, string]>(
        'DELETE FROM idempotency_keys WHERE owner = ? AND key = ? AND lock_token = ?',
      ),
      // An in-flight row is swept too once it is that old: its request is long dead.
      sweep: db.prepare<[number]>('DELETE FROM idempotency_keys WHERE created_at <= ?'),
    };
    this.sql = sql;
    const begin = db.transaction((request: IdempotencyRequest, nowMs: number): BeginResult => {
      let row = sql.get.get(request.owner, request.key);
      if (row && row.created_at <= nowMs - this.ttlMs) {
        sql.remove.run(request.owner, request.key);
        row = undefined;
      }
      const lock = { ...request, now: nowMs, token: randomUUID(), instance: this.instanceId, until: nowMs + this.lockMs };
      if (!row) {
        sql.insert.run(lock);
        return { kind: 'started', token: lock.token };
      }
      // The key's first use decides; a different endpoint or body is a client bug, whatever state the key is in.
      if (row.endpoint !== request.endpoint) return { kind: 'mismatch', what: 'endpoint', endpoint: row.endpoint };
      if (row.fingerprint !== request.fingerprint) return { kind: 'mismatch', what: 'body', endpoint: row.endpoint };
      if (row.status !== null) {
        return {
          kind: 'replay',
          createdAt: row.created_at,
          answer: {
            status: row.status,
            headers: JSON.parse(row.headers ?? '{}') as Record<string, string>,
            body: row.body ?? Buffer.alloc(0),
          },
        };
      }
      const abandoned =
        (row.locked_until ?? 0) <= nowMs || (this.exclusive && row.lock_owner !== this.instanceId);
      if (!abandoned) return { kind: 'in-progress' };
      sql.takeOver.run(lock);
      return { kind: 'started', token: lock.token };
    });
    this.beginTx = (request, nowMs) => begin.immediate(request, nowMs);
  }

  async begin(request: IdempotencyRequest): Promise<BeginResult> {
    return this.beginTx(request, this.clock());
  }

  async complete(owner: string, key: string, token: string, answer: StoredAnswer): Promise<boolean> {
    const changes = this.sql.complete.run({
      owner,
      key,
      token,
      status: answer.status,
      headers: JSON.stringify(answer.headers),
      body: answer.body,
    }).changes;
    return changes === 1;
  }

  async release(owner: string, key: string, token: string): Promise<void> {
    this.sql.release.run(owner, key, token);
  }

  async sweep(): Promise<number> {
    return this.sql.sweep.run(this.clock() - this.ttlMs).changes;
  }

  /** Sweeps every `intervalMs` (unreferenced: it never keeps the process alive). */
  startSweeping(intervalMs = 10 * 60 * 1000, onError: (err: unknown) => void = () => {}): void {
    this.stopSweeping();
    this.sweeper = setInterval(() => void this.sweep().catch(onError), intervalMs);
    this.sweeper.unref();
  }

  stopSweeping(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}
