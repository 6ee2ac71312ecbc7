// `npm run bench`: Atelier's sync edit endpoint against sharp called directly, side by side in one run.
//
//   1. photo-like JPEG inputs (1 MP, 12 MP, and 50 MP for memory) are generated once into bench/.cache;
//   2. per input size: sharp direct (baseline) and Atelier over HTTP at the same concurrency, each warmed up,
//      then measured in rounds of alternating order; then diagnostics (Atelier's pipeline in-process, the
//      input fetch alone);
//   3. peak RSS of a fresh server processing one 50 MP JPEG, and of sharp in a fresh process;
//   4. a report on stdout (progress goes to stderr), optionally also as JSON.
//
// Flags: --quick, --concurrency N, --duration S, --requests N, --warmup S, --rounds N, --sizes 1,12, --memory-mp 50,
// --no-memory, --no-diagnostics, --json FILE, --check (exit 1 when a target is missed). Environment:
// BENCH_CONCURRENCY, BENCH_DURATION, BENCH_REQUESTS.
import { Command, InvalidArgumentError } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { basename, join } from 'node:path';
import sharp from 'sharp';
import { request } from 'undici';
import { startImageServer } from '../test/support/image-server.js';
import { ROOT, startServer, type RunningServer } from '../test/support/server.js';
import { ensureInput, inputSpec, type BenchInput } from './lib/inputs.js';
import type { PeakReading } from './lib/peak.js';
import { measureInterleaved, toSystemRun, type Measured, type Schedule, type SystemRun } from './lib/system.js';
import { fmt, renderTable, type Cell } from './lib/table.js';
import { measureServerPeak, measureSharpPeak } from './memory.js';
import { runEditContender } from './pipeline-inprocess.js';
import { sharpContender, sharpResize, type JpegSettings } from './sharp-baseline.js';
import { originFetchContender, syncEditContender, type AtelierTarget } from './sync-edit.js';

/** Atelier's default JPEG output (src/pipeline/output.ts: quality 85, progressive, 4:2:0, no mozjpeg). */
const JPEG: JpegSettings = { quality: 85, progressive: true, mozjpeg: false };
const THROUGHPUT_RATIO_TARGET = 0.9;
const MEMORY_TARGET_MIB = 300;
const CACHE_DIR = join(ROOT, 'bench/.cache');
const PHOTOS_DIR = join(ROOT, 'test/fixtures/debian');
const SERVER_ENV = { ATELIER_RATE_LIMIT_PER_MINUTE: '0', ATELIER_RATE_LIMIT_PER_SECOND: '0' };

