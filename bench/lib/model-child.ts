// One case of bench/model-operations.ts, in a process of its own so that its peak RSS is its own:
//
//   1. load the models the operation uses (timed apart: a server keeps them warm);
//   2. prepare the bare model call's inputs from the same image (tensors, pre-sized images);
//   3. bare model call: warm-up, then N timed runs; the peak RSS over them (VmHWM, reset just before);
//   4. the operation through the pipeline entry the server uses (runEdit, same JSON as a client's request):
//      warm-up, then N timed runs; the peak RSS over them, reset just before.
//
// Wall and CPU seconds (process-wide: onnxruntime's, libvips' and the wasm threads included) of every run are
// reported; the parent takes medians. Prints one JSON line on stdout, progress on stderr.
//
//   node --import tsx bench/lib/model-child.ts '{"case":"remove-png","megapixels":1,"input":"...","runs":3,"warmup":true}'
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import sharp from 'sharp';
import type * as TF from '@tensorflow/tfjs';
import { models } from '../../src/models/registry.js';
import { DEFAULT_LIMITS, runEdit } from '../../src/pipeline/index.js';
import { toRawImage, type RawImage } from '../../src/pipeline/raw-image.js';
import type { ModelContext } from '../../src/pipeline/model-context.js';
import { isnetInput, isnetModelId, type IsnetModel } from '../../src/models/isnet.js';
import { ort, type OnnxModel } from '../../src/models/runtime/onnx.js';
import { tfjs } from '../../src/models/runtime/tfjs.js';
import { CENTERNET_INPUT, OBJECT_DETECTOR, detectVehicles } from '../../src/models/vehicles.js';
import { TEXT_DETECTOR, detInputSize, toDetTensor } from '../../src/models/text-detector.js';
import { DETECTOR_INPUT, FACE_DETECTOR, FACE_LANDMARKS, detectFaceBoxes, detectFaces, fitLongSide } from '../../src/models/faces.js';
import { DEFAULT_TILING, esrganModelId, esrganUpscale, tileSpans } from '../../src/models/esrgan.js';
import { modelScale, upscaleRecipe } from '../../src/pipeline/restorations.js';
import { plateSearchRegion, VEHICLE_MIN_SCORE } from '../../src/pipeline/privacy.js';
import { opencv } from '../../src/models/opencv.js';
import { readMemory } from './proc.js';
import { resetPeak } from './peak.js';
import { findCase, UPSCALE_TYPE, type ModelCase } from './model-cases.js';

export interface ChildSpec {
  case: string;
  megapixels: number;
  /** The input JPEG's path. */
  input: string;
  runs: number;
  warmup: boolean;
}

export interface RunTimes {
  /** Wall seconds of each measured run. */
  wall: number[];
  /** CPU seconds (user + system, all threads) of each measured run. */
  cpu: number[];
  /** Peak RSS (MiB) over the warm-up and the runs. */
  peakMiB: number;
}

export interface ChildResult {
  case: string;
  megapixels: number;
  input: { width: number; height: number; bytes: number };
  output?: { width: number; height: number; format: string; bytes: number };
  /** Seconds to load the operation's models (and runtimes) before anything is timed. */
  loadS: number;
  /** Peak RSS of start-up and model loading, in MiB. */
  loadPeakMiB: number;
  /** RSS once the models are loaded, in MiB: the floor under both peaks below. */
  loadedRssMiB: number;
  /** The bare model call, when the operation has a network; its times already multiplied by `multiplier`. */
  bare?: RunTimes & { what: string; multiplier: number };
  op: RunTimes;
  /** Whether each peak could be reset before its phase (otherwise it is the lifetime peak so far). */
  peakIsolated: boolean;
  /** The process's lifetime peak RSS (getrusage maxrss), in MiB. */
  processPeakMiB: number;
  /** The last run's profiling (pipeline cases). */
  profiling?: Record<string, unknown>;
  loadAvg: number[];
}

type Work = () => Promise<unknown>;

interface Bare {
  what: string;
  /** The op repeats the measured call this many times (ESRGAN tiles); seconds are multiplied by it. */
  multiplier: number;
  run: Work;
}

function log(s: string): void {
  process.stderr.write(`    ${s}\n`);
}

async function decode(file: Buffer): Promise<RawImage> {
  return toRawImage(sharp(file).toColourspace('srgb'));
}

async function resized(img: RawImage, size: { width: number; height: number }, region?: { left: number; top: number; width: number; height: number }): Promise<RawImage> {
  let s = sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels }, limitInputPixels: false });
  if (region) s = s.extract(region);
  return toRawImage(s.removeAlpha().resize(size.width, size.height, { fit: 'fill' }));
}

