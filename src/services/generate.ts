// POST /v1/image/generate: text to image on the diffusion engine. Images are square at the configured output
// size (1024×1024 by default, as the reference shows), PNG, stored in the caller's storage folder or the
// temporary store. A model set whose native resolution is below the output size generates at its own size
// first and is brought up by an image-to-image pass at the output size (the usual "high-resolution fix"):
// asking such a model for 1024×1024 directly repeats subjects across the frame.
import { randomBytes, randomUUID } from 'node:crypto';
import {
  GENERATE_DEFAULT_GUIDANCE,
  GENERATE_DEFAULT_IMAGES,
  type GenerateRequest,
  type GenerateResponse,
} from '../contract/generative-schemas.js';
import type { OutputImageObject } from '../contract/types.js';
import { isAtelierError, ValidationError } from '../errors.js';
import {
  defaultSteps,
  getEngine,
  newSeed,
  type DiffusionEngine,
  type DiffusionResult,
} from '../generative/engine.js';
import { workingSize, type Size } from '../pipeline/generative-maths.js';
import { nativeSizeOf } from '../pipeline/generative.js';
import { fromRawImage, toRawImage, type RawImage } from '../pipeline/raw-image.js';
import { asFolder, numberedName, type GenerativeOutput } from './generative-output.js';

/** The reference's output size. */
export const DEFAULT_GENERATE_SIZE = 1024;
export const MIN_GENERATE_SIZE = 64;
export const MAX_GENERATE_SIZE = 2048;
/** Strength of the image-to-image pass that brings a low-resolution generation up to the output size. */
export const HIRES_STRENGTH = 0.35;
/** Request header (an Atelier extension) fixing the seed of the first image; image i uses seed + i. */
export const SEED_HEADER = 'x-atelier-seed';

export interface GenerateSettings {
  /** Side of the square outputs (and the reference side of AI edit's aspect-ratio table). */
  size: number;
}

/**
 * ATELIER_GENERATE_SIZE: side of generated images, a multiple of 8 from 64 to 2048 (default 1024). Smaller
 * sizes trade the reference's 1024×1024 for speed (tests run synthetic model sets at 64).
 */
export function generateSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): GenerateSettings {
  const raw = env.ATELIER_GENERATE_SIZE;
  if (raw === undefined || raw === '') return { size: DEFAULT_GENERATE_SIZE };
  const size = Number(raw);
  if (!Number.isInteger(size) || size < MIN_GENERATE_SIZE || size > MAX_GENERATE_SIZE || size % 8 !== 0) {
    throw new Error(
      `ATELIER_GENERATE_SIZE must be a multiple of 8 from ${MIN_GENERATE_SIZE} to ${MAX_GENERATE_SIZE}; got "${raw}".`,
    );
  }
  return { size };
}

/** Parses the seed header: a decimal integer from 0 to 2^32 - 1, or undefined when absent. */
export function parseSeedHeader(value: string | string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value[0] : value;
  const seed = text !== undefined && /^\d{1,10}$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isInteger(seed) || seed > 2 ** 32 - 1) {
    throw new ValidationError(`${SEED_HEADER}: the seed must be an integer from 0 to 4294967295.`, {
      errors: [{ loc: ['header', SEED_HEADER], msg: 'Input should be an integer from 0 to 4294967295', type: 'value_error' }],
    });
  }
  return seed;
}

export interface GenerateServiceDeps {
  output: GenerativeOutput;
  settings: GenerateSettings;
}

export class GenerateService {
  constructor(private readonly deps: GenerateServiceDeps) {}

  /** Refuses an unusable `output` before any work. */
  precheck(owner: string, body: GenerateRequest): void {
    if (body.output !== undefined) this.deps.output.checkDestination(owner, asFolder(body.output), 'output');
  }

  async generate(
    owner: string,
    body: GenerateRequest,
    opts: { signal?: AbortSignal; seed?: number } = {},
  ): Promise<GenerateResponse> {
    const started = performance.now();
    const count = body.options?.number_of_images ?? GENERATE_DEFAULT_IMAGES;
    const guidanceScale = body.options?.guidance_scale ?? GENERATE_DEFAULT_GUIDANCE;
    const engine = await getEngine({ capability: 'txt2img' });
    const side = this.deps.settings.size;
    const out: Size = { width: side, height: side };
    const native = nativeSizeOf(engine);
    const first: Size = workingSize(out, native * native);
    const steps = defaultSteps('optimal', engine);
    const seed = opts.seed ?? newSeed();

    const result = await engine.txt2img(
      { prompt: body.input, width: first.width, height: first.height, steps, guidanceScale, seed, numberOfImages: count },
      opts.signal,
    );
    const profiling: Record<string, unknown> = {
      seeds: result.seeds,
      model_set: result.modelSet,
      scheduler: result.scheduler,
      steps: result.steps,
      guidance_scale: guidanceScale,
      generation_size: `${first.width}x${first.height}`,
      timings: result.timings,
    };
    let images = result.images;
    if (first.width !== out.width || first.height !== out.height) {
      const up = await this.upscale(images, result, out, body.input, guidanceScale, steps, opts.signal);
      images = up.images;
      profiling.upscale = up.method;
    }

    const storeStarted = performance.now();
    const base = randomBytes(6).toString('base64url');
    const stableId = `generate:${randomUUID()}`;
    const output: OutputImageObject[] = [];
    for (const [i, img] of images.entries()) {
      const encoded = await this.deps.output.encode(img, 'png');
      const name = numberedName(`${base}.png`, i + 1, Math.max(2, images.length));
      output.push(
        await this.deps.output.store(
          owner,
          encoded,
          { destination: body.output === undefined ? undefined : asFolder(body.output), name, stableId, field: 'output' },
          opts.signal,
        ),
      );
    }
    profiling.store_ms = Math.round(performance.now() - storeStarted);
    profiling.total_ms = Math.round(performance.now() - started);
    return { input: { text: body.input }, output, profiling };
  }

  /**
   * Brings low-resolution generations to `out`: Lanczos upscaling, then image-to-image at HIRES_STRENGTH with
   * the same prompt and each image's own seed, which redraws detail at the new size without changing the
   * composition. Without an image-to-image model set the Lanczos result is returned as it is.
   */
  private async upscale(
    images: RawImage[],
    result: DiffusionResult,
    out: Size,
    prompt: string,
    guidanceScale: number,
    steps: number,
    signal: AbortSignal | undefined,
  ): Promise<{ images: RawImage[]; method: string }> {
    const enlarged = await Promise.all(
      images.map((img) => toRawImage(fromRawImage(img).resize(out.width, out.height, { kernel: 'lanczos3' }))),
    );
    let refiner: DiffusionEngine;
    try {
      refiner = await getEngine({ capability: 'img2img' });
    } catch (err) {
      if (isAtelierError(err) && err.status === 503) return { images: enlarged, method: 'lanczos' };
      throw err;
    }
    const refined: RawImage[] = [];
    for (const [i, init] of enlarged.entries()) {
      const pass = await refiner.img2img(
        {
          prompt,
          width: out.width,
          height: out.height,
          steps,
          guidanceScale,
          seed: result.seeds[i] ?? 0,
          numberOfImages: 1,
          init,
          strength: HIRES_STRENGTH,
        },
        signal,
      );
      const img = pass.images[0];
      if (!img) throw new Error('the engine returned no image');
      refined.push(img);
    }
    return { images: refined, method: `lanczos+img2img(${HIRES_STRENGTH})` };
  }
}
