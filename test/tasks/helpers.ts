// Shared by the task tests: throw-away database files, polling waits and child processes that are always
// cleaned up, even when a test fails half-way.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openDatabase, type Db } from '../../src/db/sqlite.js';
import type { TaskLogger } from '../../src/tasks/index.js';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = join(here, '..', '..');
export const WORKER_FIXTURE = join(here, 'fixtures', 'worker.ts');

export interface TempStore {
  dir: string;
  file: string;
  /** Opens another connection to the same file, closed when the test ends. */
  open(): Db;
}

export function tempStore(t: TestContext): TempStore {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-tasks-'));
  const file = join(dir, 'atelier.db');
  const dbs: Db[] = [];
  t.after(() => {
    for (const db of dbs) if (db.open) db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir,
    file,
    open() {
      const db = openDatabase(file);
      dbs.push(db);
      return db;
    },
  };
}

export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}.`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: object;
  msg: string | undefined;
}

export function captureLogger(): TaskLogger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at = (level: LogEntry['level']) => (obj: object, msg?: string) => void entries.push({ level, obj, msg });
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export interface Child {
  process: ChildProcessWithoutNullStreams;
  /** Resolves with the first stdout line that starts with `prefix`, split on spaces. */
  line(prefix: string, timeoutMs?: number): Promise<string[]>;
  send(text: string): void;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts test/tasks/fixtures/worker.ts in its own Node process; killed with SIGKILL when the test ends. */
export function spawnWorker(t: TestContext, args: Record<string, string | number | boolean>): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER_FIXTURE, JSON.stringify(args)], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    for (const wake of waiters) wake();
  });
  return {
    process: child,
    exited,
    send: (text) => child.stdin.write(text),
    line(prefix, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.find((l) => l.startsWith(prefix));
          if (!found) return false;
          cleanup();
          resolve(found.split(' '));
          return true;
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`Child never printed "${prefix}". stdout: ${lines.join('\n')} stderr: ${stderr}`));
        }, timeoutMs);
        const onExit = () => {
          if (check()) return;
          cleanup();
          reject(new Error(`Child exited before printing "${prefix}". stderr: ${stderr}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
          child.off('close', onExit);
        };
        if (check()) return;
        waiters.add(check);
        child.once('close', onExit);
      });
    },
  };
}
