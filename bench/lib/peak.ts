// Peak-memory bookkeeping around one piece of work, for this process or another one. Linux keeps the peak
// resident set size (VmHWM) for the whole life of a process; writing "5" to /proc/<pid>/clear_refs resets it
// to the current RSS, so the peak of one request can be read apart from the start-up peak.
import { writeFileSync } from 'node:fs';
import { readMemory, type MemoryStatus } from './proc.js';

/** Resets the process's peak RSS to its current RSS. Returns false where the kernel or permissions refuse. */
export function resetPeak(pid: number | 'self'): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    return false;
  }
  const after = readMemory(pid);
  // The reset worked when the peak came down to (about) the current RSS.
  return after.peakRssMiB <= after.rssMiB + 1;
}

export interface PeakReading {
  /** Resident set size once started and idle, before any image work, in MiB. */
  idleRssMiB: number;
  /** Peak RSS of start-up (module loading, compilation), in MiB. */
  startupPeakMiB: number;
  /** RSS after one small warm-up image (code paths loaded, allocator primed), in MiB. */
  warmRssMiB: number;
  /** Peak RSS while processing the measured image: reset just before, read just after. */
  peakMiB: number;
  /** Whether the peak could be reset; if not, peakMiB is the process's lifetime peak. */
  peakIsolated: boolean;
  latencyMs: number;
}

/** Runs `warm` then `work` in (or against) process `pid` and reads its memory around them. */
export async function measurePeak(pid: number | 'self', warm: () => Promise<void>, work: () => Promise<void>): Promise<PeakReading> {
  const idle: MemoryStatus = readMemory(pid);
  await warm();
  const warmRss = readMemory(pid).rssMiB;
  const isolated = resetPeak(pid);
  const t = performance.now();
  await work();
  const latencyMs = performance.now() - t;
  const after = readMemory(pid);
  return {
    idleRssMiB: idle.rssMiB,
    startupPeakMiB: idle.peakRssMiB,
    warmRssMiB: warmRss,
    peakMiB: isolated ? after.peakRssMiB : Math.max(after.peakRssMiB, idle.peakRssMiB),
    peakIsolated: isolated,
    latencyMs,
  };
}
