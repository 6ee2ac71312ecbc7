// The generative operations of the edit pipeline, on the diffusion engine (src/generative/engine.ts):
// - generativeOutpaint: `resizing.fit: outpaint`, the new border inpainted with a feathered mask;
// - styleTransfer: `generative.style_transfer`, image-to-image from the input restyled after a reference.
// Both run the model at a working size near the model set's native resolution and bring the result back to
// the image's own size. Both throw the engine's 503 when the model set they need is not installed; the
// integrator falls back to the classical outpaint (src/pipeline/outpaint.ts) in that case.
import type { StyleTransferOptions } from '../contract/types.js';
import { defaultSteps, getEngine, type DiffusionEngine } from '../generative/engine.js';
import type { ModelContext } from './model-context.js';
import { fromRawImage, toRawImage, type RawImage } from './raw-image.js';
import {
  compositeOriginal,
  outpaintMask,
  reinjectStructure,
  seedOf,
  transferStyleStatistics,
  workingSize,
  type Placement,
  type Size,
} from './generative-maths.js';

/** Side the engine generates at when it does not say (SD 1.5's training resolution). */
export const FALLBACK_NATIVE_SIZE = 512;

/** The side in pixels a model set generates at natively (see docs/generative.md). */
export function nativeSizeOf(engine: DiffusionEngine): number {
  const side = (engine as { nativeSize?: unknown }).nativeSize;
  return typeof side === 'number' && Number.isFinite(side) && side >= 8 ? side : FALLBACK_NATIVE_SIZE;
}

/** Classifier-free guidance for the edit pipeline's generative steps when a prompt is given. */
export const EDIT_GUIDANCE_SCALE = 7.5;

/**
 * With no prompt the conditional and unconditional passes see the same empty text, so guidance cannot
 * change anything: 1 skips the second pass and halves the work.
 */
function guidanceFor(prompt: string | undefined): number {
  return prompt ? EDIT_GUIDANCE_SCALE : 1;
}

// ---------------------------------------------------------------------------------------------------------
// Small sharp adapters on raw pixels

async function resizeRaw(img: RawImage, size: Size, fit: 'fill' | 'cover' = 'fill'): Promise<RawImage> {
  if (img.width === size.width && img.height === size.height) return img;
  return toRawImage(fromRawImage(img).resize(size.width, size.height, { fit, kernel: 'lanczos3' }));
}

/** RGB pixels of an image, flattened onto white when it has alpha (what a diffusion model expects). */
async function opaque(img: RawImage): Promise<RawImage> {
  if (img.channels === 3) return img;
  return toRawImage(fromRawImage(img).flatten({ background: '#ffffff' }));
}

function withAlphaOf(rgb: RawImage, alphaSource: RawImage): RawImage {
  if (alphaSource.channels !== 4) return rgb;
  const n = rgb.width * rgb.height;
  const out = Buffer.alloc(n * 4);
  for (let i = 0; i < n; i++) {
    out[i * 4] = rgb.data[i * rgb.channels] as number;
    out[i * 4 + 1] = rgb.data[i * rgb.channels + 1] as number;
    out[i * 4 + 2] = rgb.data[i * rgb.channels + 2] as number;
    out[i * 4 + 3] = alphaSource.data[i * 4 + 3] as number;
  }
  return { data: out, width: rgb.width, height: rgb.height, channels: 4 };
}

/**
 * The canvas with the original placed on it and the new border filled by mirroring the original's edges:
 * a starting point whose colours already continue the image, which the model then repaints.
 */
async function mirroredCanvas(img: RawImage, canvas: Placement): Promise<RawImage> {
  const rgb = await opaque(img);
  const right = canvas.width - canvas.left - img.width;
  const bottom = canvas.height - canvas.top - img.height;
  const extended = await toRawImage(
    fromRawImage(rgb).extend({
      left: Math.max(0, canvas.left),
      top: Math.max(0, canvas.top),
      right: Math.max(0, right),
      bottom: Math.max(0, bottom),
      extendWith: 'mirror',
    }),
  );
  // A negative offset means the canvas cuts the original: crop what lies outside.
  const x = Math.max(0, -canvas.left);
  const y = Math.max(0, -canvas.top);
  if (x === 0 && y === 0 && extended.width === canvas.width && extended.height === canvas.height) return extended;
  return toRawImage(fromRawImage(extended).extract({ left: x, top: y, width: canvas.width, height: canvas.height }));
}

function roundedMs(since: number): number {
  return Math.round(performance.now() - since);
}

// ---------------------------------------------------------------------------------------------------------
// Outpaint

/**
 * Extends `img` to `canvas` (its size, and where the original's top-left corner lies on it) by inpainting the
 * new border. `feathering` is the contract's percentage as a fraction ("15%" → 0.15, at most 1), with the
 * classical fill's meaning: over that share of each margin's width, next to the seam, the original's mirrored
 * edge fades into what the model paints. The original's pixels are put back exactly; only the border is new.
 * `prompt` describes what to paint; without one the model continues the image unguided.
 */
