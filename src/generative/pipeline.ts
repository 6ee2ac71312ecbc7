// Latent diffusion over a diffusers-layout ONNX model set: CLIP text encoder, UNet, VAE encoder/decoder and
// a scheduler, driving txt2img, img2img and inpainting with classifier-free guidance, per-image seeds and
// batching. Follows the diffusers Stable Diffusion pipelines step by step; where it departs (img2img rounds
// the step count, masks are reduced to latent cells conservatively) the docs say so.
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { ValidationError, UnavailableError } from '../errors.js';
import type { RawImage } from '../pipeline/raw-image.js';
import type {
  DiffusionEngine,
  DiffusionParams,
  DiffusionResult,
  Img2ImgParams,
  InpaintParams,
  Preference,
  SchedulerName,
} from './engine.js';
import { createRng, seedForImage, type Rng } from './prng.js';
import {
  createScheduler,
  guidanceEmbedding,
  img2imgStart,
  parseSchedulerConfig,
  type Scheduler,
  type SchedulerConfig,
} from './schedulers.js';
import { ClipTokenizer } from './tokenizer.js';
import {
  fixedBatch,
  floatTensor,
  intTensor,
  openSession,
  pickOutput,
  readFloats,
  type ComponentSession,
  type TensorSpec,
} from './session.js';
import {
  maskImageTensor,
  maskToLatent,
  maskToPixels,
  resizeOutput,
  resizeRgb,
  rgbToTensor,
  tensorToRgb,
} from './images.js';
import { readJson } from './paths.js';

export const DEFAULT_VAE_SCALING = 0.18215;
/** Pixel sizes are aligned to this: the UNet halves the 1/8 latent three times and concatenates skips. */
export const SIZE_ALIGN = 64;
const MAX_WORK_PIXELS = 2048 * 2048;

export interface PipelineHints {
  /** Scheduler when the request names none (else derived from scheduler_config's class). */
  scheduler?: SchedulerName;
  /** false for guidance-distilled models (SD-Turbo): one UNet row per image, guidance ignored. */
  classifierFree?: boolean;
  /** Steps per preference for this model set. */
  steps?: Partial<Record<Preference, number>>;
  /** UNet input channels when the export does not say (symbolic dimension, no unet/config.json). */
  inChannels?: 4 | 9;
}

/** Called after each denoising step (tests check guidance arithmetic; benches time steps). */
export interface StepTrace {
  step: number;
  timestep: number;
  /** Raw UNet output for the chunk's rows ([uncond…, cond…] with guidance). */
  raw: Float32Array;
  /** The guided noise prediction handed to the scheduler. */
  guided: Float32Array;
  guidanceScale: number;
  ms: number;
}

export interface PipelineOptions extends PipelineHints {
  onStep?: (t: StepTrace) => void;
  /** Latent pixels × UNet rows one call may hold (memory bound on batching); see docs/generative.md. */
  batchBudget?: number;
}

interface Components {
  tokenizer: ClipTokenizer;
  textEncoder: ComponentSession;
  unet: ComponentSession;
  vaeDecoder: ComponentSession;
  vaeEncoder: ComponentSession | undefined;
}

/** Scaling factor of the latent space: vae configs, then model_index.json, else SD's 0.18215. */
export function readScalingFactor(dir: string): number {
  for (const rel of ['vae_decoder/config.json', 'vae_encoder/config.json', 'vae/config.json', 'model_index.json']) {
    const v = readJson(join(dir, rel))?.scaling_factor;
    if (typeof v === 'number' && v > 0) return v;
  }
  return DEFAULT_VAE_SCALING;
}

/** The scheduler a model set's scheduler_config.json was written for, when it is one we implement. */
export function schedulerFromClass(className: unknown): SchedulerName | undefined {
  switch (className) {
    case 'LCMScheduler':
      return 'lcm';
    case 'EulerAncestralDiscreteScheduler':
      return 'euler_ancestral';
    case 'EulerDiscreteScheduler':
      return 'euler';
    case 'DDIMScheduler':
      return 'ddim';
    default:
      return undefined;
  }
}

