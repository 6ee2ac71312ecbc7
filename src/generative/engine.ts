// The generative engine's surface: what the API services (image generate, scene create, AI edit, outpaint,
// style transfer) call. Everything behind it (model sets on disk, onnxruntime sessions, schedulers) stays in
// this folder, so a service asks for a capability and gets an engine or a 503 naming what to install.
import { randomInt } from 'node:crypto';
import { UnavailableError } from '../errors.js';
import { deviceChoice } from '../models/runtime/onnx.js';
import type { RawImage } from '../pipeline/raw-image.js';
import { acquireEngine, loadCaptioner, releaseEngines } from './cache.js';
import { candidates, installedState, modelSetSpec } from './model-sets.js';
import { modelSetDir } from './paths.js';

export type SchedulerName = 'euler' | 'euler_ancestral' | 'ddim' | 'lcm';

export interface DiffusionParams {
  prompt: string;
  negativePrompt?: string;
  /** Output size in pixels; rounded down to a multiple of 8 internally, the result has exactly this size. */
  width: number;
  height: number;
  steps: number;
  guidanceScale: number;
  /** Seed of the first image; image i uses seed + i (mod 2^32), reported in `seeds`. */
  seed: number;
  numberOfImages: number;
  scheduler?: SchedulerName;
}

export interface Img2ImgParams extends DiffusionParams {
  init: RawImage;
  /** 0..1: how much of the schedule runs; 0 returns the init image (through the VAE), 1 ignores it. */
  strength: number;
}

export interface InpaintParams extends DiffusionParams {
  init: RawImage;
  /** Channels 1 or 3 (or 4: the first channel is read); 255 = repaint, 0 = keep. */
  mask: RawImage | MaskImage;
  strength?: number;
}

/** A single-channel mask (RawImage only carries 3 or 4 channels). */
export interface MaskImage {
  data: Buffer;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

export interface DiffusionResult {
  images: RawImage[];
  seeds: number[];
  modelSet: string;
  scheduler: SchedulerName;
  /** Denoising steps actually run per image (for img2img: round(steps * strength)). */
  steps: number;
  /** Milliseconds per stage (encode_prompt, encode_image, denoise, decode, total) and inside onnxruntime per
   *  component (model_text, model_unet, model_vae); total minus the model_* times is the pipeline's own work. */
  timings: Record<string, number>;
}

export interface DiffusionEngine {
  readonly modelSet: string;
  txt2img(p: DiffusionParams, signal?: AbortSignal): Promise<DiffusionResult>;
  img2img(p: Img2ImgParams, signal?: AbortSignal): Promise<DiffusionResult>;
  inpaint(p: InpaintParams, signal?: AbortSignal): Promise<DiffusionResult>;
  /** Steps this model set is tuned for at a preference (distilled sets need far fewer). */
  stepsFor?(preference: Preference): number | undefined;
}

export type Capability = 'txt2img' | 'img2img' | 'inpaint' | 'caption';
export type Preference = 'fast' | 'optimal' | 'best';

export interface EngineRequest {
  capability: Capability;
  model?: 'v1' | 'v2';
  preference?: Preference;
}

/**
 * Denoising steps for a preference when the request names none: the engine's own table when given (LCM 4/6/8,
 * SD-Turbo 1/2/4), else the full-model defaults 15/25/40 (see docs/generative.md).
 */
export function defaultSteps(preference: Preference = 'optimal', engine?: DiffusionEngine): number {
  const own = engine?.stepsFor?.(preference);
  if (own !== undefined) return own;
  switch (preference) {
    case 'fast':
      return 15;
    case 'best':
      return 40;
    default:
      return 25;
  }
}

/** A fresh 32-bit seed for a request that gives none. */
export function newSeed(): number {
  return randomInt(0, 2 ** 32 - 1);
}

const CAPABILITY_WORDS: Record<Capability, string> = {
  txt2img: 'image generation',
  img2img: 'image-to-image',
  inpaint: 'inpainting',
  caption: 'captioning',
};

/** The 503 for a capability whose model set is not installed. */
export function notInstalled(model: string, capability: Capability): UnavailableError {
  const command = `npm run atelier -- models pull ${model}`;
  return new UnavailableError(
    'model_not_installed',
    `The model set '${model}' needed for ${CAPABILITY_WORDS[capability]} is not installed. Install it with: ${command}`,
    { model, capability, command },
  );
}

/** The model set that serves a request on this machine, or the 503 naming the one to install. */
export function resolveModelSet(req: EngineRequest, env: NodeJS.ProcessEnv = process.env): string {
  const cpuOnly = deviceChoice(env) === 'cpu';
  const usable = candidates(req.capability, req.model, req.preference).filter((name) => !(cpuOnly && modelSetSpec(name)?.requiresCuda));
  for (const name of usable) {
    if (installedState(name, env).capabilities.includes(req.capability)) return name;
  }
  throw notInstalled(usable[0] ?? candidates(req.capability)[0] ?? 'sd15-onnx', req.capability);
}

/**
 * The engine for a capability (loaded on first use, kept warm). Throws UnavailableError (503) naming the model
 * set and the pull command when no set that serves it is installed.
 */
export async function getEngine(req: EngineRequest): Promise<DiffusionEngine> {
  if (req.capability === 'caption') throw new Error("getEngine: captioning has its own entry point, caption()");
  const name = resolveModelSet(req);
  return acquireEngine(name, modelSetDir(name), modelSetSpec(name)?.hints ?? {});
}

/** One-sentence description of an image (prompt.generate). 503 when no captioning model is installed. */
export async function caption(img: RawImage): Promise<string> {
  const name = resolveModelSet({ capability: 'caption' });
  const captioner = await loadCaptioner(modelSetDir(name));
  return captioner.describe(img);
}

export { releaseEngines };
