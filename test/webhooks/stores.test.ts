import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase } from '../../src/db/sqlite.js';
import {
  decryptSecret,
  deriveSecretKey,
  encryptSecret,
  eventForStatus,
  WebhookSettingsStore,
} from '../../src/webhooks/settings.js';
import { DeliveryStore, type ClaimedAttempt } from '../../src/webhooks/deliveries.js';

const key = deriveSecretKey('installation-secret-for-tests');

function fakeClock(start = 1_700_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('webhook settings store', () => {
  test('events map DONE to success and ERROR to failed, nothing else', () => {
    assert.equal(eventForStatus('DONE'), 'success');
    assert.equal(eventForStatus('ERROR'), 'failed');
    for (const s of ['ACCEPTED', 'PROCESSING', 'CANCELLED', 'WAITING', 'PAUSED'] as const) assert.equal(eventForStatus(s), null);
  });

  test('secrets are encrypted at rest, bound to their account, and round-trip', () => {
    const db = openDatabase(':memory:');
    const store = new WebhookSettingsStore(db, key);
    store.put('acct1', { url: 'https://hooks.example/a', events: ['failed', 'success'], secret: 'top secret' });
    const raw = db.prepare('SELECT secret FROM webhook_settings WHERE account = ?').get('acct1') as { secret: string };
    assert.ok(!raw.secret.includes('top secret'));
    assert.match(raw.secret, /^v1:/);
    assert.equal(store.get('acct1')!.secret, 'top secret');
    assert.equal(decryptSecret(key, 'acct1', raw.secret), 'top secret');
    // The same ciphertext does not open for another account, nor under another installation's key.
    assert.throws(() => decryptSecret(key, 'acct2', raw.secret));
    assert.throws(() => decryptSecret(deriveSecretKey('other'), 'acct1', raw.secret));
    // Fresh IV each time.
    assert.notEqual(encryptSecret(key, 'a', 's'), encryptSecret(key, 'a', 's'));
  });

  test('put replaces url and events, keeps the secret unless told, and remove deletes', () => {
    const clock = fakeClock();
    const store = new WebhookSettingsStore(openDatabase(':memory:'), key, clock.now);
    const first = store.put('a', { url: 'https://h.example/1', events: ['failed', 'success', 'failed'], secret: 'k1' });
    assert.deepEqual(first.events, ['success', 'failed']);
    clock.advance(1000);
    const second = store.put('a', { url: 'https://h.example/2', events: ['failed'] });
    assert.equal(second.url, 'https://h.example/2');
    assert.deepEqual(second.events, ['failed']);
    assert.equal(second.secret, 'k1');
    assert.equal(second.createdAt, first.createdAt);
    assert.notEqual(second.updatedAt, first.updatedAt);
    assert.equal(store.put('a', { url: 'https://h.example/2', events: ['failed'], secret: null }).secret, null);
    assert.throws(() => store.put('a', { url: 'https://h.example/2', events: [] }), RangeError);
    assert.equal(store.get('b'), undefined);
    assert.equal(store.remove('a'), true);
    assert.equal(store.remove('a'), false);
    assert.equal(store.get('a'), undefined);
  });
});

describe('webhook delivery store', () => {
  const body = Buffer.from('{"data":{"id":1}}');
  const newDelivery = (store: DeliveryStore, taskId: number, account = 'acct') =>
    store.create({ account, taskId, taskKind: 'edit', event: 'success', body });

  test('one automatic delivery per task and event; the body is kept byte for byte', () => {
    const store = new DeliveryStore(openDatabase(':memory:'));
    const d = newDelivery(store, 1)!;
    assert.equal(d.state, 'pending');
    assert.deepEqual(d.body, body);
    assert.equal(newDelivery(store, 1), undefined);
    assert.ok(store.create({ account: 'acct', taskId: 1, taskKind: 'edit', event: 'failed', body }));
  });

  test('claims take due deliveries oldest-due first and open an attempt row', () => {
    const clock = fakeClock();
    const store = new DeliveryStore(openDatabase(':memory:'), clock.now);
    const a = newDelivery(store, 1)!;
    clock.advance(5);
    const b = newDelivery(store, 2)!;
    const first = store.claim('me', 60_000, () => 'https://h.example/')!;
    assert.equal(first.delivery.id, a.id);
    assert.equal(first.attempt, 1);
    assert.equal(first.delivery.state, 'sending');
    const second = store.claim('me', 60_000, () => 'https://h.example/')!;
    assert.equal(second.delivery.id, b.id);
    assert.equal(store.claim('me', 60_000, () => 'x'), undefined);
    const log = store.attempts(a.id);
    assert.equal(log.length, 1);
    assert.equal(log[0]!.outcome, null);
    assert.equal(log[0]!.url, 'https://h.example/');
  });

  test('a retry waits for its due time; the schedule ends delivered or failed and is never claimed again', () => {
    const clock = fakeClock();
    const store = new DeliveryStore(openDatabase(':memory:'), clock.now);
    const d = newDelivery(store, 1)!;
    let c = store.claim('me', 60_000, () => 'u')!;
    assert.ok(
      store.finish(c, { url: 'u', statusCode: 503, latencyMs: 12.4, error: 'HTTP 503', verdict: 'retry', next: { state: 'pending', dueAt: clock.now() + 300 } }),
    );
    assert.equal(store.nextDueAt(), clock.now() + 300);
    assert.equal(store.claim('me', 60_000, () => 'u'), undefined);
    clock.advance(299);
    assert.equal(store.claim('me', 60_000, () => 'u'), undefined);
    clock.advance(1);
    c = store.claim('me', 60_000, () => 'u')!;
    assert.equal(c.attempt, 2);
    assert.ok(store.finish(c, { url: 'u', statusCode: 204, latencyMs: 3, error: null, verdict: 'delivered', next: { state: 'delivered' } }));
    const done = store.get('acct', d.id)!;
    assert.equal(done.state, 'delivered');
    assert.equal(done.attempts, 2);
    assert.equal(done.dueAt, null);
    assert.ok(done.finishedAt);
    clock.advance(100_000);
    assert.equal(store.claim('me', 60_000, () => 'u'), undefined);
    assert.equal(store.nextDueAt(), null);
    const log = store.attempts(d.id);
    assert.deepEqual(log.map((a) => [a.attempt, a.statusCode, a.latencyMs, a.error, a.outcome]), [
      [1, 503, 12, 'HTTP 503', 'retry'],
      [2, 204, 3, null, 'delivered'],
    ]);
  });

  test('a stale writer cannot finish an attempt it no longer holds', () => {
    const clock = fakeClock();
    const store = new DeliveryStore(openDatabase(':memory:'), clock.now);
    newDelivery(store, 1);
    const c = store.claim('old', 1000, () => 'u')!;
    clock.advance(1001);
    assert.equal(store.recoverStalled({ kind: 'expired' }, 'interrupted').length, 1);
    const again = store.claim('new', 1000, () => 'u')!;
    assert.equal(again.attempt, 1, 'an interrupted attempt does not use up the schedule');
    const stale: ClaimedAttempt = c;
    assert.equal(
      store.finish(stale, { url: 'u', statusCode: 200, latencyMs: 1, error: null, verdict: 'delivered', next: { state: 'delivered' } }),
      false,
    );
    assert.equal(store.get('acct', c.delivery.id)!.state, 'sending');
  });

  test('at start, attempts held by another instance are interrupted and due at once', () => {
    const clock = fakeClock();
    const db = openDatabase(':memory:');
    const store = new DeliveryStore(db, clock.now);
    newDelivery(store, 1);
    newDelivery(store, 2);
    store.claim('dead-process', 60_000, () => 'u');
    const mine = store.claim('me', 60_000, () => 'u')!;
    const recovered = store.recoverStalled({ kind: 'foreign', liveOwner: 'me' }, 'interrupted: crash');
    assert.deepEqual(recovered.map((d) => d.taskId), [1]);
    const d1 = store.list('acct', { taskId: 1 })[0]!;
    assert.equal(d1.state, 'pending');
    assert.equal(d1.dueAt, clock.now());
    assert.equal(d1.attempts, 0);
    assert.deepEqual(store.attempts(d1.id).map((a) => [a.outcome, a.error]), [['interrupted', 'interrupted: crash']]);
    assert.equal(store.get('acct', mine.delivery.id)!.state, 'sending');
  });

  test('interrupt (shutdown) hands the delivery back without counting the attempt', () => {
    const clock = fakeClock();
    const store = new DeliveryStore(openDatabase(':memory:'), clock.now);
    const d = newDelivery(store, 1)!;
    const c = store.claim('me', 60_000, () => 'u')!;
    store.interrupt(c, 'interrupted: shutdown', 40);
    const after = store.get('acct', d.id)!;
    assert.deepEqual([after.state, after.attempts, after.dueAt], ['pending', 0, clock.now()]);
    assert.deepEqual(store.attempts(d.id).map((a) => [a.attempt, a.outcome, a.latencyMs]), [[1, 'interrupted', 40]]);
  });

  test('disable cancels waiting deliveries of that account only; resend starts a new schedule', () => {
    const clock = fakeClock();
    const store = new DeliveryStore(openDatabase(':memory:'), clock.now);
    const mine = newDelivery(store, 1, 'a')!;
    newDelivery(store, 2, 'b');
    assert.equal(store.cancelPending('a'), 1);
    assert.equal(store.get('a', mine.id)!.state, 'cancelled');
    assert.equal(store.get('b', mine.id), undefined, "another account's delivery reads as missing");
    clock.advance(10);
    const again = store.resend('a', mine.id)!;
    assert.notEqual(again.id, mine.id);
    assert.deepEqual([again.state, again.attempts, again.resendOf, again.dueAt], ['pending', 0, mine.id, clock.now()]);
    assert.deepEqual(again.body, mine.body);
    assert.ok(store.resend('a', mine.id), 'each resend is a delivery of its own');
    assert.equal(store.resend('b', mine.id), undefined);
    assert.deepEqual(store.list('a', { taskId: 1 }).map((d) => d.resendOf), [mine.id, mine.id, null]);
    assert.equal(store.list('a', { taskId: 1, limit: 1 }).length, 1);
    assert.deepEqual(store.list('a', { beforeId: again.id }).map((d) => d.id), [mine.id]);
  });
});
