// A closed-loop load driver: N workers, each starting its next operation as soon as the previous one ends,
// which is how a fixed pool of clients (or a fixed pool of sharp calls) behaves. Used for both the direct
// sharp baseline and the HTTP clients, so both sides are measured by the same clock and the same rules.

export type Outcome = { ok: true } | { ok: false; reason: string };

export interface PhaseOptions {
  concurrency: number;
  /** Stop starting operations after this many milliseconds (operations in flight still finish and count). */
  durationMs?: number;
  /** Or: run exactly this many operations in all. Takes precedence over durationMs. */
  requests?: number;
}

export interface PhaseResult {
  /** Latency of every successful operation, in milliseconds, in completion order. */
  latencies: number[];
  /** From the first start to the last completion. */
  elapsedMs: number;
  failures: number;
  /** The first few distinct failure reasons, for the report. */
  failureReasons: string[];
}

export async function runPhase(op: (worker: number) => Promise<Outcome>, opts: PhaseOptions): Promise<PhaseResult> {
  if (opts.requests === undefined && opts.durationMs === undefined) throw new Error('runPhase: give requests or durationMs');
  const latencies: number[] = [];
  const reasons = new Set<string>();
  let failures = 0;
  let issued = 0;
  const started = performance.now();
  const deadline = opts.durationMs === undefined ? Infinity : started + opts.durationMs;
  const more = (): boolean =>
    opts.requests !== undefined ? issued < opts.requests : performance.now() < deadline;

  const worker = async (id: number): Promise<void> => {
    while (more()) {
      issued += 1;
      const t = performance.now();
      let outcome: Outcome;
      try {
        outcome = await op(id);
      } catch (err) {
        outcome = { ok: false, reason: err instanceof Error ? err.message : String(err) };
      }
      if (outcome.ok) latencies.push(performance.now() - t);
      else {
        failures += 1;
        if (reasons.size < 5) reasons.add(outcome.reason.slice(0, 300));
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, (_, i) => worker(i)));
  return { latencies, elapsedMs: performance.now() - started, failures, failureReasons: [...reasons] };
}
