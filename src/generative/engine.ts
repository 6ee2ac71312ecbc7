// The generative engine's surface: what the API services (image generate, scene create, AI edit, outpaint,
// style transfer) call. Everything behind it (model sets on disk, onnxruntime sessions, schedulers) stays in
// this folder, so a service asks for a capability and gets an engine or a 503 naming what to install.
import { randomInt } from 'node:crypto';
import { UnavailableError } from '../errors.js';
import type { RawImage } from '../pipeline/raw-image.js';

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
  /** Milliseconds per stage: encode_prompt, encode_image, denoise, decode, total. */
  timings: Record<string, number>;
}

export interface DiffusionEngine {
  readonly modelSet: string;
  txt2img(p: DiffusionParams, signal?: AbortSignal): Promise<DiffusionResult>;
  img2img(p: Img2ImgParams, signal?: AbortSignal): Promise<DiffusionResult>;
  inpaint(p: InpaintParams, signal?: AbortSignal): Promise<DiffusionResult>;
}

export type Capability = 'txt2img' | 'img2img' | 'inpaint' | 'caption';
export type Preference = 'fast' | 'optimal' | 'best';

export interface EngineRequest {
  capability: Capability;
  model?: 'v1' | 'v2';
  preference?: Preference;
}

/** Denoising steps for a preference when the request names none (see docs/generative.md). */
export function defaultSteps(preference: Preference = 'optimal'): number {
  switch (preference) {
    case 'fast':
      return 4;
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

/**
 * The engine for a capability. Throws UnavailableError (503) naming the model set and the pull command when
 * the model set is not installed.
 */
export async function getEngine(req: EngineRequest): Promise<DiffusionEngine> {
  const name = req.capability === 'inpaint' ? 'sd15-inpaint-onnx' : 'sd15-onnx';
  throw new UnavailableError('model_not_installed', `The model set '${name}' needed for ${req.capability} is not installed.`, {
    model: name,
    capability: req.capability,
    command: `npm run atelier -- models pull ${name}`,
  });
}

/** One-sentence description of an image (prompt.generate). 503 when no captioning model is installed. */
export async function caption(_img: RawImage): Promise<string> {
  const name = 'vit-gpt2-caption-onnx';
  throw new UnavailableError('model_not_installed', `The model set '${name}' needed for captioning is not installed.`, {
    model: name,
    capability: 'caption',
    command: `npm run atelier -- models pull ${name}`,
  });
}