interface Options {
  quick: boolean;
  concurrency: number;
  durationS: number;
  requests?: number;
  warmupS: number;
  rounds: number;
  sizes: number[];
  width: number;
  memory: boolean;
  memoryMp: number;
  diagnostics: boolean;
  json?: string;
  check: boolean;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

function sizeList(value: string): number[] {
  return value.split(',').map((s) => positiveNumber(s.trim()));
}

function parseOptions(argv: string[]): Options {
  const program = new Command('bench')
    .description("Atelier's sync edit endpoint against sharp called directly, side by side")
    .option('--quick', 'short runs (about 1 minute in all)', false)
    .option('-c, --concurrency <n>', 'concurrent clients, and concurrent sharp calls for the baseline', positiveInt)
    .option('-d, --duration <seconds>', 'length of each measured run', positiveNumber)
    .option('-n, --requests <n>', 'a fixed number of requests per measured run instead of a duration', positiveInt)
    .option('--warmup <seconds>', 'warm-up of each system before its first round', positiveNumber)
    .option('--rounds <n>', 'interleaved rounds (sharp, Atelier, then Atelier, sharp, ...) the run is split into', positiveInt)
    .option('--sizes <megapixels>', 'input sizes for throughput, comma-separated', sizeList, [1, 12])
    .option('--width <px>', 'output width', positiveInt, 1000)
    .option('--memory-mp <megapixels>', 'input size for the memory measurement', positiveNumber, 50)
    .option('--no-memory', 'skip the memory measurement')
    .option('--no-diagnostics', 'skip the in-process pipeline and fetch-only runs')
    .option('--json <file>', 'also write every figure as JSON')
    .option('--check', 'exit with status 1 when a target is missed', false)
    .parse(argv);
  const o = program.opts<{
    quick: boolean;
    concurrency?: number;
    duration?: number;
    requests?: number;
    warmup?: number;
    rounds?: number;
    sizes: number[];
    width: number;
    memoryMp: number;
    memory: boolean;
    diagnostics: boolean;
    json?: string;
    check: boolean;
  }>();
  const env = process.env;
  const fromEnv = (name: string, parse: (v: string) => number): number | undefined =>
    env[name] ? parse(env[name]!) : undefined;
  return {
    quick: o.quick,
    concurrency: o.concurrency ?? fromEnv('BENCH_CONCURRENCY', positiveInt) ?? 4,
    durationS: o.duration ?? fromEnv('BENCH_DURATION', positiveNumber) ?? (o.quick ? 4 : 15),
    requests: o.requests ?? fromEnv('BENCH_REQUESTS', positiveInt),
    warmupS: o.warmup ?? (o.quick ? 1 : 3),
    rounds: o.rounds ?? (o.quick ? 2 : 4),
    sizes: o.sizes,
    width: o.width,
    memory: o.memory,
    memoryMp: o.memoryMp,
    diagnostics: o.diagnostics,
    json: o.json,
    check: o.check,
  };
}

const log = (line: string): void => void process.stderr.write(`${line}\n`);

function target(server: RunningServer): AtelierTarget {
  if (server.pid === undefined) throw new Error('the server process has no pid');
  return { url: server.url, key: server.key, pid: server.pid };
}

interface OutputCheck {
  sameSize: boolean;
  sameProgressive: boolean;
  sameChroma: boolean;
  /** Atelier's output bytes ÷ the baseline's: near 1 when both used the same encoder settings. */
  bytesRatio: number;
}

/** Checks that Atelier's output was encoded like the baseline's, so the two did the same work. */
async function compareOutputs(baseline: Buffer, tmpUrl: string): Promise<OutputCheck> {
  const res = await request(tmpUrl);
  if (res.statusCode !== 200) throw new Error(`GET ${tmpUrl} answered ${res.statusCode}`);
  const atelier = Buffer.from(await res.body.arrayBuffer());
  const [a, b] = await Promise.all([sharp(atelier).metadata(), sharp(baseline).metadata()]);
  return {
    sameSize: a.width === b.width && a.height === b.height,
    sameProgressive: a.isProgressive === b.isProgressive,
    sameChroma: a.chromaSubsampling === b.chromaSubsampling,
    bytesRatio: atelier.length / baseline.length,
  };
}

interface SizeResult {
  input: BenchInput;
  sharp: SystemRun;
  atelier: SystemRun & { profiling: Record<string, number> };
  throughputRatio: number;
  /** sharp's CPU per image ÷ the server's: the throughput ratio to expect when both are CPU-bound. */
  cpuRatio: number;
  /** One-minute load average before and after the measured rounds (other processes share the machine). */
  loadAverage: number[];
  p50Ratio: number;
  p99Ratio: number;
  pass: boolean;
  outputCheck: OutputCheck;
  runEdit?: SystemRun;
  originFetch?: SystemRun;
}

interface MemoryResult {
  input: BenchInput;
  server: PeakReading & { profiling: Record<string, unknown> };
  sharp: PeakReading;
  pass: boolean;
}

async function benchSize(input: BenchInput, inputUrl: string, originUrl: string, server: AtelierTarget, opts: Options): Promise<SizeResult> {
  const schedule: Schedule = {
    concurrency: opts.concurrency,
    warmupMs: opts.warmupS * 1000,
    rounds: opts.rounds,
    ...(opts.requests !== undefined ? { requests: opts.requests } : { durationMs: opts.durationS * 1000 }),
  };
  const bytes = readFileSync(input.path);
  const load = [loadavg()[0]!];
  log(`${input.label}: sharp direct and Atelier, ${opts.concurrency} concurrent, ${opts.rounds} interleaved rounds`);
  const atelierC = syncEditContender(server, inputUrl, opts.width, opts.concurrency);
  let sharpM: Measured;
  let atelierM: Measured;
  try {
    [sharpM, atelierM] = (await measureInterleaved([sharpContender(bytes, opts.width, JPEG), atelierC], schedule, log)) as [Measured, Measured];
  } finally {
    await atelierC.close();
  }
  load.push(loadavg()[0]!);
  const last = atelierC.lastAnswer();
  if (!last) throw new Error(`${input.label}: Atelier answered no request successfully: ${atelierM.phase.failureReasons.join('; ')}`);
  const outputCheck = await compareOutputs(await sharpResize(bytes, opts.width, JPEG), last.data.output.tmp_url);

  let runEdit: SystemRun | undefined;
  let originFetch: SystemRun | undefined;
  if (opts.diagnostics) {
    // One round each and half the time: these explain the gap, they are not the comparison.
    const short: Schedule = {
      ...schedule,
      rounds: 1,
      ...(schedule.durationMs !== undefined ? { durationMs: Math.max(2000, schedule.durationMs / 2) } : {}),
    };
    log(`${input.label}: diagnostics`);
    const fetchC = originFetchContender(originUrl, new URL(inputUrl).pathname, opts.concurrency);
    try {
      const [r, f] = await measureInterleaved([await runEditContender(bytes, opts.width), fetchC], short, log);
      runEdit = toSystemRun(r!);
      originFetch = toSystemRun(f!);
    } finally {
      await fetchC.close();
    }
  }
  const sharpRun = toSystemRun(sharpM);
  const atelier = { ...toSystemRun(atelierM), profiling: atelierC.profiling() };
  const throughputRatio = atelier.throughput / sharpRun.throughput;
  return {
    input,
    sharp: sharpRun,
    atelier,
    throughputRatio,
    cpuRatio: sharpRun.cpuMsPerImage / atelier.cpuMsPerImage,
    p50Ratio: atelier.p50 / sharpRun.p50,
    p99Ratio: atelier.p99 / sharpRun.p99,
    pass: throughputRatio >= THROUGHPUT_RATIO_TARGET && atelier.failures === 0,
    outputCheck,
    loadAverage: load,
    ...(runEdit ? { runEdit } : {}),
    ...(originFetch ? { originFetch } : {}),
  };
}

async function benchMemory(big: BenchInput, warm: BenchInput, bigUrl: string, warmUrl: string, width: number): Promise<MemoryResult> {
  log(`memory: fresh server, one ${big.label} edit ...`);
  const server = await startServer({ env: SERVER_ENV });
  let serverReading: MemoryResult['server'];
  try {
    serverReading = await measureServerPeak(target(server), warmUrl, bigUrl, width);
  } finally {
    await server.dispose();
  }
  log(`memory: sharp in a fresh process, same image ...`);
  const sharpReading = await measureSharpPeak(ROOT, warm.path, big.path, width, JPEG);
  return { input: big, server: serverReading, sharp: sharpReading, pass: serverReading.peakMiB < MEMORY_TARGET_MIB };
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const mark = (pass: boolean): string => (pass ? 'PASS' : 'FAIL');
const describeInput = (i: BenchInput): string => `${i.label} (${i.width}x${i.height}, ${mib(i.bytes)})`;

function report(opts: Options, sizes: SizeResult[], memory: MemoryResult | undefined): string {
  const out: string[] = [];
  const runLength = opts.requests !== undefined ? `${opts.requests} requests` : `${opts.durationS} s`;
  const cpu = cpus();
  out.push(
    `Machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${mib(totalmem())} RAM; Node ${process.version}; ` +
      `sharp ${sharp.versions.sharp} / libvips ${sharp.versions.vips}; libvips threads per image: ${sharp.concurrency()} (sharp's default here); ` +
      `libuv pool: ${process.env.UV_THREADPOOL_SIZE ?? 4}`,
  );
  out.push(
    `Work: JPEG → resize to ${opts.width} px wide → JPEG q${JPEG.quality}, progressive, mozjpeg ${JPEG.mozjpeg ? 'on' : 'off'}. ` +
      `${opts.concurrency} concurrent. Each system is measured for ${runLength} in all, split into ${opts.rounds} rounds that ` +
      `alternate the order (sharp, Atelier, Atelier, sharp, ...), after ${opts.warmupS} s of warm-up each.`,
  );
  out.push(
    'sharp direct: sharp(buf).resize({ width }).jpeg(...) in the bench process, bytes already in memory, output kept in memory.',
    'Atelier: POST /v1/image/edit over HTTP keep-alive from the bench process to the server process; the server fetches the',
    '  input from a loopback origin, runs its pipeline, writes the output to its tmp store and answers JSON (all inside latency).',
    '',
  );

  out.push('Throughput and latency');
  const rows: Cell[][] = [];
  for (const s of sizes) {
    const line = (name: string, r: SystemRun, clientCpu?: number): Cell[] => [
      name,
      fmt(r.throughput, 2),
      fmt(r.p50),
      fmt(r.p99),
      fmt(r.cpuMsPerImage, 0),
      clientCpu === undefined ? '-' : fmt(clientCpu, 0),
      r.count,
      r.failures,
    ];
    rows.push([`${describeInput(s.input)}, load avg ${s.loadAverage.map((l) => l.toFixed(1)).join(' → ')}`, '', '', '', '', '', '', '']);
    rows.push(line('  sharp direct', s.sharp));
    rows.push(line('  Atelier HTTP', s.atelier, s.atelier.clientCpuMsPerImage));
  }
  out.push(
    renderTable(['input / system', 'img/s', 'p50 ms', 'p99 ms', 'CPU ms/img', 'client CPU ms/img', 'images', 'errors'], rows),
    '  CPU ms/img: CPU time (all threads) of the process doing the image work: the bench process for sharp direct, the',
    '  server for Atelier. client CPU: the bench process (HTTP clients and the input origin) during the Atelier run.',
    '  errors: answers that were not 200 with the expected width (must be 0).',
    '',
  );

  out.push(`Atelier ÷ sharp direct (throughput target ≥ ${THROUGHPUT_RATIO_TARGET.toFixed(2)}; latency ratios are informative, > 1 means Atelier is slower)`);
  out.push(
    renderTable(
      ['input', 'throughput ratio', 'target', 'result', 'CPU/img ratio', 'p50 ratio', 'p99 ratio', 'same output settings'],
      sizes.map((s) => [
        s.input.label,
        fmt(s.throughputRatio, 3),
        `≥ ${THROUGHPUT_RATIO_TARGET.toFixed(2)}`,
        mark(s.pass) + (s.atelier.failures > 0 ? ` (${s.atelier.failures} errors)` : ''),
        fmt(s.cpuRatio, 3),
        fmt(s.p50Ratio, 2),
        fmt(s.p99Ratio, 2),
        outputCheckText(s.outputCheck),
      ]),
    ),
    '  CPU/img ratio: sharp direct CPU per image ÷ Atelier server CPU per image, the throughput ratio to expect when',
    '  both saturate the CPU; less sensitive than throughput to other processes competing for the machine.',
    '',
  );

  if (sizes.some((s) => s.runEdit)) {
    out.push('Where the time goes (medians over the measured run, ms)');
    const header = ['', ...sizes.map((s) => s.input.label)];
    const row = (name: string, f: (s: SizeResult) => number | undefined, digits = 1): Cell[] => [
      name,
      ...sizes.map((s) => fmt(f(s), digits)),
    ];
    const prof = (s: SizeResult, k: string): number | undefined => s.atelier.profiling[k];
    const outside = (s: SizeResult): number | undefined => {
      const total = prof(s, 'total_ms');
      const store = prof(s, 'store_ms');
      return total === undefined ? undefined : s.atelier.p50 - total - (store ?? 0);
    };
    out.push(
      renderTable(header, [
        row('sharp direct: latency p50', (s) => s.sharp.p50),
        row("Atelier's pipeline in-process (runEdit): latency p50", (s) => s.runEdit?.p50),
        row("Atelier's pipeline in-process: img/s", (s) => s.runEdit?.throughput, 2),
        row('Atelier HTTP: latency p50', (s) => s.atelier.p50),
        row('  server profiling: inspect_ms (header probe)', (s) => prof(s, 'inspect_ms'), 2),
        row('  server profiling: decode_resize_encode_ms', (s) => prof(s, 'decode_resize_encode_ms')),
        row('  server profiling: total_ms (whole pipeline)', (s) => prof(s, 'total_ms')),
        row('  server profiling: store_ms (tmp file write)', (s) => prof(s, 'store_ms')),
        row('  outside the pipeline: fetch, HTTP, JSON (p50 − total − store)', outside),
        row('input fetch alone from the origin, same concurrency: p50', (s) => s.originFetch?.p50),
        row('CPU ms/img, all threads: sharp direct', (s) => s.sharp.cpuMsPerImage),
        row('  pipeline in-process', (s) => s.runEdit?.cpuMsPerImage),
        row('  Atelier server', (s) => s.atelier.cpuMsPerImage),
        row('  bench process (clients, origin) during the Atelier run', (s) => s.atelier.clientCpuMsPerImage),
        row('CPU ms/img, event-loop thread: sharp direct', (s) => s.sharp.mainCpuMsPerImage),
        row('  pipeline in-process', (s) => s.runEdit?.mainCpuMsPerImage),
        row('  Atelier server', (s) => s.atelier.mainCpuMsPerImage),
        row('CPU ms/img, other threads (libuv pool, libvips, V8 GC): sharp direct', (s) => s.sharp.cpuMsPerImage - s.sharp.mainCpuMsPerImage),
        row('  pipeline in-process', (s) => (s.runEdit ? s.runEdit.cpuMsPerImage - s.runEdit.mainCpuMsPerImage : undefined)),
        row('  Atelier server', (s) => s.atelier.cpuMsPerImage - s.atelier.mainCpuMsPerImage),
      ]),
      '',
    );
  }

  if (memory) {
    const m = memory;
    out.push(`Memory: one ${describeInput(m.input)} → ${opts.width} px wide JPEG (target: server peak < ${MEMORY_TARGET_MIB} MiB)`);
    const row = (name: string, r: PeakReading, withMark: boolean): Cell[] => [
      name,
      fmt(r.idleRssMiB, 0),
      fmt(r.startupPeakMiB, 0),
      fmt(r.warmRssMiB, 0),
      fmt(r.peakMiB, 0) + (r.peakIsolated ? '' : ' (lifetime)'),
      fmt(r.peakMiB - r.warmRssMiB, 0),
      fmt(r.latencyMs, 0),
      withMark ? `${mark(m.pass)} (< ${MEMORY_TARGET_MIB})` : '-',
    ];
    out.push(
      renderTable(
        ['process', 'idle RSS', 'start-up peak', 'RSS after warm-up', 'peak during edit', 'growth', 'edit ms', 'target'],
        [row('Atelier server (fresh)', m.server, true), row('sharp in a fresh process', m.sharp, false)],
      ),
      '  MiB from /proc/<pid>/status (VmRSS, VmHWM). The peak is reset (clear_refs) after a 1 MP warm-up edit, so',
      '  "peak during edit" is the peak of that one request; the server reads its input over HTTP, sharp from a file.',
      '',
    );
  }

  const verdicts = [
    ...sizes.map((s) => `${s.input.label} throughput ${mark(s.pass)}`),
    ...(memory ? [`${memory.input.label} memory ${mark(memory.pass)}`] : []),
  ];
  out.push(`Summary: ${verdicts.join(', ')}`);
  return out.join('\n');
}

function outputCheckText(c: OutputCheck): string {
  const issues = [
    !c.sameSize && 'different size',
    !c.sameProgressive && 'progressive differs',
    !c.sameChroma && 'chroma subsampling differs',
    Math.abs(c.bytesRatio - 1) > 0.05 && `bytes ×${c.bytesRatio.toFixed(2)}`,
  ].filter(Boolean);
  return issues.length === 0 ? `yes (bytes ×${c.bytesRatio.toFixed(3)})` : `NO: ${issues.join(', ')}`;
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv);
  const started = performance.now();
  const inputs: BenchInput[] = [];
  for (const mp of opts.sizes) inputs.push(await ensureInput(inputSpec(mp), CACHE_DIR, PHOTOS_DIR, log));
  const warm = inputs.find((i) => i.label === '1 MP') ?? (await ensureInput(inputSpec(1), CACHE_DIR, PHOTOS_DIR, log));
  const big = opts.memory ? await ensureInput(inputSpec(opts.memoryMp), CACHE_DIR, PHOTOS_DIR, log) : undefined;

  const origin = await startImageServer();
  const urlOf = (i: BenchInput): string => `${origin.url}/${basename(i.path)}`;
  for (const i of new Set([...inputs, warm, ...(big ? [big] : [])])) origin.file(`/${basename(i.path)}`, readFileSync(i.path), 'image/jpeg');

  const sizes: SizeResult[] = [];
  let memory: MemoryResult | undefined;
  try {
    log('starting the Atelier server ...');
    const server = await startServer({ env: SERVER_ENV });
    try {
      for (const input of inputs) sizes.push(await benchSize(input, urlOf(input), origin.url, target(server), opts));
    } finally {
      await server.dispose();
    }
    // A fresh server, so the peak reflects one large edit, not the load runs before it.
    if (big) memory = await benchMemory(big, warm, urlOf(big), urlOf(warm), opts.width);
  } finally {
    await origin.close();
  }

  log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
  process.stdout.write(`${report(opts, sizes, memory)}\n`);
  if (opts.json) {
    writeFileSync(opts.json, `${JSON.stringify({ options: opts, jpeg: JPEG, sizes, memory }, null, 2)}\n`);
    log(`figures written to ${opts.json}`);
  }
  const errors = sizes.reduce((n, s) => n + s.atelier.failures, 0);
  const missed = sizes.some((s) => !s.pass) || (memory !== undefined && !memory.pass);
  if (errors > 0) {
    log(`Atelier answered ${errors} request(s) with an error; first reasons:`);
    for (const s of sizes) for (const r of s.atelier.failureReasons) log(`  ${s.input.label}: ${r}`);
    process.exitCode = 1;
  } else if (opts.check && missed) {
    process.exitCode = 1;
  }
}

await main();
