// `node --import tsx bench/generative.ts`: seconds per image and peak memory of each diffusion pipeline.
//
//   1. On the synthetic ONNX models (test/support/onnx-builder.ts): their maths costs next to nothing, so the
//      time and memory measured are the pipeline's own (tokenising, tensor assembly, guidance, scheduler,
//      blending, fp16 conversion, VAE pre/post-processing, sharp resampling) plus onnxruntime's call overhead.
//      Reported beside the time spent inside onnxruntime, per image and per step.
//   2. On real model sets installed in the models directory (ATELIER_MODELS_DIR or <ATELIER_DATA_DIR>/models):
//      the same pipelines with the set's own step count; skipped for sets not installed.
//
// Flags: --sizes 512,1024 (square sides), --steps N (synthetic, default 20), --runs N (default 3),
// --real (also real model sets; default on when any is installed), --no-real, --json FILE.
import { Command, InvalidArgumentError } from 'commander';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiffusionPipeline } from '../src/generative/pipeline.js';
import { MODEL_SETS, installedState } from '../src/generative/model-sets.js';
import { modelSetDir } from '../src/generative/paths.js';
import type { DiffusionResult } from '../src/generative/engine.js';
import type { RawImage } from '../src/pipeline/raw-image.js';
import { writeSyntheticModelSet } from '../test/support/onnx-builder.js';
import { measurePeak } from './lib/peak.js';
import { fmt, renderTable, type Cell } from './lib/table.js';

type PipelineKind = 'txt2img' | 'img2img' | 'inpaint-9ch' | 'inpaint-blend';

interface Row {
  models: string;
  pipeline: PipelineKind;
  size: number;
  steps: number;
  secondsPerImage: number;
  modelSeconds: number;
  overheadMsPerStep: number;
  msPerStep: number;
  peakMiB: number;
  peakIsolated: boolean;
}

function list(value: string): number[] {
  const out = value.split(',').map(Number);
  if (out.some((n) => !Number.isInteger(n) || n < 64 || n % 64 !== 0)) throw new InvalidArgumentError('sizes are multiples of 64');
  return out;
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function photoLike(size: number): RawImage {
  const data = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 3;
      data[i] = (x * 255) / size;
      data[i + 1] = (y * 255) / size;
      data[i + 2] = ((x ^ y) & 255) >> 1;
    }
  }
  return { data, width: size, height: size, channels: 3 };
}

