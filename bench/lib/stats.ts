// Summaries of latency samples. Pure functions, so the maths can be checked apart from any timing.

export interface LatencySummary {
  count: number;
  /** Completed operations per second over the measured window. */
  throughput: number;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  max: number;
}

/**
 * The p-th percentile (0..100) of ascending-sorted samples, by the nearest-rank method: the smallest sample
 * with at least p% of the samples at or below it. With few samples p99 is simply the maximum, which is the
 * honest answer rather than an interpolated value nobody observed.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

export function summarise(latenciesMs: readonly number[], elapsedMs: number): LatencySummary {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    throughput: elapsedMs > 0 ? (sorted.length * 1000) / elapsedMs : Number.NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    mean: sorted.length ? sum / sorted.length : Number.NaN,
    max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
  };
}