/** UNet input channels: the declared dimension, else unet/config.json, else model_index's class, else hints. */
export function unetInChannels(dir: string, sample: TensorSpec | undefined, hint?: 4 | 9): 4 | 9 {
  const declared = sample?.shape[1];
  if (declared === 4 || declared === 9) return declared;
  const cfg = readJson(join(dir, 'unet/config.json'))?.in_channels;
  if (cfg === 4 || cfg === 9) return cfg;
  if (hint) return hint;
  const cls = readJson(join(dir, 'model_index.json'))?._class_name;
  return typeof cls === 'string' && /inpaint/i.test(cls) ? 9 : 4;
}

/** Aligned working size for a requested output size. */
export function workingSize(width: number, height: number): { width: number; height: number } {
  const align = (v: number): number => Math.max(SIZE_ALIGN, Math.round(v / SIZE_ALIGN) * SIZE_ALIGN);
  return { width: align(width), height: align(height) };
}

function abortIfNeeded(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
}

function checkParams(p: DiffusionParams): void {
  const bad = (field: string, msg: string): never => {
    throw new ValidationError(msg, { field });
  };
  if (!Number.isInteger(p.width) || p.width < 8 || !Number.isInteger(p.height) || p.height < 8) bad('width', 'width and height must be integers ≥ 8');
  if (!Number.isInteger(p.steps) || p.steps < 1 || p.steps > 1000) bad('steps', 'steps must be an integer in 1..1000');
  if (!Number.isInteger(p.numberOfImages) || p.numberOfImages < 1 || p.numberOfImages > 16) bad('numberOfImages', 'numberOfImages must be in 1..16');
  if (!Number.isFinite(p.guidanceScale) || p.guidanceScale < 0) bad('guidanceScale', 'guidanceScale must be a non-negative number');
  if (!Number.isInteger(p.seed) || p.seed < 0 || p.seed > 0xffffffff) bad('seed', 'seed must be an integer in 0..2^32-1');
  const work = workingSize(p.width, p.height);
  if (work.width * work.height > MAX_WORK_PIXELS) bad('width', `at most ${MAX_WORK_PIXELS} pixels per image`);
}

/** Milliseconds spent inside onnxruntime per component (the rest of a run is the pipeline's own work). */
export interface ModelTimes {
  text: number;
  unet: number;
  vae: number;
}

interface Job {
  model: ModelTimes;
  p: DiffusionParams;
  work: { width: number; height: number };
  scheduler: Scheduler;
  /** First step to run (img2img/inpaint strength); steps before it are skipped. */
  start: number;
  /** Clean latents of the init image (scaled), shared by every image of the request. */
  initLatents?: Float32Array;
  /** Latent-resolution repaint mask (1 repaint) for inpainting. */
  mask?: Float32Array;
  /** Latents of the masked init image, for 9-channel UNets. */
  maskedLatents?: Float32Array;
  /** 9-channel UNet (mask conditioning) rather than latent blending. */
  conditioned: boolean;
  timings: Record<string, number>;
}

export class DiffusionPipeline implements DiffusionEngine {
  readonly modelSet: string;
  readonly dir: string;
  readonly inChannels: 4 | 9;
  readonly scalingFactor: number;
  readonly schedulerConfig: SchedulerConfig;
  readonly defaultScheduler: SchedulerName;
  /** D of the text embeddings (encoder_hidden_states' last dimension), learned on first encode. */
  private hiddenSize: number | undefined;
  private readonly c: Components;
  private readonly opts: PipelineOptions;
  /** Guidance-distilled UNet (LCM): the scale goes in as an embedding, one row per image. */
  readonly timestepCondDim: number | undefined;

