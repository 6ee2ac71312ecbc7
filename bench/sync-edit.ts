// Atelier's sync edit endpoint driven over HTTP from this process (the server is a separate process):
// N keep-alive clients, each sending its next POST /v1/image/edit as soon as the previous answer is read.
// The server fetches the input from a loopback origin, runs the pipeline, writes the output to its
// temporary store and answers JSON with a tmp_url: all of that is inside the measured latency.
import { Pool } from 'undici';
import type { Outcome } from './lib/load.js';
import { median } from './lib/stats.js';
import type { Contender } from './lib/system.js';

export interface AtelierTarget {
  url: string;
  key: string;
  pid: number;
}

export interface EditAnswer {
  data: {
    input: { width: number; height: number };
    output: { width: number; height: number; tmp_url: string; format: string };
    profiling: Record<string, unknown>;
  };
}

export function editBody(inputUrl: string, width: number): string {
  return JSON.stringify({ input: inputUrl, operations: { resizing: { width } } });
}

export interface SyncEditContender extends Contender {
  /** Median of every numeric `profiling` field over the answers so far (warm-up excluded), in ms. */
  profiling(): Record<string, number>;
  lastAnswer(): EditAnswer | undefined;
  close(): Promise<void>;
}

export function syncEditContender(target: AtelierTarget, inputUrl: string, width: number, concurrency: number): SyncEditContender {
  const pool = new Pool(target.url, { connections: concurrency, keepAliveTimeout: 60_000, pipelining: 1 });
  const body = editBody(inputUrl, width);
  const headers = { authorization: `Bearer ${target.key}`, 'content-type': 'application/json' };
  const profiles = new Map<string, number[]>();
  let measuring = false;
  let last: EditAnswer | undefined;

  const op = async (): Promise<Outcome> => {
    const res = await pool.request({ path: '/v1/image/edit', method: 'POST', headers, body });
    const text = await res.body.text();
    if (res.statusCode !== 200) return { ok: false, reason: `HTTP ${res.statusCode}: ${text}` };
    const answer = JSON.parse(text) as EditAnswer;
    if (answer.data.output.width !== width) {
      return { ok: false, reason: `output is ${answer.data.output.width} px wide, expected ${width}` };
    }
    if (!measuring) return { ok: true };
    last = answer;
    for (const [k, v] of Object.entries(answer.data.profiling)) {
      if (typeof v !== 'number') continue;
      let list = profiles.get(k);
      if (!list) profiles.set(k, (list = []));
      list.push(v);
    }
    return { ok: true };
  };

  return {
    name: 'Atelier POST /v1/image/edit',
    pid: target.pid,
    op,
    startMeasuring: () => void (measuring = true),
    profiling: () => Object.fromEntries([...profiles].map(([k, list]) => [k, median(list)])),
    lastAnswer: () => last,
    close: () => pool.close(),
  };
}

/**
 * Diagnostic: GET the input from the origin at the same concurrency, as the server's fetcher does before
 * every edit. Shows what the fetch alone costs on this machine (origin and client both in this process).
 */
export function originFetchContender(originUrl: string, path: string, concurrency: number): Contender & { close(): Promise<void> } {
  const pool = new Pool(originUrl, { connections: concurrency, keepAliveTimeout: 60_000 });
  return {
    name: 'input fetch alone',
    pid: process.pid,
    op: async () => {
      const res = await pool.request({ path, method: 'GET' });
      // Buffered like the server does, so the copy is part of the cost.
      const data = Buffer.from(await res.body.arrayBuffer());
      return res.statusCode === 200 && data.length > 0 ? { ok: true } : { ok: false, reason: `HTTP ${res.statusCode}` };
    },
    close: () => pool.close(),
  };
}