/** Loads what the case's operation uses, so that none of it is inside the timed runs. */
async function loadModels(c: ModelCase, target: { width: number; height: number }, img: { width: number; height: number }): Promise<void> {
  switch (c.bare) {
    case 'isnet':
      await models.get(isnetModelId());
      return;
    case 'plates':
      await models.get(OBJECT_DETECTOR.id);
      await models.get(TEXT_DETECTOR.id);
      return;
    case 'faces':
      await models.get(FACE_DETECTOR.id);
      await models.get(FACE_LANDMARKS.id);
      return;
    case 'face-boxes':
      await models.get(FACE_DETECTOR.id);
      return;
    case 'esrgan': {
      const scale = modelScale(img, target);
      if (scale) await models.get(esrganModelId(upscaleRecipe(UPSCALE_TYPE).model, scale));
      return;
    }
    case 'none':
      // Outpainting falls back to OpenCV's inpainting (WebAssembly, compiled on first use).
      if (c.name === 'outpaint') await opencv();
      return;
  }
}

/** The size an edit request resizes to, for the upscale case's model scale and tiles. */
function requestedSize(c: ModelCase, img: { width: number; height: number }): { width: number; height: number } {
  const resizing = c.request?.(img).operations.resizing;
  const w = resizing?.width;
  const h = resizing?.height;
  return { width: typeof w === 'number' ? w : img.width, height: typeof h === 'number' ? h : img.height };
}

/** The bare model call for the case, prepared from the decoded input (nothing here is timed). */
async function prepareBare(c: ModelCase, img: RawImage, ctx: ModelContext): Promise<Bare | undefined> {
  switch (c.bare) {
    case 'isnet': {
      const model = await models.get<IsnetModel>(isnetModelId());
      const size = model.size;
      const input = new Float32Array(3 * size * size);
      await isnetInput(img, input, size);
      return {
        what: `ISNet session, [1,3,${size},${size}] tensor`,
        multiplier: 1,
        run: async () => {
          const out = await model.onnx.run({ input: new ort.Tensor('float32', input, [1, 3, size, size]) });
          for (const t of Object.values(out)) t.dispose();
        },
      };
    }
    case 'plates': {
      const tf = await tfjs();
      const centernet = await models.get<TF.GraphModel>(OBJECT_DETECTOR.id);
      const det = await models.get<OnnxModel>(TEXT_DETECTOR.id);
      const square = await resized(img, { width: CENTERNET_INPUT, height: CENTERNET_INPUT });
      const pixels = Float32Array.from(square.data);
      // The text detector runs once per vehicle found, on the lower part of its box, at the size privacy.ts
      // picks (long side ≤ 960, small regions enlarged towards 480: its PLATE_DET_SIDE / PLATE_DET_MIN_SIDE).
      const vehicles = await detectVehicles(img, ctx, { minScore: VEHICLE_MIN_SCORE });
      const texts: { data: Float32Array; width: number; height: number }[] = [];
      for (const v of vehicles) {
        const region = plateSearchRegion(v.box, img.width, img.height);
        if (region.width < 8 || region.height < 8) continue;
        const long = Math.max(region.width, region.height);
        const size = detInputSize(region.width, region.height, 960, Math.min(480, long * 2));
        const crop = await resized(img, size, region);
        texts.push({ data: toDetTensor(crop.data, size.width, size.height, 3), ...size });
      }
      const inputName = det.inputNames[0] as string;
      return {
        what: `CenterNet [1,${CENTERNET_INPUT},${CENTERNET_INPUT},3] + PP-OCR det × ${texts.length} (${texts.map((t) => `${t.width}x${t.height}`).join(', ') || 'no vehicle'})`,
        multiplier: 1,
        run: async () => {
          const input = tf.tensor4d(pixels, [1, CENTERNET_INPUT, CENTERNET_INPUT, 3], 'float32');
          const out = centernet.execute(input, 'tower_0/detections') as TF.Tensor;
          await out.data();
          out.dispose();
          input.dispose();
          for (const t of texts) {
            const r = await det.run({ [inputName]: new ort.Tensor('float32', t.data, [1, 3, t.height, t.width]) });
            for (const x of Object.values(r)) x.dispose();
          }
        },
      };
    }
    case 'faces':
    case 'face-boxes': {
      // The face modules are moving runtimes; their exported functions are the stable surface. On an image
      // already at the detector's input size they do no resizing, only the float conversion and the nets.
      const small = await resized(img, fitLongSide(img, DETECTOR_INPUT));
      const withLandmarks = c.bare === 'faces';
      const found = withLandmarks ? await detectFaces(small, ctx) : await detectFaceBoxes(small, ctx);
      return {
        what: `face SSD on ${small.width}x${small.height}${withLandmarks ? ` + landmarks × ${found.length}` : ''} (${found.length} face${found.length === 1 ? '' : 's'})`,
        multiplier: 1,
        run: () => (withLandmarks ? detectFaces(small, ctx) : detectFaceBoxes(small, ctx)),
      };
    }
    case 'esrgan': {
      const target = requestedSize(c, img);
      const scale = modelScale(img, target);
      if (!scale) return undefined;
      const net = await models.get<Parameters<typeof esrganUpscale>[0]>(esrganModelId(upscaleRecipe(UPSCALE_TYPE).model, scale));
      // tileSpans gives every tile of an axis the same length, so one tile times the count is the network's share.
      const xs = tileSpans(img.width, DEFAULT_TILING.tile, DEFAULT_TILING.overlap);
      const ys = tileSpans(img.height, DEFAULT_TILING.tile, DEFAULT_TILING.overlap);
      const tw = (xs[0]?.end ?? img.width) - (xs[0]?.start ?? 0);
      const th = (ys[0]?.end ?? img.height) - (ys[0]?.start ?? 0);
      const tile = await resized(img, { width: tw, height: th }, { left: 0, top: 0, width: tw, height: th });
      return {
        what: `ESRGAN ${esrganModelId(upscaleRecipe(UPSCALE_TYPE).model, scale)}, one ${tw}x${th} tile × ${xs.length * ys.length}`,
        multiplier: xs.length * ys.length,
        run: () => esrganUpscale(net, tile),
      };
    }
    case 'none':
      return undefined;
  }
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
}

