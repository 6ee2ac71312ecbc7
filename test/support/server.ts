// Starts the real Atelier server as a child process on a free loopback port with its own data directory,
// the way `npm start` runs it, and stops it afterwards. End-to-end tests talk HTTP to it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const TEST_KEY = 'atl_test_key_with_every_scope_0123456789abcdef';

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

export interface RunningServer {
  url: string;
  port: number;
  dataDir: string;
  key: string;
  /** The server process's id (to read its memory and CPU use from /proc, as the benchmarks do). */
  pid?: number;
  output: () => string;
  /** Stops the process (SIGTERM, or SIGKILL to simulate a crash) and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Removes the data directory too. */
  dispose(): Promise<void>;
  fetch(path: string, init?: RequestInit & { key?: string | null }): Promise<Response>;
  json<T = any>(path: string, body?: unknown, init?: RequestInit & { key?: string | null }): Promise<{ status: number; body: T; headers: Headers }>;
}

export interface StartOptions {
  env?: Record<string, string>;
  dataDir?: string;
  port?: number;
}

export async function startServer(opts: StartOptions = {}): Promise<RunningServer> {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'atelier-e2e-')));
  const port = opts.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    ATELIER_DATA_DIR: dataDir,
    ATELIER_PUBLIC_URL: url,
    ATELIER_API_KEY: TEST_KEY,
    ATELIER_URL_ALLOWLIST: '127.0.0.1,localhost,::1',
    ATELIER_LOG_LEVEL: 'warn',
    ...opts.env,
  };
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main.ts')], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited early (${child.exitCode}):\n${out}`);
    try {
      const res = await fetch(`${url}/health`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not start in time:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const doFetch = (path: string, init: RequestInit & { key?: string | null } = {}): Promise<Response> => {
    const headers = new Headers(init.headers);
    const key = init.key === undefined ? TEST_KEY : init.key;
    if (key !== null && !headers.has('authorization')) headers.set('authorization', `Bearer ${key}`);
    return fetch(path.startsWith('http') ? path : `${url}${path}`, { ...init, headers });
  };

  const server: RunningServer = {
    url,
    port,
    dataDir,
    key: TEST_KEY,
    pid: child.pid,
    output: () => out,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
    async dispose() {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
    fetch: doFetch,
    async json(path, body, init = {}) {
      const headers = new Headers(init.headers);
      if (body !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
      const res = await doFetch(path, {
        method: body === undefined ? 'GET' : 'POST',
        ...init,
        headers,
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // leave as text
      }
      return { status: res.status, body: parsed as any, headers: res.headers };
    },
  };
  return server;
}
