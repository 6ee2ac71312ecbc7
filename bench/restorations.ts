// Seconds and peak RSS of the restorations: upscale (ESRGAN medium, the default recipe) of a 256² and a 1 MP
// image by 2× and 4×, and decompress / polish of a 1 MP JPEG. Each case runs in a fresh process so its peak RSS
// is its own; the model is loaded before the clock starts (its load time is printed separately). Wall and CPU
// seconds are both printed, with the load average: inference is single-threaded, so on a shared machine the CPU
// seconds are the better estimate of the time on an idle one.
//
//   node --import tsx bench/restorations.ts                # every case
//   node --import tsx bench/restorations.ts upscale:256:2  # one case
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { models } from '../src/models/registry.js';
import { esrganModelId, type EsrganNet } from '../src/models/esrgan.js';
import { decompress, polish, upscaleTo } from '../src/pipeline/restorations.js';
import type { RawImage } from '../src/pipeline/raw-image.js';

const PHOTO = fileURLToPath(new URL('../test/fixtures/debian/building.jpg', import.meta.url));
const CASES = ['upscale:256:2', 'upscale:256:4', 'upscale:1000:2', 'upscale:1000:4', 'decompress:1000:strong', 'polish:1000'];

async function rgb(side: number): Promise<RawImage> {
  const { data, info } = await sharp(PHOTO).resize(side, side, { fit: 'cover' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: 3 };
}

async function runCase(name: string): Promise<Record<string, unknown>> {
  const [op, sideText, arg] = name.split(':');
  const side = Number(sideText);
  const ctx = { models, profiling: {} as Record<string, unknown> };
  let loadMs = 0;
  let input: RawImage;
  let work: () => Promise<RawImage>;
  if (op === 'upscale') {
    const factor = Number(arg) as 2 | 4;
    const t = performance.now();
    await models.get<EsrganNet>(esrganModelId('medium', factor));
    loadMs = performance.now() - t;
    input = await rgb(side);
    work = () => upscaleTo(input, { width: side * factor, height: side * factor }, 'smart_resize', ctx);
  } else if (op === 'decompress') {
    const jpg = await sharp(PHOTO).resize(side, side, { fit: 'cover' }).jpeg({ quality: 20 }).toBuffer();
    const { data, info } = await sharp(jpg).raw().toBuffer({ resolveWithObject: true });
    input = { data, width: info.width, height: info.height, channels: 3 };
    work = () => decompress(input, (arg ?? 'strong') as 'strong', ctx, { jpegQuality: 20 });
  } else if (op === 'polish') {
    input = await rgb(side);
    work = () => polish(input, ctx);
  } else {
    throw new Error(`unknown case ${name}`);
  }
  const t = performance.now();
  const cpu0 = process.cpuUsage();
  const out = await work();
  const seconds = (performance.now() - t) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    case: name,
    input: `${input.width}x${input.height}`,
    output: `${out.width}x${out.height}`,
    seconds: Math.round(seconds * 100) / 100,
    // CPU time of the process: on a busy machine, closer to what the work costs than the wall clock.
    cpu_s: Math.round((cpu.user + cpu.system) / 1e4) / 100,
    model_load_s: Math.round(loadMs / 10) / 100,
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    profiling: ctx.profiling,
  };
}

const only = process.argv[2];
if (only && process.env.BENCH_CHILD === '1') {
  console.log(JSON.stringify(await runCase(only)));
} else {
  const cases = only ? [only] : CASES;
  console.log(`load average before: ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  for (const c of cases) {
    const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), c], {
      env: { ...process.env, BENCH_CHILD: '1' },
      encoding: 'utf8',
      maxBuffer: 16 * 1024 * 1024,
    });
    if (child.status !== 0) {
      console.log(`${c}: failed\n${child.stderr}`);
      continue;
    }
    const r = JSON.parse(child.stdout.trim().split('\n').pop() as string) as Record<string, unknown>;
    console.log(`${String(r.case).padEnd(24)} ${String(r.input).padEnd(10)} → ${String(r.output).padEnd(10)} ${String(r.seconds).padStart(8)} s (CPU ${r.cpu_s} s)  peak RSS ${r.peak_rss_mb} MB  (model load ${r.model_load_s} s) load avg ${loadavg()[0]?.toFixed(2)}`);
  }
}
