// Per-item progress of batches, in the embedded SQLite store. A batch task plans its items once (the plan row
// and every item are written in one transaction), then records each item as it finishes, so a batch cut off by
// a crash resumes with the items still pending and never runs a finished one again.
//
// Credits are held per item in the same rows (`charged`): taken when the item starts, kept when it produces an
// image, given back when it fails or is abandoned. Every move of a charge is one transaction that also moves
// the row, so a charge is taken once and given back at most once whatever interleaves (a resumed run, a
// cancel arriving while items run).
import { ensureSchema, type Db } from '../db/sqlite.js';
import type { ImageObject, OutputImageObject } from '../contract/types.js';
import type { PlannedItem } from './batch-plan.js';

export type BatchItemState = 'pending' | 'done' | 'failed';

/** One finished image as the batch answer lists it (the published AsyncPipelineResultItem). */
export interface BatchItemResult {
  input_object: ImageObject;
  output_object: OutputImageObject;
}

/** One failed image (the published BatchPipelineError). */
export interface BatchItemError {
  error: string;
  created_at: string;
  input_object: ImageObject | null;
}

export interface BatchItem extends PlannedItem {
  state: BatchItemState;
  /** Credits held for the item (0 when none are). */
  charged: number;
  result: BatchItemResult | null;
  error: BatchItemError | null;
}

interface ItemRow {
  task_id: number;
  idx: number;
  input: string;
  name: string;
  destination: string | null;
  state: BatchItemState;
  charged: number;
  result: string | null;
  error: string | null;
}

export type HoldResult = 'held' | 'already_held' | 'not_pending' | 'refused';

/** Takes credits; false when the balance is short. Called inside the store's transaction. */
export type Reserve = (amount: number) => boolean;
/** Gives credits back. Called inside the store's transaction. */
export type Refund = (amount: number) => void;

function fromRow(row: ItemRow): BatchItem {
  return {
    index: row.idx,
    input: row.input,
    name: row.name,
    destination: row.destination,
    state: row.state,
    charged: row.charged,
    result: row.result === null ? null : (JSON.parse(row.result) as BatchItemResult),
    error: row.error === null ? null : (JSON.parse(row.error) as BatchItemError),
  };
}

export class BatchStore {
  constructor(private readonly db: Db) {
    ensureSchema(db, 'batches-1', [
      `CREATE TABLE batch_plans (
         task_id INTEGER PRIMARY KEY,
         item_count INTEGER NOT NULL,
         planned_at TEXT NOT NULL
       )`,
      `CREATE TABLE batch_items (
         task_id INTEGER NOT NULL,
         idx INTEGER NOT NULL,
         input TEXT NOT NULL,
         name TEXT NOT NULL,
         destination TEXT,
         state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
         charged INTEGER NOT NULL DEFAULT 0,
         result TEXT,
         error TEXT,
         finished_at TEXT,
         PRIMARY KEY (task_id, idx)
       ) WITHOUT ROWID`,
    ]);
  }

  isPlanned(taskId: number): boolean {
    return this.db.prepare('SELECT 1 FROM batch_plans WHERE task_id = ?').get(taskId) !== undefined;
  }

  /** Records the plan once: a second call for the same task (a resumed run racing a late one) changes nothing. */
  savePlan(taskId: number, items: readonly PlannedItem[], at: string): void {
    const insertPlan = this.db.prepare(
      'INSERT OR IGNORE INTO batch_plans (task_id, item_count, planned_at) VALUES (?, ?, ?)',
    );
    const insertItem = this.db.prepare(
      `INSERT INTO batch_items (task_id, idx, input, name, destination, state)
       VALUES (?, ?, ?, ?, ?, 'pending')`,
    );
    this.db.transaction(() => {
      if (insertPlan.run(taskId, items.length, at).changes === 0) return;
      for (const item of items) insertItem.run(taskId, item.index, item.input, item.name, item.destination);
    })();
  }

  items(taskId: number): BatchItem[] {
    const rows = this.db.prepare('SELECT * FROM batch_items WHERE task_id = ? ORDER BY idx').all(taskId) as ItemRow[];
    return rows.map(fromRow);
  }

