import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimiter } from '../../src/accounts/rate-limiter.js';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test('policy header lists the quota and each window, largest window first', () => {
  const c = clock();
  const rl = new RateLimiter([{ limit: 4, seconds: 1 }, { limit: 120, seconds: 60 }], c.now);
  const d = rl.hit('k');
  assert.equal(d.policy, '120, 120;w=60, 4;w=1');
  assert.equal(d.allowed, true);
  assert.equal(d.remaining, 3, 'the per-second window is the tighter one');
  assert.equal(d.resetSeconds, 1);
});

test('the per-second window refuses the fifth request and frees up a second later', () => {
  const c = clock();
  const rl = new RateLimiter([{ limit: 120, seconds: 60 }, { limit: 4, seconds: 1 }], c.now);
  for (let i = 0; i < 4; i++) assert.equal(rl.hit('k').allowed, true);
  const refused = rl.hit('k');
  assert.equal(refused.allowed, false);
  assert.equal(refused.remaining, 0);
  assert.equal(refused.resetSeconds, 1);
  c.advance(1000);
  assert.equal(rl.hit('k').allowed, true);
});

test('the per-minute window binds after 120 requests, with the minute reset reported', () => {
  const c = clock();
  const rl = new RateLimiter([{ limit: 120, seconds: 60 }, { limit: 4, seconds: 1 }], c.now);
  let allowed = 0;
  for (let s = 0; s < 40; s++) {
    for (let i = 0; i < 4; i++) if (rl.hit('k').allowed) allowed++;
    c.advance(1000);
  }
  assert.equal(allowed, 120);
  const d = rl.hit('k');
  assert.equal(d.allowed, false);
  assert.equal(d.remaining, 0);
  assert.equal(d.resetSeconds, 20, '60 s window opened 40 s ago');
  c.advance(20_000);
  assert.equal(rl.hit('k').allowed, true);
});

test('refused requests are not counted, and keys are independent', () => {
  const c = clock();
  const rl = new RateLimiter([{ limit: 2, seconds: 10 }], c.now);
  rl.hit('a');
  rl.hit('a');
  for (let i = 0; i < 5; i++) assert.equal(rl.hit('a').allowed, false);
  assert.equal(rl.hit('b').allowed, true);
  c.advance(10_000);
  assert.equal(rl.hit('a').remaining, 1);
});

test('a zero limit disables that window; all zero disables limiting', () => {
  const rl = new RateLimiter([{ limit: 0, seconds: 60 }, { limit: 0, seconds: 1 }]);
  assert.equal(rl.enabled, false);
  const one = new RateLimiter([{ limit: 0, seconds: 60 }, { limit: 3, seconds: 1 }]);
  assert.equal(one.hit('k').policy, '3, 3;w=1');
});
