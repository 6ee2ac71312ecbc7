import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  afterAttempt,
  classifyAttempt,
  DEFAULT_ATTEMPT_TIMEOUT_MS,
  DEFAULT_RETRY_DELAYS_MS,
  maxAttempts,
  nextAttemptAt,
  parseDelays,
} from '../../src/webhooks/schedule.js';
import { webhookConfigFromEnv } from '../../src/webhooks/config.js';

describe('webhook schedule', () => {
  test("the defaults are the reference's: 4 attempts, 3 s / 6 s / 12 s apart, 30 s timeout", () => {
    assert.deepEqual(DEFAULT_RETRY_DELAYS_MS, [3000, 6000, 12000]);
    assert.equal(maxAttempts(DEFAULT_RETRY_DELAYS_MS), 4);
    assert.equal(DEFAULT_ATTEMPT_TIMEOUT_MS, 30_000);
    const env = webhookConfigFromEnv({});
    assert.deepEqual(env.retryDelaysMs, [3000, 6000, 12000]);
    assert.equal(env.timeoutMs, 30_000);
  });

  test('each wait counts from the end of the previous attempt; none after the last', () => {
    const d = DEFAULT_RETRY_DELAYS_MS;
    // Attempt 1 ends at t=1000 (ms), attempt 2 at 4100, attempt 3 at 10200: the reference's 3 s, 6 s, 12 s.
    assert.equal(nextAttemptAt(1, 1000, d), 4000);
    assert.equal(nextAttemptAt(2, 4100, d), 10_100);
    assert.equal(nextAttemptAt(3, 10_200, d), 22_200);
    assert.equal(nextAttemptAt(4, 22_300, d), null);
    assert.throws(() => nextAttemptAt(0, 0, d), RangeError);
    // Total span of a delivery that always fails quickly: just over 21 s.
    let t = 0;
    const starts = [t];
    for (let n = 1; ; n++) {
      const next = nextAttemptAt(n, t, d);
      if (next === null) break;
      starts.push((t = next));
    }
    assert.deepEqual(starts, [0, 3000, 9000, 21000]);
  });

  test('2xx delivers; timeouts, network errors, 5xx, 408 and 429 retry; other answers are final', () => {
    for (const status of [200, 201, 202, 204, 299]) assert.equal(classifyAttempt({ kind: 'response', status }), 'delivered', String(status));
    for (const status of [500, 502, 503, 504, 599, 408, 429]) assert.equal(classifyAttempt({ kind: 'response', status }), 'retry', String(status));
    for (const status of [400, 401, 403, 404, 405, 409, 410, 413, 422, 301, 302, 307, 308]) {
      assert.equal(classifyAttempt({ kind: 'response', status }), 'final', String(status));
    }
    assert.equal(classifyAttempt({ kind: 'network', error: 'timeout after 30000 ms' }), 'retry');
    assert.equal(classifyAttempt({ kind: 'network', error: 'ECONNREFUSED' }), 'retry');
    assert.equal(classifyAttempt({ kind: 'refused', error: 'private address' }), 'final');
  });

  test('afterAttempt: retry while the schedule lasts, then fail; final and delivered end at once', () => {
    const d = [300, 600, 1200];
    assert.deepEqual(afterAttempt('retry', 1, 50, d), { state: 'pending', dueAt: 350 });
    assert.deepEqual(afterAttempt('retry', 3, 50, d), { state: 'pending', dueAt: 1250 });
    assert.deepEqual(afterAttempt('retry', 4, 50, d), { state: 'failed' });
    assert.deepEqual(afterAttempt('final', 1, 50, d), { state: 'failed' });
    assert.deepEqual(afterAttempt('delivered', 3, 50, d), { state: 'delivered' });
    // No retries configured: a single attempt.
    assert.deepEqual(afterAttempt('retry', 1, 50, []), { state: 'failed' });
  });

  test('delays and timeouts from the environment', () => {
    assert.deepEqual(parseDelays('300,600,1200'), [300, 600, 1200]);
    assert.deepEqual(parseDelays(' 0 , 10 '), [0, 10]);
    assert.deepEqual(parseDelays(''), []);
    for (const bad of ['3s', '1,,2', '-1', '1.5', 'abc']) assert.throws(() => parseDelays(bad), /ATELIER_WEBHOOK_RETRY_DELAYS_MS/, bad);
    const env = webhookConfigFromEnv({ ATELIER_WEBHOOK_RETRY_DELAYS_MS: '300,600', ATELIER_WEBHOOK_TIMEOUT_MS: '2500' });
    assert.deepEqual(env.retryDelaysMs, [300, 600]);
    assert.equal(env.timeoutMs, 2500);
    assert.throws(() => webhookConfigFromEnv({ ATELIER_WEBHOOK_TIMEOUT_MS: '0' }), /ATELIER_WEBHOOK_TIMEOUT_MS/);
  });
});
