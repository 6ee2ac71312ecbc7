// Per-key request limits over several fixed windows at once (Claid's default is 120 a minute and 4 a
// second). The answer carries what the IETF RateLimit header fields need: the policy, what remains in the
// tightest window and when that window resets.

export interface Window {
  limit: number;
  seconds: number;
}

export interface RateDecision {
  allowed: boolean;
  /** `ratelimit-limit`, e.g. "120, 120;w=60, 4;w=1". */
  policy: string;
  remaining: number;
  /** Seconds until the binding window resets. */
  resetSeconds: number;
}

interface Counter {
  windowStart: number;
  count: number;
}

export class RateLimiter {
  private readonly windows: Window[];
  private readonly counters = new Map<string, Counter[]>();
  private readonly policy: string;
  private lastSweep = 0;

  constructor(windows: Window[], private readonly now: () => number = Date.now) {
    // A zero limit disables that window.
    this.windows = windows.filter((w) => w.limit > 0).sort((a, b) => b.seconds - a.seconds);
    const first = this.windows[0];
    this.policy = first
      ? [String(first.limit), ...this.windows.map((w) => `${w.limit};w=${w.seconds}`)].join(', ')
      : '';
  }

  get enabled(): boolean {
    return this.windows.length > 0;
  }

  /** Counts one request for `key` unless a window is already full. */
  hit(key: string): RateDecision {
    const now = this.now();
    this.sweep(now);
    let counters = this.counters.get(key);
    if (!counters) {
      counters = this.windows.map(() => ({ windowStart: now, count: 0 }));
      this.counters.set(key, counters);
    }
    let allowed = true;
    this.windows.forEach((w, i) => {
      const c = counters[i]!;
      if (now - c.windowStart >= w.seconds * 1000) {
        c.windowStart = now;
        c.count = 0;
      }
      if (c.count >= w.limit) allowed = false;
    });
    if (allowed) for (const c of counters) c.count += 1;

    // The binding window is the one with the fewest requests left; on a tie, the one resetting last.
    let remaining = Infinity;
    let resetSeconds = 0;
    this.windows.forEach((w, i) => {
      const c = counters[i]!;
      const left = Math.max(0, w.limit - c.count);
      const reset = Math.max(0, Math.ceil((c.windowStart + w.seconds * 1000 - now) / 1000));
      if (left < remaining || (left === remaining && reset > resetSeconds)) {
        remaining = left;
        resetSeconds = reset;
      }
    });
    return { allowed, policy: this.policy, remaining: remaining === Infinity ? 0 : remaining, resetSeconds };
  }

  /** Forgets keys idle longer than the longest window, so memory follows active keys only. */
  private sweep(now: number): void {
    const longest = (this.windows[0]?.seconds ?? 0) * 1000;
    if (now - this.lastSweep < longest) return;
    this.lastSweep = now;
    for (const [key, counters] of this.counters) {
      if (counters.every((c) => now - c.windowStart >= longest)) this.counters.delete(key);
    }
  }
}
