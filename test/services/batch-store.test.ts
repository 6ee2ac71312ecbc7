// The batch store: a plan is recorded once, items finish once, and credits move exactly once per item whatever
// interleaves (a resumed run, a cancel while items run).
import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase, type Db } from '../../src/db/sqlite.js';
import { BatchStore, type BatchItemError, type BatchItemResult } from '../../src/services/batch-store.js';
import type { PlannedItem } from '../../src/services/batch-plan.js';

let db: Db;
let store: BatchStore;
let balance: number;
const reserve = (n: number) => (balance >= n ? ((balance -= n), true) : false);
const refund = (n: number) => void (balance += n);

const plan: PlannedItem[] = [
  { index: 0, input: 'https://x.example/a.jpg', name: 'a.jpg', destination: null },
  { index: 1, input: 'storage://disk/in/b.png', name: 'b.png', destination: 'storage://disk/out/' },
  { index: 2, input: 'storage://disk/in/sub/c.png', name: 'c.png', destination: 'storage://disk/out/sub/' },
];

const image = { ext: 'jpeg', mps: 0.01, mime: 'image/jpeg', format: 'JPEG', width: 100, height: 100 };
const result: BatchItemResult = { input_object: image, output_object: { ...image, tmp_url: 'http://t/x/a.jpg' } };
const failure = (msg: string): BatchItemError => ({ error: msg, created_at: '2026-01-01T00:00:00.000+00:00', input_object: null });

beforeEach(() => {
  db = openDatabase(':memory:');
  store = new BatchStore(db);
  balance = 10;
});

test('a plan is recorded once, with every item pending, in input order', () => {
  assert.equal(store.isPlanned(7), false);
  store.savePlan(7, plan, 'now');
  store.savePlan(7, [plan[0]!], 'later'); // a late second run changes nothing
  assert.equal(store.isPlanned(7), true);
  const items = store.items(7);
  assert.deepEqual(
    items.map((i) => [i.index, i.input, i.name, i.destination, i.state, i.charged]),
    plan.map((p) => [p.index, p.input, p.name, p.destination, 'pending', 0]),
  );
  assert.deepEqual(store.items(8), [], 'plans are per task');
  // The schema is created once per database, however many stores open it.
  new BatchStore(db);
  assert.equal(store.items(7).length, 3);
});

test('credits are held once per item, kept on success and given back on failure', () => {
  store.savePlan(1, plan, 'now');
  assert.equal(store.hold(1, 0, 2, reserve), 'held');
  assert.equal(store.hold(1, 0, 2, reserve), 'already_held', 'a resumed run does not pay again');
  assert.equal(balance, 8);
  assert.equal(store.finish(1, 0, result, 'now'), true);
  assert.equal(store.finish(1, 0, result, 'again'), false, 'finished once');
  assert.equal(store.hold(1, 0, 2, reserve), 'not_pending');

  assert.equal(store.hold(1, 1, 2, reserve), 'held');
  assert.equal(balance, 6);
  assert.equal(store.fail(1, 1, failure('bad'), refund), true);
  assert.equal(balance, 8, 'a failed image is free');
  assert.equal(store.fail(1, 1, failure('bad again'), refund), false);
  assert.equal(balance, 8, 'refunded once');

  const outcome = store.outcomes(1);
  assert.deepEqual(outcome.results, [result]);
  assert.deepEqual(outcome.errors, [failure('bad')]);
  assert.equal(outcome.pending, 1);
  assert.equal(outcome.total, 3);
});

test('a key that cannot pay gets a refusal and keeps its balance', () => {
  store.savePlan(1, plan, 'now');
  balance = 1;
  assert.equal(store.hold(1, 0, 2, reserve), 'refused');
  assert.equal(balance, 1);
  assert.equal(store.items(1)[0]!.charged, 0);
  // A failure without a charge refunds nothing.
  assert.equal(store.fail(1, 0, failure('No API calls left.'), refund), true);
  assert.equal(balance, 1);
});

test('releasing unfinished items refunds what they held, once, and an item released that way cannot finish', () => {
  store.savePlan(1, plan, 'now');
  store.hold(1, 0, 2, reserve);
  store.finish(1, 0, result, 'now'); // produced: stays paid
  store.hold(1, 1, 2, reserve); // running when the batch is cancelled
  store.hold(1, 2, 2, reserve);
  assert.equal(balance, 4);
  assert.equal(store.releaseUnfinished(1, refund), 4);
  assert.equal(balance, 8);
  assert.equal(store.releaseUnfinished(1, refund), 0, 'nothing twice');
  assert.equal(store.finish(1, 1, result, 'late'), false, 'an item whose credits went back does not finish');
  assert.equal(store.fail(1, 2, failure('late'), refund), true);
  assert.equal(balance, 8, 'and a late failure refunds nothing more');
  assert.deepEqual(store.outcomes(1).results, [result]);
});