function centreMask(size: number): RawImage {
  const data = Buffer.alloc(size * size * 3);
  for (let y = size / 4; y < (3 * size) / 4; y++) data.fill(255, (y * size + size / 4) * 3, (y * size + (3 * size) / 4) * 3);
  return { data, width: size, height: size, channels: 3 };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function measure(
  models: string,
  pipe: DiffusionPipeline,
  kind: PipelineKind,
  size: number,
  steps: number,
  runs: number,
  scheduler?: 'euler_ancestral' | 'lcm',
): Promise<Row> {
  const init = photoLike(size);
  const mask = centreMask(size);
  const base = { prompt: 'a photo of a cat on a beach', negativePrompt: 'blurry', width: size, height: size, steps, guidanceScale: 7, seed: 1, numberOfImages: 1, ...(scheduler ? { scheduler } : {}) };
  const once = (): Promise<DiffusionResult> =>
    kind === 'txt2img' ? pipe.txt2img(base) : kind === 'img2img' ? pipe.img2img({ ...base, init, strength: 0.6 }) : pipe.inpaint({ ...base, init, mask });
  const results: DiffusionResult[] = [];
  const reading = await measurePeak(
    'self',
    async () => {
      await once(); // warm-up: sessions' first-run allocations, JIT
    },
    async () => {
      for (let i = 0; i < runs; i++) results.push(await once());
    },
  );
  const totals = results.map((r) => r.timings.total as number);
  const model = results.map((r) => (r.timings.model_text ?? 0) + (r.timings.model_unet ?? 0) + (r.timings.model_vae ?? 0));
  const ran = results[0]?.steps ?? steps;
  const total = median(totals);
  const modelMs = median(model);
  return {
    models,
    pipeline: kind,
    size,
    steps: ran,
    secondsPerImage: total / 1000,
    modelSeconds: modelMs / 1000,
    overheadMsPerStep: (total - modelMs) / Math.max(1, ran),
    msPerStep: median(results.map((r) => (r.timings.denoise as number) / Math.max(1, r.steps))),
    peakMiB: reading.peakMiB,
    peakIsolated: reading.peakIsolated,
  };
}

async function main(): Promise<void> {
  const program = new Command('bench-generative')
    .option('--sizes <list>', 'square sides in pixels', list, [512, 1024])
    .option('--steps <n>', 'denoising steps on the synthetic models', positive, 20)
    .option('--runs <n>', 'measured runs per pipeline and size', positive, 3)
    .option('--real', 'also time installed real model sets')
    .option('--no-real', 'skip real model sets')
    .option('--json <file>', 'write the rows as JSON');
  program.parse(process.argv);
  const opts = program.opts<{ sizes: number[]; steps: number; runs: number; real?: boolean; json?: string }>();
  const rows: Row[] = [];
  const log = (msg: string): void => void process.stderr.write(`${msg}\n`);

  const dir = mkdtempSync(join(tmpdir(), 'atelier-bench-gen-'));
  try {
    writeSyntheticModelSet(join(dir, 'plain'));
    writeSyntheticModelSet(join(dir, 'inpaint'), { inChannels: 9 });
    const plain = await DiffusionPipeline.load('synthetic', join(dir, 'plain'));
    const nine = await DiffusionPipeline.load('synthetic-inpaint', join(dir, 'inpaint'));
    for (const size of opts.sizes) {
      for (const kind of ['txt2img', 'img2img', 'inpaint-blend', 'inpaint-9ch'] as const) {
        log(`synthetic ${kind} ${size}px ...`);
        rows.push(await measure('synthetic', kind === 'inpaint-9ch' ? nine : plain, kind, size, opts.steps, opts.runs));
      }
    }
    await plain.release();
    await nine.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const installed = MODEL_SETS.filter((s) => s.kind === 'diffusion' && installedState(s.name).installed);
  if (opts.real !== false && installed.length > 0) {
    for (const spec of installed) {
      const caps = installedState(spec.name).capabilities;
      let pipe: DiffusionPipeline;
      try {
        pipe = await DiffusionPipeline.load(spec.name, modelSetDir(spec.name), spec.hints);
      } catch (err) {
        log(`${spec.name}: cannot load here (${(err as Error).message.split('\n')[0]})`);
        continue;
      }
      const steps = spec.hints.steps?.optimal ?? 25;
      const kinds: PipelineKind[] = pipe.inChannels === 9 ? ['inpaint-9ch'] : (['txt2img', 'img2img', 'inpaint-blend'] as const).filter((k) => caps.includes(k === 'inpaint-blend' ? 'inpaint' : k));
      for (const size of opts.sizes) {
        for (const kind of kinds) {
          log(`${spec.name} ${kind} ${size}px, ${steps} steps ...`);
          rows.push(await measure(spec.name, pipe, kind, size, steps, 1));
        }
      }
      await pipe.release();
    }
  } else if (opts.real !== false) {
    log('no real model set installed (atelier models list); synthetic figures only');
  }

  const header = ['models', 'pipeline', 'px', 'steps', 's/image', 'in ORT s', 'ms/step', 'overhead ms/step', 'peak MiB'];
  const table: Cell[][] = rows.map((r) => [
    r.models,
    r.pipeline,
    r.size,
    r.steps,
    fmt(r.secondsPerImage, 3),
    fmt(r.modelSeconds, 3),
    fmt(r.msPerStep, 1),
    fmt(r.overheadMsPerStep, 1),
    `${fmt(r.peakMiB, 0)}${r.peakIsolated ? '' : '*'}`,
  ]);
  console.log(`Diffusion pipelines on ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, onnxruntime CPU, median of ${opts.runs} runs (real sets: 1)`);
  console.log(renderTable(header, table));
  if (rows.some((r) => !r.peakIsolated)) console.log('* peak is the process lifetime peak (the kernel refused to reset it)');
  if (opts.json) writeFileSync(opts.json, JSON.stringify(rows, null, 2));
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : String(err));
  process.exit(1);
});