  private constructor(name: string, dir: string, c: Components, opts: PipelineOptions) {
    this.modelSet = name;
    this.dir = dir;
    this.c = c;
    this.opts = opts;
    this.scalingFactor = readScalingFactor(dir);
    const schedJson = readJson(join(dir, 'scheduler/scheduler_config.json')) ?? {};
    this.schedulerConfig = parseSchedulerConfig(schedJson);
    const cond = c.unet.input('timestep_cond');
    const condDim = cond?.shape[1];
    this.timestepCondDim = cond ? (typeof condDim === 'number' ? condDim : 256) : undefined;
    this.defaultScheduler =
      opts.scheduler ?? (this.timestepCondDim ? 'lcm' : undefined) ?? schedulerFromClass(schedJson._class_name) ?? 'euler_ancestral';
    this.inChannels = unetInChannels(dir, c.unet.input('sample'), opts.inChannels);
  }

  static async load(name: string, dir: string, opts: PipelineOptions = {}): Promise<DiffusionPipeline> {
    const tokenizer = ClipTokenizer.fromFolder(join(dir, 'tokenizer'));
    const opened: ComponentSession[] = [];
    const open = async (rel: string): Promise<ComponentSession> => {
      const s = await openSession(join(dir, rel));
      opened.push(s);
      return s;
    };
    try {
      const textEncoder = await open('text_encoder/model.onnx');
      const unet = await open('unet/model.onnx');
      const vaeDecoder = await open('vae_decoder/model.onnx');
      const vaeEncoder = existsSync(join(dir, 'vae_encoder/model.onnx')) ? await open('vae_encoder/model.onnx') : undefined;
      for (const required of ['sample', 'timestep', 'encoder_hidden_states']) {
        if (!unet.input(required)) throw new Error(`${name}: the UNet has no '${required}' input`);
      }
      return new DiffusionPipeline(name, dir, { tokenizer, textEncoder, unet, vaeDecoder, vaeEncoder }, opts);
    } catch (err) {
      await Promise.all(opened.map((s) => s.release()));
      throw err;
    }
  }

  async release(): Promise<void> {
    const { textEncoder, unet, vaeDecoder, vaeEncoder } = this.c;
    await Promise.all([textEncoder.release(), unet.release(), vaeDecoder.release(), vaeEncoder?.release()]);
  }

  /** Steps this model set uses for a preference (its hints, else the engine-wide defaults). */
  stepsFor(preference: Preference): number | undefined {
    return this.opts.steps?.[preference];
  }

  /** Whether a request with this guidance scale runs the unconditional row too. */
  usesGuidance(guidanceScale: number): boolean {
    return this.opts.classifierFree !== false && this.timestepCondDim === undefined && guidanceScale > 1;
  }

  // ---- text ----

  /** Text embeddings [n, 77, D] for the prompts, in order. */
  async encodeText(prompts: string[], acc?: ModelTimes): Promise<{ data: Float32Array; hidden: number }> {
    const te = this.c.textEncoder;
    const idsSpec = te.inputs.find((s) => s.name === 'input_ids') ?? te.inputs[0];
    if (!idsSpec) throw new Error(`${this.modelSet}: text encoder without inputs`);
    const L = this.c.tokenizer.contextLength;
    const per = fixedBatch(idsSpec) ?? prompts.length;
    const parts: Float32Array[] = [];
    for (let i = 0; i < prompts.length; i += per) {
      const group = prompts.slice(i, i + per);
      while (group.length < per) group.push(group[group.length - 1] as string);
      const ids = new Int32Array(per * L);
      group.forEach((p, k) => ids.set(this.c.tokenizer.encode(p), k * L));
      const feeds: Record<string, ReturnType<typeof intTensor>> = { [idsSpec.name]: intTensor(idsSpec, ids, [per, L]) };
      for (const s of te.inputs) {
        // Some exports also take an attention mask; CLIP in SD attends to every position (causal mask only).
        if (s.name !== idsSpec.name) feeds[s.name] = intTensor(s, new Int32Array(per * L).fill(1), [per, L]);
      }
      const t0 = performance.now();
      const out = pickOutput(await te.run(feeds), te, 'last_hidden_state');
      if (acc) acc.text += performance.now() - t0;
      const data = readFloats(out);
      const hidden = out.dims[2] as number;
      this.hiddenSize = hidden;
      parts.push(data.subarray(0, Math.min(group.length, prompts.length - i) * L * hidden));
    }
    const hidden = this.hiddenSize as number;
    const all = new Float32Array(prompts.length * L * hidden);
    let off = 0;
    for (const p of parts) {
      all.set(p, off);
      off += p.length;
    }
    return { data: all, hidden };
  }