export async function generativeOutpaint(
  img: RawImage,
  canvas: { width: number; height: number; left: number; top: number },
  feathering: number,
  prompt: string | undefined,
  ctx: ModelContext,
): Promise<{ image: RawImage; method: string }> {
  const started = performance.now();
  const engine = await getEngine({ capability: 'inpaint' });
  const native = nativeSizeOf(engine);
  const work = workingSize(canvas, native * native);
  const sx = work.width / canvas.width;
  const sy = work.height / canvas.height;

  const full = await mirroredCanvas(img, canvas);
  const init = await resizeRaw(full, work);
  const mask = outpaintMask(
    {
      width: work.width,
      height: work.height,
      left: Math.round(canvas.left * sx),
      top: Math.round(canvas.top * sy),
    },
    { width: Math.round(img.width * sx), height: Math.round(img.height * sy) },
    feathering,
  );
  const seed = seedOf('outpaint', img.data, JSON.stringify(canvas), String(feathering), prompt ?? '');
  const steps = defaultSteps('optimal', engine);
  const result = await engine.inpaint(
    {
      prompt: prompt ?? '',
      width: work.width,
      height: work.height,
      steps,
      guidanceScale: guidanceFor(prompt),
      seed,
      numberOfImages: 1,
      init,
      mask,
      strength: 1,
    },
    ctx.signal,
  );
  const generated = result.images[0];
  if (!generated) throw new Error('the engine returned no image');
  const upscaled = await resizeRaw(generated, canvas);
  const image = compositeOriginal(upscaled, img, canvas);
  ctx.profiling.outpaint = {
    method: 'diffusion_inpaint',
    model_set: result.modelSet,
    scheduler: result.scheduler,
    steps: result.steps,
    seed,
    working_size: `${work.width}x${work.height}`,
    feathering: Math.max(0, Math.min(1, feathering)),
    ms: roundedMs(started),
    timings: result.timings,
  };
  return { image, method: 'diffusion_inpaint' };
}

// ---------------------------------------------------------------------------------------------------------
// Style transfer

export const STYLE_DEFAULTS = { depth_strength: 1, denoising_strength: 0.75, style_strength: 0.75 } as const;

/**
 * Restyles `img` after `styleImage`:
 * 1. at the working size, the input takes the reference's colour and tonality (Lab AdaIN) and the energy of
 *    its detail at every scale (texture), mixed by `style_strength`;
 * 2. image-to-image on that restyled input with `denoising_strength` as the strength and `prompt` as the text:
 *    the model repaints colour and texture coherently, more so the higher the strength;
 * 3. `depth_strength` keeps composition and shape: the coarse luminance layout of the restyled input is put
 *    back into the generated one by that amount. No depth model is installed, so shape is preserved through
 *    the image's own coarse shading rather than estimated depth (docs/generative.md);
 * 4. back at the input's size, the input's own fine detail (what the working size could not hold) is added in
 *    by (1 - denoising_strength); an input alpha channel is kept as it was.
 */
export async function styleTransfer(
  img: RawImage,
  opts: StyleTransferOptions,
  styleImage: RawImage,
  ctx: ModelContext,
): Promise<RawImage> {
  const started = performance.now();
  const denoise = opts.denoising_strength ?? STYLE_DEFAULTS.denoising_strength;
  const styleStrength = opts.style_strength ?? STYLE_DEFAULTS.style_strength;
  const depth = opts.depth_strength ?? STYLE_DEFAULTS.depth_strength;
  const engine = await getEngine({ capability: 'img2img' });
  const native = nativeSizeOf(engine);
  const size = { width: img.width, height: img.height };
  const work = workingSize(size, native * native);

  const base = await opaque(img);
  const content = await resizeRaw(base, work);
  const reference = await resizeRaw(await opaque(styleImage), work, 'cover');
  const restyled = transferStyleStatistics(content, reference, styleStrength);
  const seed = seedOf('style_transfer', img.data, styleImage.data, JSON.stringify(opts));
  const result = await engine.img2img(
    {
      prompt: opts.prompt ?? '',
      width: work.width,
      height: work.height,
      steps: defaultSteps('optimal', engine),
      guidanceScale: guidanceFor(opts.prompt),
      seed,
      numberOfImages: 1,
      init: restyled,
      strength: denoise,
    },
    ctx.signal,
  );
  const generated = result.images[0];
  if (!generated) throw new Error('the engine returned no image');
  const structured = reinjectStructure(generated, restyled, depth);
  let out = await resizeRaw(structured, size);
  if (work.width !== size.width || work.height !== size.height) {
    out = await addFineDetail(out, base, work, 1 - denoise);
  }
  ctx.profiling.style_transfer = {
    method: 'statistics_transfer+img2img',
    structure: 'coarse_luminance',
    model_set: result.modelSet,
    scheduler: result.scheduler,
    steps: result.steps,
    seed,
    working_size: `${work.width}x${work.height}`,
    ms: roundedMs(started),
    timings: result.timings,
  };
  return withAlphaOf(out, img);
}

/**
 * Adds `amount` of `source`'s detail finer than `work` resolution (source minus source through the working
 * size) to `out` (same size as source, 3 channels).
 */
async function addFineDetail(out: RawImage, source: RawImage, work: Size, amount: number): Promise<RawImage> {
  if (amount <= 0 || out.channels !== source.channels) return out;
  const low = await resizeRaw(await resizeRaw(source, work), { width: source.width, height: source.height });
  const data = Buffer.alloc(out.data.length);
  for (let i = 0; i < data.length; i++) {
    const detail = (source.data[i] as number) - (low.data[i] as number);
    data[i] = Math.max(0, Math.min(255, Math.round((out.data[i] as number) + amount * detail)));
  }
  return { ...out, data };
}
