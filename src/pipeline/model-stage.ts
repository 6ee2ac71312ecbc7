// The model-based operations, in the contract's order, on full-resolution pixels: restorations (decompress,
// polish), privacy, background removal/blur and style transfer before resizing; then resizing itself when it
// needs a model (upscale, content-aware crop). The runner calls this stage only when one of them is asked for,
// so plain edits keep their single libvips pass.
import sharp from 'sharp';
import type { ImageOperations } from '../contract/types.js';
import { models } from '../models/registry.js';
import { blurBackground, removeBackground } from './background-ai.js';
import { generativeOutpaint, styleTransfer } from './generative.js';
import { outpaint, parseFeathering, parseOutpaintBy, type OutpaintPlan } from './outpaint.js';
import { isAtelierError } from '../errors.js';
import type { ResizePlan } from './geometry.js';
import type { ModelContext } from './model-context.js';
import { blurCarPlates, identityCrop } from './privacy.js';
import { fromRawImage, toRawImage, type RawImage } from './raw-image.js';
import { applyResize } from './resizing.js';
import { decompress, polish, upscaleTo } from './restorations.js';
import { smartCropBox } from './smart-crop.js';
import { TRANSPARENT } from './background.js';

const on = (v: unknown): boolean => v !== undefined && v !== null && v !== false;

/** Whether an edit needs the model stage (and so full-resolution pixels before resizing). */
export function usesModels(ops: ImageOperations): boolean {
  const r = ops.restorations;
  return (
    on(r?.decompress) ||
    on(r?.upscale) ||
    r?.polish === true ||
    ops.privacy?.blur_car_plate === true ||
    ops.privacy?.identity_crop === true ||
    on(ops.background?.remove) ||
    on(ops.background?.blur) ||
    on(ops.generative?.style_transfer) ||
    isSmartCrop(ops) ||
    isOutpaint(ops)
  );
}

export function isOutpaint(ops: ImageOperations): boolean {
  const fit = ops.resizing?.fit;
  return fit === 'outpaint' || (typeof fit === 'object' && fit !== null && fit.type === 'outpaint');
}

/** Refuses malformed outpaint options from the request alone. */
export function checkOutpaintOptions(resizing: ImageOperations['resizing']): void {
  const fit = resizing?.fit;
  if (typeof fit !== 'object' || fit === null || fit.type !== 'outpaint') return;
  parseFeathering(fit.feathering);
  if (fit.outpaint_by !== undefined) parseOutpaintBy(fit.outpaint_by);
}

/**
 * Extends the canvas with generated background: the diffusion engine's inpainting when a model set is
 * installed, else the classical fill (OpenCV Telea inpainting with the mirrored edge). Profiling names the
 * method that ran. Then scales to the planned output size.
 */
export async function outpaintTo(img: RawImage, plan: OutpaintPlan, ctx: ModelContext): Promise<RawImage> {
  let result: { image: RawImage; method: string };
  try {
    result = await generativeOutpaint(img, plan.canvas, plan.feathering, undefined, ctx);
  } catch (err) {
    if (!isAtelierError(err) || err.status !== 503) throw err;
    ctx.profiling.outpaint_generative = `unavailable (${err.code})`;
    result = await outpaint(img, plan.canvas, plan.feathering, ctx);
  }
  ctx.profiling.outpaint_method = result.method;
  const out = result.image;
  if (out.width === plan.output.width && out.height === plan.output.height) return out;
  return toRawImage(
    fromRawImage(out).resize({ width: plan.output.width, height: plan.output.height, fit: 'fill', kernel: sharp.kernel.lanczos3 }),
  );
}

function isSmartCrop(ops: ImageOperations): boolean {
  const fit = ops.resizing?.fit;
  return typeof fit === 'object' && fit !== null && fit.type === 'crop' && fit.crop === 'smart';
}

export function modelContext(profiling: Record<string, unknown>, signal?: AbortSignal): ModelContext {
  return { models, signal, profiling };
}