  // ---- VAE ----

  /** Scaled latents [4, h/8, w/8] of one image given as a planar [-1, 1] tensor. */
  async encodeImage(tensor: Float32Array, width: number, height: number, acc?: ModelTimes): Promise<Float32Array> {
    const enc = this.c.vaeEncoder;
    if (!enc) {
      throw new UnavailableError('model_incomplete', `The model set '${this.modelSet}' has no vae_encoder; image-to-image and inpainting need it.`, {
        model: this.modelSet,
      });
    }
    const inSpec = enc.inputs[0] as TensorSpec;
    const t0 = performance.now();
    const out = pickOutput(await enc.run({ [inSpec.name]: floatTensor(inSpec, tensor, [1, 3, height, width]) }), enc, 'latent_sample');
    if (acc) acc.vae += performance.now() - t0;
    const data = readFloats(out);
    const [, channels = 4, lh = height / 8, lw = width / 8] = out.dims as number[];
    // latent_parameters (optimum) carry mean then log-variance: take the mean, which keeps img2img deterministic.
    const plane = lh * lw;
    const latents = new Float32Array(4 * plane);
    for (let i = 0; i < 4 * plane; i++) latents[i] = (data[i] as number) * this.scalingFactor;
    if (channels !== 4 && channels !== 8) throw new Error(`${this.modelSet}: VAE encoder returned ${channels} channels`);
    return latents;
  }

  /** Decodes scaled latents [4, h, w] to interleaved RGB at 8× the size. */
  async decodeLatents(latents: Float32Array, lw: number, lh: number, acc?: ModelTimes): Promise<{ rgb: Buffer; width: number; height: number }> {
    const dec = this.c.vaeDecoder;
    const inSpec = dec.inputs[0] as TensorSpec;
    const scaled = latents.map((v) => v / this.scalingFactor);
    const t0 = performance.now();
    const out = pickOutput(await dec.run({ [inSpec.name]: floatTensor(inSpec, scaled, [1, 4, lh, lw]) }), dec, 'sample');
    if (acc) acc.vae += performance.now() - t0;
    const [, , height, width] = out.dims as number[];
    return { rgb: tensorToRgb(readFloats(out), width as number, height as number), width: width as number, height: height as number };
  }

  // ---- UNet ----

