// The async task path under load: `node --import tsx bench/async-tasks.ts [--quick]`.
//
//   1. a real server (test/support/server.ts, rate limits off) with a webhook pointing at a loopback receiver in
//      this process, and a loopback origin serving one small JPEG;
//   2. N async edits (POST /v1/image/edit/async) submitted by C concurrent keep-alive clients, closed loop:
//      accepted tasks per second and the POST's own latency;
//   3. the queue drains while (and after) they are submitted: time to drain is from the first submission to the
//      last task's completion; every task must end DONE and be notified exactly once;
//   4. webhook delivery latency, completion to receipt, p50/p99 (see lib/webhook-latency.ts for the clocks);
//   5. the same N images as one batch (POST /v1/image/edit/batch), for comparison (--no-batch to skip).
//
// Flags: --quick (200 tasks, 8 clients), --tasks N, --clients C, --workers W (server ATELIER_WORKERS; default:
// the server's own, one per core), --size PX (input side), --no-batch, --json FILE. Report on stdout, progress
// on stderr. About 30 s on 2 cores for the defaults, 10 s with --quick.
import { Command, InvalidArgumentError } from 'commander';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus } from 'node:os';
import { writeFileSync } from 'node:fs';
import sharp from 'sharp';
import { Pool } from 'undici';
import { startImageServer, type ImageServer } from '../test/support/image-server.js';
import { startServer, type RunningServer } from '../test/support/server.js';
import { runPhase } from './lib/load.js';
import { percentile, summarise } from './lib/stats.js';
import { fmt, renderTable } from './lib/table.js';
import { webhookLatencies, type DeliveryRecord, type Receipt } from './lib/webhook-latency.js';