/** Warm-up (optional) and `runs` timed runs of `work`; the peak RSS over all of them. */
async function measure(work: Work, runs: number, warmup: boolean, label: string): Promise<RunTimes & { isolated: boolean }> {
  // The child runs with --expose-gc: what the previous phase left unreachable is collected before the reset.
  (globalThis as { gc?: () => void }).gc?.();
  const isolated = resetPeak('self');
  if (warmup) {
    const t = performance.now();
    await work();
    log(`${label} warm-up ${((performance.now() - t) / 1000).toFixed(2)} s`);
  }
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t = performance.now();
    await work();
    wall.push((performance.now() - t) / 1000);
    cpu.push(cpuSeconds(c0));
    log(`${label} run ${i + 1}/${runs}: ${wall[i]?.toFixed(2)} s (CPU ${cpu[i]?.toFixed(2)} s)`);
  }
  return { wall, cpu, peakMiB: readMemory('self').peakRssMiB, isolated };
}

export async function runChild(spec: ChildSpec): Promise<ChildResult> {
  const c = findCase(spec.case);
  const file = readFileSync(spec.input);
  const meta = await sharp(file).metadata();
  const inputSize = { width: meta.width ?? 0, height: meta.height ?? 0 };
  const ctx: ModelContext = { models, profiling: {} };

  const t0 = performance.now();
  await loadModels(c, requestedSize(c, inputSize), inputSize);
  const loadS = (performance.now() - t0) / 1000;
  const afterLoad = readMemory('self');
  log(`models loaded in ${loadS.toFixed(2)} s, RSS ${afterLoad.rssMiB.toFixed(0)} MiB`);

  let img: RawImage | undefined = await decode(file);
  let bare = await prepareBare(c, img, ctx);
  let isolated = true;
  let bareTimes: ChildResult['bare'];
  if (bare) {
    const m = await measure(bare.run, spec.runs, spec.warmup, bare.multiplier > 1 ? `bare (1 of ${bare.multiplier})` : 'bare');
    isolated &&= m.isolated;
    const k = bare.multiplier;
    bareTimes = {
      what: bare.what,
      multiplier: k,
      wall: m.wall.map((v) => v * k),
      cpu: m.cpu.map((v) => v * k),
      peakMiB: m.peakMiB,
    };
  }

  // Nothing of the bare call's inputs stays resident under the operation's peak.
  bare = undefined;
  let last: Awaited<ReturnType<typeof runEdit>> | undefined;
  let op: Work;
  if (c.run === 'face-boxes') {
    const decoded = img;
    op = () => detectFaceBoxes(decoded, { models, profiling: {} });
  } else {
    img = undefined;
    const request = c.request?.(inputSize);
    if (!request) throw new Error(`case ${c.name} has no request`);
    op = async () => {
      // A fresh copy per run, like a fetched body.
      last = await runEdit({ input: Buffer.from(file), operations: request.operations, output: request.output, limits: DEFAULT_LIMITS });
    };
  }
  const m = await measure(op, spec.runs, spec.warmup, 'op');
  isolated &&= m.isolated;

  return {
    case: c.name,
    megapixels: spec.megapixels,
    input: { ...inputSize, bytes: file.length },
    ...(last ? { output: { width: last.output.width, height: last.output.height, format: last.output.format, bytes: last.data.length } } : {}),
    loadS,
    loadPeakMiB: afterLoad.peakRssMiB,
    loadedRssMiB: afterLoad.rssMiB,
    ...(bareTimes ? { bare: bareTimes } : {}),
    op: { wall: m.wall, cpu: m.cpu, peakMiB: m.peakMiB },
    peakIsolated: isolated,
    processPeakMiB: process.resourceUsage().maxRSS / 1024,
    ...(last ? { profiling: last.profiling } : {}),
    loadAvg: loadavg(),
  };
}

if (process.env.BENCH_MODEL_CHILD === '1') {
  const spec = JSON.parse(process.argv[2] ?? '') as ChildSpec;
  const result = await runChild(spec);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  // onnxruntime's and TF.js's thread pools can keep the process alive; the result is out.
  process.exit(0);
}
