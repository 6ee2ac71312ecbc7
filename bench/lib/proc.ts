// Reads another process's memory and CPU use from Linux's /proc. The server is a separate process, so its
// own counters (not the bench's) are what the memory target and CPU-per-image figures are about.
import { readFileSync } from 'node:fs';
import { clockTicksPerSecond } from './clock.js';

export interface MemoryStatus {
  /** Peak resident set size since the process started (VmHWM), in MiB. */
  peakRssMiB: number;
  /** Current resident set size (VmRSS), in MiB. */
  rssMiB: number;
}

function kibField(status: string, name: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!m) throw new Error(`/proc status has no ${name} field`);
  return Number(m[1]);
}

export function readMemory(pid: number | 'self'): MemoryStatus {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { peakRssMiB: kibField(status, 'VmHWM') / 1024, rssMiB: kibField(status, 'VmRSS') / 1024 };
}

/**
 * User + system CPU time the process has used so far, all threads included (libvips' worker threads,
 * libuv's pool, V8's GC helpers), in milliseconds. With `thread`, only that thread (the process id names its
 * main, event-loop thread). Resolution is one clock tick (usually 10 ms).
 */
export function readCpuMs(pid: number | 'self', thread?: number | 'self'): number {
  const path = thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread === 'self' ? process.pid : thread}/stat`;
  const stat = readFileSync(path, 'utf8');
  // The command name (field 2) is in parentheses and may contain spaces; count fields after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  const ticks = Number(rest[11]) + Number(rest[12]);
  return (ticks * 1000) / clockTicksPerSecond();
}