interface Options {
  tasks: number;
  clients: number;
  workers?: number;
  size: number;
  batch: boolean;
  json?: string;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function parseOptions(argv: string[]): Options {
  const program = new Command('bench-async-tasks')
    .description('Async tasks under load: accepted/s, time to drain, webhook latency')
    .option('--quick', '200 tasks from 8 clients', false)
    .option('-n, --tasks <n>', 'async tasks to submit', positiveInt)
    .option('-c, --clients <n>', 'concurrent submitting clients', positiveInt)
    .option('-w, --workers <n>', 'server worker slots (ATELIER_WORKERS)', positiveInt)
    .option('--size <px>', 'side of the square input JPEG', positiveInt, 64)
    .option('--no-batch', 'skip the batch comparison')
    .option('--json <file>', 'also write the figures as JSON');
  program.parse(argv);
  const o = program.opts<{ quick: boolean; tasks?: number; clients?: number; workers?: number; size: number; batch: boolean; json?: string }>();
  return {
    tasks: o.tasks ?? (o.quick ? 200 : 1000),
    clients: o.clients ?? (o.quick ? 8 : 16),
    workers: o.workers,
    size: o.size,
    batch: o.batch,
    json: o.json,
  };
}

const log = (msg: string) => process.stderr.write(`${msg}\n`);
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Receiver {
  url: string;
  receipts: Receipt[];
  close(): Promise<void>;
}

/** A webhook endpoint that records when each notification's body was fully read, and answers 200 at once. */
async function startReceiver(): Promise<Receiver> {
  const receipts: Receipt[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const receivedAt = now();
      res.writeHead(200).end();
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data: { id: number; status: string } };
        receipts.push({
          deliveryId: Number(req.headers['x-atelier-delivery']),
          attempt: Number(req.headers['x-atelier-attempt'] ?? 1),
          taskId: body.data.id,
          status: body.data.status,
          receivedAt,
        });
      } catch {
        // Not a notification; the counts will show it missing.
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    receipts,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Every delivery of this key, newest first, through the paged list endpoint. */
async function listDeliveries(api: RunningServer, since: number): Promise<DeliveryRecord[]> {
  const all: DeliveryRecord[] = [];
  let before: number | undefined;
  for (;;) {
    const query = `limit=500${before === undefined ? '' : `&before=${before}`}`;
    const res = await api.json<{ data: DeliveryRecord[] }>(`/v1/webhook/deliveries?${query}`);
    if (res.status !== 200) throw new Error(`listing deliveries: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    const page = res.body.data;
    all.push(...page.filter((d) => d.task_id >= since));
    const last = page[page.length - 1];
    if (page.length < 500 || !last || last.task_id < since) return all;
    before = last.id;
  }
}

async function waitForReceipts(receiver: Receiver, taskIds: ReadonlySet<number>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = new Set(receiver.receipts.filter((r) => taskIds.has(r.taskId)).map((r) => r.taskId));
    if (seen.size >= taskIds.size) return;
    if (Date.now() > deadline) throw new Error(`only ${seen.size} of ${taskIds.size} tasks were notified in ${timeoutMs / 1000} s`);
    await sleep(20);
  }
}

interface AsyncFigures {
  tasks: number;
  clients: number;
  acceptedPerSecond: number;
  submitSeconds: number;
  postP50Ms: number;
  postP99Ms: number;
  drainSeconds: number;
  drainedPerSecond: number;
  lastReceiptSeconds: number;
  webhookP50Ms: number;
  webhookP99Ms: number;
  webhookMaxMs: number;
  notDone: number;
  duplicates: number;
  refused: number;
}

async function runAsyncTasks(
  api: RunningServer,
  pool: Pool,
  receiver: Receiver,
  inputUrl: string,
  tasks: number,
  clients: number,
): Promise<AsyncFigures> {
  const headers = { authorization: `Bearer ${api.key}`, 'content-type': 'application/json' };
  const ids: number[] = [];
  let n = 0;
  const started = now();
  const phase = await runPhase(
    async () => {
      const i = n++;
      const body = JSON.stringify({ input: `${inputUrl}?i=${i}`, operations: { resizing: { width: 32 } } });
      const res = await pool.request({ path: '/v1/image/edit/async', method: 'POST', headers, body });
      const text = await res.body.text();
      if (res.statusCode !== 200) return { ok: false, reason: `HTTP ${res.statusCode}: ${text.slice(0, 200)}` };
      ids.push((JSON.parse(text) as { data: { id: number } }).data.id);
      return { ok: true };
    },
    { concurrency: clients, requests: tasks },
  );
  const submitted = now();
  const post = summarise(phase.latencies, phase.elapsedMs);
  log(`  ${ids.length} accepted in ${fmt(phase.elapsedMs / 1000, 2)} s; waiting for the queue to drain`);
  if (phase.failures > 0) log(`  refused: ${phase.failures} (${phase.failureReasons.join('; ')})`);
  const idSet = new Set(ids);
  await waitForReceipts(receiver, idSet, 120_000 + tasks * 200);
  const lastReceipt = Math.max(...receiver.receipts.filter((r) => idSet.has(r.taskId)).map((r) => r.receivedAt));
  const mine = receiver.receipts.filter((r) => idSet.has(r.taskId));
  const deliveries = await listDeliveries(api, Math.min(...ids));
  const report = webhookLatencies(mine, deliveries.filter((d) => idSet.has(d.task_id)));
  const sorted = [...report.latencies].sort((a, b) => a - b);
  const drainMs = report.lastCompletion - started;
  return {
    tasks: ids.length,
    clients,
    acceptedPerSecond: (ids.length * 1000) / (submitted - started),
    submitSeconds: (submitted - started) / 1000,
    postP50Ms: post.p50,
    postP99Ms: post.p99,
    drainSeconds: drainMs / 1000,
    drainedPerSecond: (ids.length * 1000) / drainMs,
    lastReceiptSeconds: (lastReceipt - started) / 1000,
    webhookP50Ms: percentile(sorted, 50),
    webhookP99Ms: percentile(sorted, 99),
    webhookMaxMs: sorted[sorted.length - 1] ?? Number.NaN,
    notDone: mine.filter((r) => r.status !== 'DONE').length,
    duplicates: report.duplicates,
    refused: phase.failures,
  };
}

interface BatchFigures {
  images: number;
  seconds: number;
  imagesPerSecond: number;
  failed: number;
  webhookMs: number;
}

/** The same images as one batch: submission to DONE, and the batch's own webhook latency. */
async function runBatch(api: RunningServer, receiver: Receiver, inputUrl: string, images: number): Promise<BatchFigures> {
  const started = now();
  const res = await api.json<{ data: { id: number } }>('/v1/image/edit/batch', {
    input: Array.from({ length: images }, (_, i) => `${inputUrl}?batch=${i}`),
    operations: { resizing: { width: 32 } },
  });
  if (res.status !== 200) throw new Error(`batch refused: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  const id = res.body.data.id;
  await waitForReceipts(receiver, new Set([id]), 120_000 + images * 200);
  const receipt = receiver.receipts.find((r) => r.taskId === id)!;
  const deliveries = await listDeliveries(api, id);
  const report = webhookLatencies([receipt], deliveries.filter((d) => d.task_id === id));
  const done = await api.json<{ data: { status: string; results: unknown[]; errors: unknown[] } }>(`/v1/image/edit/batch/${id}`);
  if (done.body.data.status !== 'DONE') throw new Error(`batch ended ${done.body.data.status}`);
  const seconds = (report.lastCompletion - started) / 1000;
  return {
    images: done.body.data.results.length,
    seconds,
    imagesPerSecond: done.body.data.results.length / seconds,
    failed: done.body.data.errors.length,
    webhookMs: report.latencies[0] ?? Number.NaN,
  };
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv);
  const origin: ImageServer = await startImageServer();
  const jpeg = await sharp({
    create: { width: opts.size, height: opts.size, channels: 3, background: { r: 180, g: 90, b: 40 } },
  })
    .jpeg({ quality: 90 })
    .toBuffer();
  origin.file('/img.jpg', jpeg, 'image/jpeg');
  const receiver = await startReceiver();
  const env: Record<string, string> = {
    ATELIER_RATE_LIMIT_PER_MINUTE: '0',
    ATELIER_RATE_LIMIT_PER_SECOND: '0',
    ATELIER_MAX_QUEUED_TASKS: String(Math.max(10_000, opts.tasks * 2)),
    ATELIER_MAX_BATCH_ITEMS: String(Math.max(1000, opts.tasks)),
  };
  if (opts.workers !== undefined) env.ATELIER_WORKERS = String(opts.workers);
  log(`starting the server (${opts.workers ?? availableParallelism()} workers)`);
  const api = await startServer({ env });
  const pool = new Pool(api.url, { connections: opts.clients, keepAliveTimeout: 60_000, pipelining: 1 });
  try {
    const set = await api.json('/v1/webhook', { url: receiver.url, events: ['success', 'failed'] }, { method: 'PUT' });
    if (set.status !== 200) throw new Error(`webhook settings: HTTP ${set.status} ${JSON.stringify(set.body)}`);
    const inputUrl = `${origin.url}/img.jpg`;

    log('warm-up: 50 tasks');
    await runAsyncTasks(api, pool, receiver, inputUrl, 50, opts.clients);

    log(`async: ${opts.tasks} tasks from ${opts.clients} clients`);
    const a = await runAsyncTasks(api, pool, receiver, inputUrl, opts.tasks, opts.clients);
    let b: BatchFigures | undefined;
    if (opts.batch) {
      log(`batch: ${opts.tasks} images in one batch`);
      b = await runBatch(api, receiver, inputUrl, opts.tasks);
    }

    const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
    console.log(`Async tasks: ${a.tasks} edits of a ${opts.size}×${opts.size} JPEG to 32 px wide, ${a.clients} clients, ` +
      `${opts.workers ?? availableParallelism()} workers; ${cpus().length} × ${cpu}, Node ${process.versions.node}\n`);
    console.log(
      renderTable(
        ['figure', 'value'],
        [
          ['accepted tasks/s', fmt(a.acceptedPerSecond, 0)],
          ['submission time (s)', fmt(a.submitSeconds, 2)],
          ['POST latency p50 / p99 (ms)', `${fmt(a.postP50Ms, 1)} / ${fmt(a.postP99Ms, 1)}`],
          ['time to drain: first POST to last DONE (s)', fmt(a.drainSeconds, 2)],
          ['drained tasks/s', fmt(a.drainedPerSecond, 0)],
          ['first POST to last webhook received (s)', fmt(a.lastReceiptSeconds, 2)],
          ['webhook latency p50 / p99 / max (ms)', `${fmt(a.webhookP50Ms, 1)} / ${fmt(a.webhookP99Ms, 1)} / ${fmt(a.webhookMaxMs, 1)}`],
          ['tasks not DONE / notified twice / refused', `${a.notDone} / ${a.duplicates} / ${a.refused}`],
          ...(b
            ? [
                [`one batch of ${b.images} images: POST to DONE (s)`, fmt(b.seconds, 2)],
                ['batch images/s', fmt(b.imagesPerSecond, 0)],
                ['batch webhook latency (ms)', fmt(b.webhookMs, 1)],
                ['batch images failed', String(b.failed)],
              ]
            : []),
        ],
      ),
    );
    if (opts.json) writeFileSync(opts.json, JSON.stringify({ options: opts, async: a, batch: b }, null, 2));
    if (a.notDone > 0 || a.duplicates > 0 || a.refused > 0 || (b && b.failed > 0)) process.exitCode = 1;
  } finally {
    await pool.close();
    await api.dispose();
    await receiver.close();
    await origin.close();
  }
}

await main();