  /**
   * One UNet evaluation over `rows` rows (split into the export's fixed batch when it has one). `input` holds
   * rows × C × h × w, `hidden` rows × 77 × D.
   */
  private async runUnet(
    input: Float32Array,
    rows: number,
    channels: number,
    lh: number,
    lw: number,
    timestep: number,
    hidden: Float32Array,
    cond: Float32Array | undefined,
    acc?: ModelTimes,
  ): Promise<Float32Array> {
    const unet = this.c.unet;
    const sampleSpec = unet.input('sample') as TensorSpec;
    const tSpec = unet.input('timestep') as TensorSpec;
    const hSpec = unet.input('encoder_hidden_states') as TensorSpec;
    const condSpec = unet.input('timestep_cond');
    const per = fixedBatch(sampleSpec) ?? rows;
    const rowIn = channels * lh * lw;
    const rowOut = 4 * lh * lw;
    const rowHidden = hidden.length / rows;
    const out = new Float32Array(rows * rowOut);
    for (let r0 = 0; r0 < rows; r0 += per) {
      const n = Math.min(per, rows - r0);
      // A fixed batch larger than what is left is filled by repeating the last row; extra outputs are dropped.
      const pick = (src: Float32Array, rowLen: number): Float32Array => {
        if (n === per && r0 === 0 && per === rows) return src;
        const buf = new Float32Array(per * rowLen);
        for (let k = 0; k < per; k++) {
          const r = r0 + Math.min(k, n - 1);
          buf.set(src.subarray(r * rowLen, (r + 1) * rowLen), k * rowLen);
        }
        return buf;
      };
      const tDims = tSpec.shape.length === 0 ? [] : fixedBatch(tSpec) === 1 ? [1] : [per];
      const tCount = tDims.length === 0 ? 1 : (tDims[0] as number);
      const feeds: Record<string, ReturnType<typeof floatTensor>> = {
        [sampleSpec.name]: floatTensor(sampleSpec, pick(input, rowIn), [per, channels, lh, lw]),
        [tSpec.name]: intTensor(tSpec, new Array<number>(tCount).fill(timestep), tDims),
        [hSpec.name]: floatTensor(hSpec, pick(hidden, rowHidden), [per, rowHidden / (this.hiddenSize as number), this.hiddenSize as number]),
      };
      if (condSpec && cond) feeds[condSpec.name] = floatTensor(condSpec, pick(cond, cond.length / rows), [per, cond.length / rows]);
      const t0 = performance.now();
      const raw = await unet.run(feeds);
      if (acc) acc.unet += performance.now() - t0;
      const result = readFloats(pickOutput(raw, unet, 'out_sample'));
      out.set(result.subarray(0, n * rowOut), r0 * rowOut);
    }
    return out;
  }

  /** Images per UNet call: as many as the latent-pixel budget allows (at least one). */
  private imagesPerChunk(lh: number, lw: number, rowsPerImage: number, requested: number): number {
    const cuda = this.c.unet.device === 'cuda';
    const envBudget = Number(process.env.ATELIER_DIFFUSION_BATCH_BUDGET);
    const budget = this.opts.batchBudget ?? (envBudget > 0 ? envBudget : (cuda ? 8 : 2) * 64 * 64);
    return Math.max(1, Math.min(requested, Math.floor(budget / (lh * lw * rowsPerImage))));
  }

  // ---- the three entry points ----

  async txt2img(p: DiffusionParams, signal?: AbortSignal): Promise<DiffusionResult> {
    checkParams(p);
    const job = this.job(p);
    return this.run(job, signal);
  }

  async img2img(p: Img2ImgParams, signal?: AbortSignal): Promise<DiffusionResult> {
    checkParams(p);
    if (!(p.strength >= 0 && p.strength <= 1)) throw new ValidationError('strength must be in 0..1', { field: 'strength' });
    const job = this.job(p);
    const t0 = performance.now();
    const { width, height } = job.work;
    job.initLatents = await this.encodeImage(rgbToTensor(await resizeRgb(p.init, width, height), width, height), width, height, job.model);
    job.timings.encode_image = performance.now() - t0;
    job.start = img2imgStart(p.steps, p.strength);
    return this.run(job, signal);
  }

  async inpaint(p: InpaintParams, signal?: AbortSignal): Promise<DiffusionResult> {
    checkParams(p);
    const strength = p.strength ?? 1;
    if (!(strength >= 0 && strength <= 1)) throw new ValidationError('strength must be in 0..1', { field: 'strength' });
    const job = this.job(p);
    const t0 = performance.now();
    const { width, height } = job.work;
    const image = rgbToTensor(await resizeRgb(p.init, width, height), width, height);
    const pixels = await maskToPixels(p.mask, width, height);
    job.mask = maskToLatent(pixels, width, height);
    job.conditioned = this.inChannels === 9;
    if (job.conditioned) job.maskedLatents = await this.encodeImage(maskImageTensor(image, pixels), width, height, job.model);
    // The blending UNet always needs the original's latents; the conditioned one only when it starts from them.
    if (!job.conditioned || strength < 1) job.initLatents = await this.encodeImage(image, width, height, job.model);
    job.timings.encode_image = performance.now() - t0;
    job.start = img2imgStart(p.steps, strength);
    return this.run(job, signal);
  }

