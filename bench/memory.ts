// Peak memory of one large edit: the Atelier server (a real server process, fetching the input over HTTP)
// against plain sharp in a fresh process, both after the same small warm-up image.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Pool } from 'undici';
import { measurePeak, type PeakReading } from './lib/peak.js';
import type { JpegSettings } from './sharp-baseline.js';
import { editBody, type AtelierTarget } from './sync-edit.js';

const run = promisify(execFile);

/** Sends one edit and checks the answer; returns its `profiling`. */
async function editOnce(pool: Pool, target: AtelierTarget, inputUrl: string, width: number): Promise<Record<string, unknown>> {
  const res = await pool.request({
    path: '/v1/image/edit',
    method: 'POST',
    headers: { authorization: `Bearer ${target.key}`, 'content-type': 'application/json' },
    body: editBody(inputUrl, width),
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`edit of ${inputUrl} answered HTTP ${res.statusCode}: ${text.slice(0, 300)}`);
  const answer = JSON.parse(text) as { data: { output: { width: number }; profiling: Record<string, unknown> } };
  if (answer.data.output.width !== width) throw new Error(`edit of ${inputUrl} gave width ${answer.data.output.width}`);
  return answer.data.profiling;
}

/** `target` must be a freshly started, idle server: its start-up and idle figures are part of the reading. */
export async function measureServerPeak(
  target: AtelierTarget,
  warmUrl: string,
  bigUrl: string,
  width: number,
): Promise<PeakReading & { profiling: Record<string, unknown> }> {
  const pool = new Pool(target.url, { connections: 1 });
  let profiling: Record<string, unknown> = {};
  try {
    // Let start-up work (timers, lazy allocations) settle before reading the idle figure.
    await new Promise((r) => setTimeout(r, 1000));
    const reading = await measurePeak(
      target.pid,
      async () => void (await editOnce(pool, target, warmUrl, width)),
      async () => void (profiling = await editOnce(pool, target, bigUrl, width)),
    );
    return { ...reading, profiling };
  } finally {
    await pool.close();
  }
}

export async function measureSharpPeak(root: string, warmPath: string, bigPath: string, width: number, jpeg: JpegSettings): Promise<PeakReading> {
  const child = join(root, 'bench/lib/sharp-memory-child.ts');
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', child, warmPath, bigPath, String(width), String(jpeg.quality), String(jpeg.progressive), String(jpeg.mozjpeg)],
    { cwd: root, maxBuffer: 1 << 20 },
  );
  return JSON.parse(stdout.trim().split('\n').pop()!) as PeakReading;
}
