// The systems the bench compares (sharp direct, Atelier over HTTP, diagnostics) behind one interface, and
// the interleaved schedule that measures them. On a small shared machine the background load drifts over a
// run; measuring A B, B A, A B in short rounds spreads that drift over both sides instead of favouring
// whichever ran during a quiet minute.
import { runPhase, type Outcome, type PhaseResult } from './load.js';
import { readCpuMs } from './proc.js';
import { summarise, type LatencySummary } from './stats.js';

export interface Measured {
  phase: PhaseResult;
  /** CPU time (all threads) of the process doing the image work during the phase, in ms. */
  cpuMs: number;
  /** The part of cpuMs spent on that process's main (event-loop) thread. */
  mainCpuMs: number;
  /** CPU time of the bench process itself, when it is not the one doing the image work. */
  clientCpuMs?: number;
}

export interface Contender {
  name: string;
  op: (worker: number) => Promise<Outcome>;
  /** The process doing the work: this process for in-process work, the server otherwise. */
  pid: number;
  /** Called once after the warm-up, before the first measured round. */
  startMeasuring?(): void;
}

export interface Schedule {
  concurrency: number;
  warmupMs: number;
  /** Total measured time per contender, split over the rounds. */
  durationMs?: number;
  /** Or a total number of operations per contender, split over the rounds. */
  requests?: number;
  rounds: number;
}


async function measureOnce(c: Contender, opts: { concurrency: number; durationMs?: number; requests?: number }): Promise<Measured> {
  const remote = c.pid !== process.pid;
  const work0 = readCpuMs(c.pid);
  const main0 = readCpuMs(c.pid, c.pid);
  const self0 = readCpuMs('self');
  const phase = await runPhase(c.op, opts);
  const cpuMs = readCpuMs(c.pid) - work0;
  const mainCpuMs = readCpuMs(c.pid, c.pid) - main0;
  return remote ? { phase, cpuMs, mainCpuMs, clientCpuMs: readCpuMs('self') - self0 } : { phase, cpuMs, mainCpuMs };
}

export function mergeMeasured(parts: readonly Measured[]): Measured {
  const reasons = new Set(parts.flatMap((p) => p.phase.failureReasons));
  const sum = (f: (p: Measured) => number): number => parts.reduce((a, p) => a + f(p), 0);
  const merged: Measured = {
    phase: {
      latencies: parts.flatMap((p) => p.phase.latencies),
      elapsedMs: sum((p) => p.phase.elapsedMs),
      failures: sum((p) => p.phase.failures),
      failureReasons: [...reasons].slice(0, 5),
    },
    cpuMs: sum((p) => p.cpuMs),
    mainCpuMs: sum((p) => p.mainCpuMs),
  };
  if (parts.some((p) => p.clientCpuMs !== undefined)) merged.clientCpuMs = sum((p) => p.clientCpuMs ?? 0);
  return merged;
}

/**
 * Warms every contender up, then measures them in `rounds` rounds, alternating their order each round.
 * Warm-up failures are added to the measured failures: an error is an error whenever it happens.
 */
export async function measureInterleaved(contenders: readonly Contender[], s: Schedule, log: (line: string) => void): Promise<Measured[]> {
  // One request each first: a misconfigured run should stop with the reason, not measure errors for minutes.
  for (const c of contenders) {
    const first = await c.op(0).catch((err: unknown) => ({ ok: false as const, reason: String(err) }));
    if (!first.ok) throw new Error(`${c.name}: the first operation failed: ${first.reason}`);
  }
  const warmFailures: PhaseResult[] = [];
  for (const c of contenders) {
    log(`  warming up: ${c.name}`);
    warmFailures.push(await runPhase(c.op, { concurrency: s.concurrency, durationMs: s.warmupMs }));
  }
  for (const c of contenders) c.startMeasuring?.();
  const parts: Measured[][] = contenders.map(() => []);
  for (let r = 0; r < s.rounds; r++) {
    const order = contenders.map((_, i) => i);
    if (r % 2 === 1) order.reverse();
    for (const i of order) {
      const c = contenders[i]!;
      log(`  round ${r + 1}/${s.rounds}: ${c.name}`);
      parts[i]!.push(
        await measureOnce(c, {
          concurrency: s.concurrency,
          ...(s.requests !== undefined
            ? { requests: Math.ceil(s.requests / s.rounds) }
            : { durationMs: (s.durationMs ?? 0) / s.rounds }),
        }),
      );
    }
  }
  return parts.map((p, i) => {
    const merged = mergeMeasured(p);
    const warm = warmFailures[i]!;
    merged.phase.failures += warm.failures;
    merged.phase.failureReasons = [...new Set([...warm.failureReasons, ...merged.phase.failureReasons])].slice(0, 5);
    return merged;
  });
}

export interface SystemRun extends LatencySummary {
  failures: number;
  failureReasons: string[];
  /** CPU time per completed image, in ms, of the process doing the image work (all its threads). */
  cpuMsPerImage: number;
  /** The part of cpuMsPerImage spent on that process's main (event-loop) thread. */
  mainCpuMsPerImage: number;
  /** CPU time per completed image of the bench process itself, when it is not the one doing the work. */
  clientCpuMsPerImage?: number;
}

export function toSystemRun(m: Measured): SystemRun {
  const summary = summarise(m.phase.latencies, m.phase.elapsedMs);
  const per = (ms: number): number => (summary.count > 0 ? ms / summary.count : Number.NaN);
  return {
    ...summary,
    failures: m.phase.failures,
    failureReasons: m.phase.failureReasons,
    cpuMsPerImage: per(m.cpuMs),
    mainCpuMsPerImage: per(m.mainCpuMs),
    ...(m.clientCpuMs === undefined ? {} : { clientCpuMsPerImage: per(m.clientCpuMs) }),
  };
}
