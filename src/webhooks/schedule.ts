// The delivery schedule as pure functions: how a response or a failure is classified, and when the next
// attempt is due. The reference: up to 4 attempts, immediately, then 3 s, 6 s and 12 s after the previous one,
// each with a 30-second timeout; retry on a timeout or a 5xx. We also retry connection failures, 408 and 429
// (the receiver asking us to come back), and treat every other non-2xx answer as final.

/** Delays between attempts: the n-th entry is the wait after attempt n, so attempts = entries + 1. */
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [3_000, 6_000, 12_000];
export const DEFAULT_ATTEMPT_TIMEOUT_MS = 30_000;

/** How one attempt ended. */
export type AttemptVerdict =
  /** 2xx: the receiver has it; never send again. */
  | 'delivered'
  /** Worth another try (timeout, network failure, 5xx, 408, 429), if the schedule has one left. */
  | 'retry'
  /** The receiver refused, or the URL cannot be used: more tries would not help. */
  | 'final';

/** What the transport reports for an attempt: an HTTP status, or a failure before any status arrived. */
export type AttemptResult =
  /** `note` explains an answer taken as it is without every detail (a 2xx whose body was not read). */
  | { kind: 'response'; status: number; note?: string }
  /** Timeout, refused connection, reset, DNS failure: the receiver may be back in a moment. */
  | { kind: 'network'; error: string }
  /** The request was never sent and never could be (the outbound guard refused the address, a bad URL). */
  | { kind: 'refused'; error: string };

export function classifyAttempt(result: AttemptResult): AttemptVerdict {
  if (result.kind === 'network') return 'retry';
  if (result.kind === 'refused') return 'final';
  const { status } = result;
  if (status >= 200 && status < 300) return 'delivered';
  if (status >= 500 || status === 408 || status === 429) return 'retry';
  // 3xx included: webhook redirects are not followed, so a redirect means the URL is wrong.
  return 'final';
}

/** Attempts a delivery gets in all, the first one included. */
export function maxAttempts(delays: readonly number[]): number {
  return delays.length + 1;
}

/**
 * When attempt `attemptsMade + 1` is due, given that attempt `attemptsMade` ended at `endedAt` (epoch ms), or
 * null when the schedule is used up. Delays count from the end of the previous attempt, so a receiver that
 * took the full timeout still gets the whole pause before the next try.
 */
export function nextAttemptAt(attemptsMade: number, endedAt: number, delays: readonly number[]): number | null {
  if (!Number.isInteger(attemptsMade) || attemptsMade < 1) throw new RangeError(`attemptsMade must be >= 1, got ${attemptsMade}`);
  const delay = delays[attemptsMade - 1];
  return delay === undefined ? null : endedAt + delay;
}

/** What to do with a delivery after an attempt: the state it moves to and, when retried, when. */
export type AfterAttempt =
  | { state: 'delivered' }
  | { state: 'failed' }
  | { state: 'pending'; dueAt: number };

export function afterAttempt(
  verdict: AttemptVerdict,
  attemptsMade: number,
  endedAt: number,
  delays: readonly number[],
): AfterAttempt {
  if (verdict === 'delivered') return { state: 'delivered' };
  if (verdict === 'final') return { state: 'failed' };
  const dueAt = nextAttemptAt(attemptsMade, endedAt, delays);
  return dueAt === null ? { state: 'failed' } : { state: 'pending', dueAt };
}

/**
 * Parses a comma-separated list of non-negative integer milliseconds ("3000,6000,12000"). An empty string
 * means no retries at all (one attempt). Throws with the variable's name on anything else.
 */
export function parseDelays(raw: string, name = 'ATELIER_WEBHOOK_RETRY_DELAYS_MS'): number[] {
  const trimmed = raw.trim();
  if (trimmed === '') return [];
  return trimmed.split(',').map((part) => {
    const text = part.trim();
    const n = Number(text);
    if (text === '' || !Number.isInteger(n) || n < 0) {
      throw new Error(`${name} must be a comma-separated list of non-negative integer milliseconds, got "${raw}"`);
    }
    return n;
  });
}
