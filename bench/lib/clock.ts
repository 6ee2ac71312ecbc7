// The kernel's clock tick rate, which /proc/<pid>/stat counts CPU time in.
import { execFileSync } from 'node:child_process';

let cached: number | undefined;

export function clockTicksPerSecond(): number {
  if (cached === undefined) {
    try {
      cached = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      // USER_HZ is 100 on every mainstream Linux architecture.
      cached = 100;
    }
  }
  return cached;
}