function timed<T>(profiling: Record<string, unknown>, key: string, fn: () => Promise<T>): Promise<T> {
  const t = performance.now();
  return fn().finally(() => {
    profiling[key] = Math.round(performance.now() - t);
  });
}

export interface ModelInputs {
  /** The input file's JPEG quality from its quantisation tables, for `decompress: auto`. */
  jpegQuality?: number;
  /** The decoded style reference image, when style transfer is asked for. */
  styleReference?: RawImage;
}

/** Everything that runs before resizing, at the input's resolution. May change the size (identity crop, clipping). */
export async function applyPreResizeModels(
  img: RawImage,
  ops: ImageOperations,
  ctx: ModelContext,
  inputs: ModelInputs,
): Promise<RawImage> {
  const p = ctx.profiling;
  const r = ops.restorations;
  if (r?.decompress) {
    const mode = r.decompress;
    img = await timed(p, 'decompress_stage_ms', () => decompress(img, mode, ctx, { jpegQuality: inputs.jpegQuality }));
  }
  if (r?.polish === true) img = await timed(p, 'polish_stage_ms', () => polish(img, ctx));
  ctx.signal?.throwIfAborted();
  if (ops.privacy?.blur_car_plate === true) img = await timed(p, 'blur_car_plate_ms', () => blurCarPlates(img, ctx));
  if (ops.privacy?.identity_crop === true) img = await timed(p, 'identity_crop_ms', () => identityCrop(img, ctx));
  ctx.signal?.throwIfAborted();
  const bg = ops.background;
  if (bg?.remove !== undefined && bg.remove !== false) {
    const opts = bg.remove;
    img = await timed(p, 'background_remove_ms', () => removeBackground(img, opts, ctx));
  }
  if (bg?.blur !== undefined && bg.blur !== false) {
    const opts = bg.blur;
    img = await timed(p, 'background_blur_ms', () => blurBackground(img, opts, ctx));
  }
  ctx.signal?.throwIfAborted();
  const style = ops.generative?.style_transfer;
  if (style && inputs.styleReference) {
    const ref = inputs.styleReference;
    img = await timed(p, 'style_transfer_ms', () => styleTransfer(img, style, ref, ctx));
  }
  return img;
}

/** The size the whole image is scaled to before any crop or canvas placement. */
function scaledSizeOf(plan: ResizePlan): { width: number; height: number } {
  switch (plan.mode) {
    case 'crop':
      return plan.scaled;
    case 'canvas':
      return plan.content;
    default:
      return plan.output;
  }
}

/**
 * Resizes raw pixels per `plan` when resizing needs a model: an upscale network brings the image to the scaled
 * size first (the plan then only crops or places it), and a content-aware crop picks its window with faces and
 * saliency instead of libvips' attention. Margins stay transparent (the background step fills them).
 */
export async function resizeWithModels(
  img: RawImage,
  plan: ResizePlan,
  ops: ImageOperations,
  ctx: ModelContext,
): Promise<RawImage> {
  const upscale = ops.restorations?.upscale;
  const scaled = scaledSizeOf(plan);
  if (upscale && (scaled.width > img.width || scaled.height > img.height)) {
    img = await timed(ctx.profiling, 'upscale_stage_ms', () => upscaleTo(img, scaled, upscale, ctx));
  }
  if (plan.mode === 'crop' && plan.crop === 'smart') {
    const box = await timed(ctx.profiling, 'smart_crop_ms', () => smartCropBox(img, plan.output, ctx));
    ctx.profiling.crop = 'faces+saliency';
    const cropped = fromRawImage(img)
      .extract(box)
      .resize({ width: plan.output.width, height: plan.output.height, fit: 'fill', kernel: sharp.kernel.lanczos3 });
    return toRawImage(cropped);
  }
  return toRawImage(applyResize(fromRawImage(img), plan, TRANSPARENT));
}