  /** Finished results and errors in input order, without loading pending rows' columns twice. */
  outcomes(taskId: number): { results: BatchItemResult[]; errors: BatchItemError[]; pending: number; total: number } {
    const rows = this.db
      .prepare('SELECT state, result, error FROM batch_items WHERE task_id = ? ORDER BY idx')
      .all(taskId) as Pick<ItemRow, 'state' | 'result' | 'error'>[];
    const results: BatchItemResult[] = [];
    const errors: BatchItemError[] = [];
    let pending = 0;
    for (const row of rows) {
      if (row.state === 'done' && row.result !== null) results.push(JSON.parse(row.result) as BatchItemResult);
      else if (row.state === 'failed' && row.error !== null) errors.push(JSON.parse(row.error) as BatchItemError);
      else pending += 1;
    }
    return { results, errors, pending, total: rows.length };
  }

  /**
   * Holds `cost` credits for a pending item. An item that already holds them (its earlier run was cut off) keeps
   * them: nothing is taken twice.
   */
  hold(taskId: number, index: number, cost: number, reserve: Reserve): HoldResult {
    const get = this.db.prepare('SELECT state, charged FROM batch_items WHERE task_id = ? AND idx = ?');
    const set = this.db.prepare('UPDATE batch_items SET charged = ? WHERE task_id = ? AND idx = ?');
    return this.db.transaction((): HoldResult => {
      const row = get.get(taskId, index) as Pick<ItemRow, 'state' | 'charged'> | undefined;
      if (!row || row.state !== 'pending') return 'not_pending';
      if (row.charged > 0) return 'already_held';
      if (!reserve(cost)) return 'refused';
      set.run(cost, taskId, index);
      return 'held';
    })();
  }

  /**
   * Records an item's image. Only a pending item that still holds its credits finishes: one whose charge was
   * given back (the batch was cancelled meanwhile) stays unfinished and unpaid. False when nothing changed.
   */
  finish(taskId: number, index: number, result: BatchItemResult, at: string): boolean {
    return (
      this.db
        .prepare(
          `UPDATE batch_items SET state = 'done', result = ?, finished_at = ?
           WHERE task_id = ? AND idx = ? AND state = 'pending' AND charged > 0`,
        )
        .run(JSON.stringify(result), at, taskId, index).changes > 0
    );
  }

  /** Records an item's failure and gives back what it held. False when it was not pending any more. */
  fail(taskId: number, index: number, error: BatchItemError, refund: Refund): boolean {
    const get = this.db.prepare('SELECT state, charged FROM batch_items WHERE task_id = ? AND idx = ?');
    const set = this.db.prepare(
      `UPDATE batch_items SET state = 'failed', error = ?, charged = 0, finished_at = ?
       WHERE task_id = ? AND idx = ? AND state = 'pending'`,
    );
    return this.db.transaction((): boolean => {
      const row = get.get(taskId, index) as Pick<ItemRow, 'state' | 'charged'> | undefined;
      if (!row || row.state !== 'pending') return false;
      set.run(JSON.stringify(error), error.created_at, taskId, index);
      if (row.charged > 0) refund(row.charged);
      return true;
    })();
  }

  /**
   * Gives back the credits of every unfinished item (the batch ended without them: cancelled, or given up after
   * too many interruptions). Returns the amount given back.
   */
  releaseUnfinished(taskId: number, refund: Refund): number {
    const sum = this.db.prepare(
      `SELECT COALESCE(SUM(charged), 0) AS total FROM batch_items WHERE task_id = ? AND state = 'pending' AND charged > 0`,
    );
    const clear = this.db.prepare(
      `UPDATE batch_items SET charged = 0 WHERE task_id = ? AND state = 'pending' AND charged > 0`,
    );
    return this.db.transaction((): number => {
      const { total } = sum.get(taskId) as { total: number };
      if (total === 0) return 0;
      clear.run(taskId);
      refund(total);
      return total;
    })();
  }
}