  private job(p: DiffusionParams): Job {
    const name = p.scheduler ?? this.defaultScheduler;
    let scheduler: Scheduler;
    try {
      scheduler = createScheduler(name, p.steps, this.schedulerConfig);
    } catch (err) {
      throw new ValidationError(`${name} scheduler: ${(err as Error).message}`, { field: 'steps' });
    }
    return { model: { text: 0, unet: 0, vae: 0 }, p, work: workingSize(p.width, p.height), scheduler, start: 0, conditioned: false, timings: {} };
  }

  private async run(job: Job, signal?: AbortSignal): Promise<DiffusionResult> {
    const tStart = performance.now();
    const { p, scheduler, work } = job;
    const lw = work.width / 8;
    const lh = work.height / 8;
    const plane = lh * lw;
    const latentSize = 4 * plane;
    const guided = this.usesGuidance(p.guidanceScale);
    const rowsPerImage = guided ? 2 : 1;
    const channels = job.conditioned ? 9 : 4;
    if (this.inChannels === 9 && !job.conditioned) {
      throw new ValidationError(`The model set '${this.modelSet}' is an inpainting model; it needs a mask.`, { field: 'mask' });
    }

    abortIfNeeded(signal);
    let t0 = performance.now();
    const text = await this.encodeText(guided ? [p.negativePrompt ?? '', p.prompt] : [p.prompt], job.model);
    const rowHidden = text.data.length / (guided ? 2 : 1);
    job.timings.encode_prompt = performance.now() - t0;
    const cond = this.timestepCondDim ? guidanceEmbedding(p.guidanceScale, this.timestepCondDim) : undefined;

    const seeds = Array.from({ length: p.numberOfImages }, (_, i) => seedForImage(p.seed, i));
    const images: RawImage[] = [];
    const chunk = this.imagesPerChunk(lh, lw, rowsPerImage, p.numberOfImages);
    let denoiseMs = 0;
    let decodeMs = 0;

    for (let first = 0; first < seeds.length; first += chunk) {
      const chunkSeeds = seeds.slice(first, first + chunk);
      const n = chunkSeeds.length;
      const rngs: Rng[] = chunkSeeds.map((s) => createRng(s));
      // Each image's first draw is its starting noise, so an image depends on its seed alone.
      const noise = new Float32Array(n * latentSize);
      rngs.forEach((rng, k) => rng.fillNormal(noise.subarray(k * latentSize, (k + 1) * latentSize)));
      let latents: Float32Array = new Float32Array(n * latentSize);
      for (let k = 0; k < n; k++) {
        const own = noise.subarray(k * latentSize, (k + 1) * latentSize);
        let start: Float32Array;
        if (job.initLatents && job.start >= p.steps) {
          // Strength 0: nothing to denoise; the result is the init image through the VAE.
          start = job.initLatents;
        } else if (job.initLatents && !(job.mask && job.start === 0)) {
          start = scheduler.addNoise(job.initLatents, own, job.start);
        } else {
          // txt2img, and inpainting at full strength (diffusers' is_strength_max): pure noise.
          start = own.map((v) => v * scheduler.initNoiseSigma);
        }
        latents.set(start, k * latentSize);
      }

      // Rows: [uncond × n, cond × n] with guidance, [cond × n] without.
      const hidden = new Float32Array(n * rowsPerImage * rowHidden);
      for (let r = 0; r < n * rowsPerImage; r++) {
        const src = guided && r >= n ? 1 : 0;
        hidden.set(text.data.subarray(src * rowHidden, (src + 1) * rowHidden), r * rowHidden);
      }
      const condRows = cond ? new Float32Array(n * rowsPerImage * cond.length).map((_, i) => cond[i % cond.length] as number) : undefined;

      t0 = performance.now();
      for (let i = job.start; i < p.steps; i++) {
        abortIfNeeded(signal);
        const stepStart = performance.now();
        const scale = scheduler.inputScale(i);
        const rowIn = channels * plane;
        const input = new Float32Array(n * rowsPerImage * rowIn);
        for (let r = 0; r < n * rowsPerImage; r++) {
          const k = r % n;
          const base = r * rowIn;
          for (let j = 0; j < latentSize; j++) input[base + j] = (latents[k * latentSize + j] as number) * scale;
          if (job.conditioned) {
            input.set(job.mask as Float32Array, base + latentSize);
            input.set(job.maskedLatents as Float32Array, base + latentSize + plane);
          }
        }
        const timestep = scheduler.timesteps[i] as number;
        const raw = await this.runUnet(input, n * rowsPerImage, channels, lh, lw, timestep, hidden, condRows, job.model);
        const noisePred = guided ? applyGuidance(raw, n * latentSize, p.guidanceScale) : raw;
        latents = scheduler.step(noisePred, i, latents, rngs);
        if (job.mask && !job.conditioned) {
          // Outside the mask the latents follow the original, noised to the level the next step expects.
          for (let k = 0; k < n; k++) {
            const own = noise.subarray(k * latentSize, (k + 1) * latentSize);
            const proper = i < p.steps - 1 ? scheduler.addNoise(job.initLatents as Float32Array, own, i + 1) : (job.initLatents as Float32Array);
            blendOutsideMask(latents.subarray(k * latentSize, (k + 1) * latentSize), proper, job.mask, plane);
          }
        }
        this.opts.onStep?.({ step: i, timestep, raw, guided: noisePred, guidanceScale: p.guidanceScale, ms: performance.now() - stepStart });
      }
      denoiseMs += performance.now() - t0;

      t0 = performance.now();
      for (let k = 0; k < n; k++) {
        abortIfNeeded(signal);
        const decoded = await this.decodeLatents(latents.subarray(k * latentSize, (k + 1) * latentSize), lw, lh, job.model);
        const rgb = await resizeOutput(decoded.rgb, decoded.width, decoded.height, p.width, p.height);
        images.push({ data: rgb, width: p.width, height: p.height, channels: 3 });
      }
      decodeMs += performance.now() - t0;
    }

    job.timings.denoise = denoiseMs;
    job.timings.decode = decodeMs;
    job.timings.total = performance.now() - tStart + (job.timings.encode_image ?? 0);
    job.timings.model_text = job.model.text;
    job.timings.model_unet = job.model.unet;
    job.timings.model_vae = job.model.vae;
    return {
      images,
      seeds,
      modelSet: this.modelSet,
      scheduler: scheduler.name,
      steps: p.steps - job.start,
      timings: job.timings,
    };
  }
}

/** noise = uncond + g·(cond − uncond) over rows laid out [uncond × n, cond × n] (`half` = n·latent size). */
export function applyGuidance(raw: Float32Array, half: number, g: number): Float32Array {
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const u = raw[i] as number;
    out[i] = u + g * ((raw[half + i] as number) - u);
  }
  return out;
}

/** latents = (1 − m)·proper + m·latents per latent cell, for every channel. */
export function blendOutsideMask(latents: Float32Array, proper: Float32Array, mask: Float32Array, plane: number): void {
  for (let c = 0; c < 4; c++) {
    for (let i = 0; i < plane; i++) {
      const m = mask[i] as number;
      const j = c * plane + i;
      latents[j] = (1 - m) * (proper[j] as number) + m * (latents[j] as number);
    }
  }
}
