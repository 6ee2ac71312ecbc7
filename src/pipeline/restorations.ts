// The `restorations` operations: upscale (super-resolution to an exact size), decompress (JPEG-artifact
// removal) and polish (detail-preserving clean-up). Model choices per upscale type and the classical methods
// are documented in docs/models.md and docs/decisions.md ("Upscaling").
import sharp, { type Sharp } from 'sharp';
import type { UpscaleType } from '../contract/types.js';
import { ValidationError } from '../errors.js';
import {
  ensureEsrganRegistered,
  esrganModelId,
  esrganUpscale,
  type EsrganNet,
  type EsrganScale,
  type EsrganSize,
} from '../models/esrgan.js';
import type { ModelContext } from './model-context.js';
import type { RawImage } from './raw-image.js';
import { removeJpegArtifacts, estimateQualityFromPixels, type ArtifactStrength } from './jpeg-artifacts.js';
import { guidedFilter, estimateNoiseSigma, polishImage } from './polish.js';
import { fromYCbCr, lumaOf, toYCbCr } from './ycbcr.js';
import { processInStrips, rowsForBudget } from './strips.js';

export { estimateJpegQuality } from './jpeg-quality.js';

export type UpscaleRequest = UpscaleType | { type: 'photo'; version: '1' | '2' | '3' };

// ---------------------------------------------------------------------------------------------------------
// Upscale

/** What one upscale type runs: the network size, and the classical steps around it. */
export interface UpscaleRecipe {
  /** Name used in profiling, e.g. `photo_v2`. */
  name: string;
  model: EsrganSize;
  /**
   * Before the network: remove JPEG blocking if the pixels show it, and noise if there is some (super-resolution
   * sharpens artefacts along with detail).
   */
  cleanInput: boolean;
  /** After the network: gain of the detail layer above a guided-filter base (0 = none). */
  detailGain: number;
}

/**
 * The table behind `restorations.upscale` (docs/models.md explains the choices). Every type uses the RDN weights
 * shipped by UpscalerJS; medium is the stronger network (best PSNR/SSIM on every test photo), slim the small one.
 */
export const UPSCALE_RECIPES = {
  smart_enhance: { name: 'smart_enhance', model: 'medium', cleanInput: true, detailGain: 0.25 },
  smart_resize: { name: 'smart_resize', model: 'medium', cleanInput: false, detailGain: 0 },
  faces: { name: 'faces', model: 'medium', cleanInput: false, detailGain: 0 },
  digital_art: { name: 'digital_art', model: 'medium', cleanInput: true, detailGain: 0 },
  photo_v1: { name: 'photo_v1', model: 'slim', cleanInput: false, detailGain: 0 },
  photo_v2: { name: 'photo_v2', model: 'medium', cleanInput: false, detailGain: 0.15 },
  photo_v3: { name: 'photo_v3', model: 'medium', cleanInput: true, detailGain: 0.4 },
} as const satisfies Record<string, UpscaleRecipe>;

export function upscaleRecipe(type: UpscaleRequest): UpscaleRecipe {
  if (typeof type === 'string') {
    // Plain `photo` is the current photo network, version 2.
    if (type === 'photo') return UPSCALE_RECIPES.photo_v2;
    if (type === 'smart_enhance' || type === 'smart_resize' || type === 'faces' || type === 'digital_art') return UPSCALE_RECIPES[type];
  } else if (type && type.type === 'photo') {
    const recipe = (UPSCALE_RECIPES as Record<string, UpscaleRecipe>)[`photo_v${type.version}`];
    if (recipe) return recipe;
  }
  throw new ValidationError(
    `operations.restorations.upscale: unknown upscale type ${JSON.stringify(type)}; expected one of smart_enhance, smart_resize, faces, digital_art, photo or {"type": "photo", "version": "1"|"2"|"3"}`,
    { field: 'operations.restorations.upscale' },
  );
}

/** The largest factor one network pass makes; beyond it the output is finished with Lanczos (see modelScale). */
export const MAX_MODEL_SCALE: EsrganScale = 4;

/**
 * The network scale for going from `from` to `to`: none when the target is not larger than the input on either
 * axis (plain Lanczos then), otherwise the smallest shipped scale (2, 3, 4) that reaches the larger of the two
 * axis factors; the output is then resized to the exact size with Lanczos-3. Factors above 4 run the x4 network
 * and Lanczos for the rest: measured at 8× on three photos, x4 + Lanczos matched a chained x4 → x2 pass within
 * 0.06 dB at 1/17 of its cost and beat the shipped x8 networks (docs/models.md).
 */
export function modelScale(from: { width: number; height: number }, to: { width: number; height: number }): EsrganScale | undefined {
  const factor = Math.max(to.width / from.width, to.height / from.height);
  if (factor <= 1) return undefined;
  for (const s of [2, 3, 4] as const) if (s >= factor) return s;
  return MAX_MODEL_SCALE;
}

function checkSize(size: { width: number; height: number }): void {
  for (const side of ['width', 'height'] as const) {
    const v = size[side];
    if (!Number.isInteger(v) || v < 1) {
      throw new ValidationError(`operations.resizing.${side}: the upscale target must be a positive whole number of pixels, got ${String(v)}`, {
        field: `operations.resizing.${side}`,
      });
    }
  }
}

function raw(img: RawImage): Sharp {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels }, limitInputPixels: false });
}

async function toRaw(s: Sharp, channels: 1 | 3 | 4): Promise<Buffer> {
  const { data, info } = await s.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== channels) throw new Error(`expected ${channels} channels, got ${info.channels}`);
  return data;
}

/** Lanczos-3 resize to exactly `size`, all channels (the no-model path, and the last step after the network). */
export async function lanczosTo(img: RawImage, size: { width: number; height: number }): Promise<RawImage> {
  if (img.width === size.width && img.height === size.height) return img;
  const data = await toRaw(raw(img).resize(size.width, size.height, { fit: 'fill', kernel: 'lanczos3' }), img.channels);
  return { data, width: size.width, height: size.height, channels: img.channels };
}

/** Self-guided filtering of the luminance with radius `r` and `eps`, in strips (halo: the filter reads 2r rows). */
function filterLuma(img: RawImage, r: number, eps: number, detailGain?: number): RawImage {
  return processInStrips(img, { rows: rowsForBudget(img.width), halo: 2 * r + 2 }, (view) => {
    const planes = toYCbCr(view);
    const filtered = guidedFilter(planes.y, planes.y, view.width, view.height, r, eps);
    if (detailGain === undefined) {
      planes.y = filtered;
    } else {
      // Detail enhancement: the original plus `detailGain` times what the edge-preserving base left out.
      const y = planes.y;
      for (let i = 0; i < y.length; i++) y[i] = (y[i] as number) + detailGain * ((y[i] as number) - (filtered[i] as number));
    }
    return fromYCbCr(planes, view);
  });
}

/** Removes visible JPEG blocking (detected from the pixels) and sensor/compression noise before super-resolution. */
function cleanForUpscale(img: RawImage): { image: RawImage; steps: string[] } {
  const steps: string[] = [];
  let out = img;
  const jpeg = estimateQualityFromPixels(out);
  if (jpeg && jpeg.quality < 90) {
    out = removeJpegArtifacts(out, 'moderate', jpeg.quality, 'pixels').image;
    steps.push(`deblock(q${jpeg.quality})`);
  }
  const sigma = estimateNoiseSigma(lumaOf(out), out.width, out.height);
  // Below ~1.5 grey levels there is nothing worth removing; above, a self-guided filter at 1.5σ takes it off
  // flat areas only.
  if (sigma > 1.5) {
    out = filterLuma(out, 1, (1.5 * sigma) ** 2);
    steps.push(`denoise(sigma ${sigma.toFixed(1)})`);
  }
  return { image: out, steps };
}

/** Boosts the luminance detail above a coarse guided-filter base by `gain` (crisper without halos). */
function enhanceDetail(img: RawImage, gain: number): RawImage {
  return filterLuma(img, 4, (0.05 * 255) ** 2, gain);
}

function rgbOf(img: RawImage): RawImage {
  if (img.channels === 3) return img;
  const n = img.width * img.height;
  const data = Buffer.allocUnsafe(n * 3);
  for (let i = 0; i < n; i++) {
    data[i * 3] = img.data[i * 4] as number;
    data[i * 3 + 1] = img.data[i * 4 + 1] as number;
    data[i * 3 + 2] = img.data[i * 4 + 2] as number;
  }
  return { data, width: img.width, height: img.height, channels: 3 };
}

/** The alpha channel of `img` resized with Lanczos-3 to `size` and joined to `rgb` (already at `size`). */
async function withScaledAlpha(rgb: RawImage, img: RawImage, size: { width: number; height: number }): Promise<RawImage> {
  const alpha = await toRaw(raw(img).extractChannel(3).resize(size.width, size.height, { fit: 'fill', kernel: 'lanczos3' }), 1);
  const n = size.width * size.height;
  const data = Buffer.allocUnsafe(n * 4);
  for (let i = 0; i < n; i++) {
    data[i * 4] = rgb.data[i * 3] as number;
    data[i * 4 + 1] = rgb.data[i * 3 + 1] as number;
    data[i * 4 + 2] = rgb.data[i * 3 + 2] as number;
    data[i * 4 + 3] = alpha[i] as number;
  }
  return { data, width: size.width, height: size.height, channels: 4 };
}

/**
 * Upscales `img` to exactly `size` with the network the upscale type maps to (see UPSCALE_RECIPES and
 * modelScale). A target that is not larger than the input is plain Lanczos-3 interpolation, no model. Alpha is
 * scaled separately with Lanczos-3 (the networks see colour only).
 */
export async function upscaleTo(
  img: RawImage,
  size: { width: number; height: number },
  type: UpscaleRequest,
  ctx: ModelContext,
): Promise<RawImage> {
  checkSize(size);
  const recipe = upscaleRecipe(type);
  const t0 = performance.now();
  const scale = modelScale(img, size);
  ctx.profiling.upscale_type = recipe.name;
  if (scale === undefined) {
    ctx.profiling.upscale_model = 'none';
    ctx.profiling.upscale_method = 'lanczos3 interpolation: the requested size is not larger than the input';
    const out = await lanczosTo(img, size);
    ctx.profiling.upscale_ms = Math.round(performance.now() - t0);
    return out;
  }
  ensureEsrganRegistered(ctx.models);
  ctx.signal?.throwIfAborted();

  let rgb = rgbOf(img);
  const steps: string[] = [];
  if (recipe.cleanInput) {
    const cleaned = cleanForUpscale(rgb);
    rgb = cleaned.image;
    steps.push(...cleaned.steps);
  }
  const id = esrganModelId(recipe.model, scale);
  const input = rgb;
  const tm = performance.now();
  rgb = await ctx.models.use<EsrganNet, RawImage>(id, (net) => esrganUpscale(net, input, ctx.signal ? { signal: ctx.signal } : {}));
  const modelMs = performance.now() - tm;
  steps.push(id);
  if (recipe.detailGain > 0) {
    rgb = enhanceDetail(rgb, recipe.detailGain);
    steps.push(`detail(+${recipe.detailGain})`);
  }
  if (rgb.width !== size.width || rgb.height !== size.height) {
    rgb = await lanczosTo(rgb, size);
    steps.push(`lanczos3 to ${size.width}x${size.height}`);
  }
  const out = img.channels === 4 ? await withScaledAlpha(rgb, img, size) : rgb;
  ctx.profiling.upscale_model = id;
  ctx.profiling.upscale_method = steps.join(' → ');
  ctx.profiling.upscale_model_ms = Math.round(modelMs);
  ctx.profiling.upscale_ms = Math.round(performance.now() - t0);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Decompress

/** At or above this quality a JPEG's artefacts are invisible: `auto` leaves such images untouched. */
export const AUTO_CLEAN_QUALITY = 90;
/** Below this quality `auto` uses the strong filter. */
export const AUTO_STRONG_QUALITY = 35;

/** What `auto` does for an image of this JPEG quality (undefined: not a JPEG / no sign of one). */
export function autoStrength(quality: number | undefined): ArtifactStrength | undefined {
  if (quality === undefined || quality >= AUTO_CLEAN_QUALITY) return undefined;
  return quality < AUTO_STRONG_QUALITY ? 'strong' : 'moderate';
}

/**
 * JPEG-artifact removal. `moderate`/`strong` always filter, with thresholds from the JPEG quality (the file's,
 * else estimated from the pixels, else assumed). `auto` uses the file's quality (`source.jpegQuality`, from
 * `estimateJpegQuality`), falling back to the pixels' evidence, and returns the input unchanged when the image is
 * clean (quality ≥ 90) or shows no JPEG quantisation at all.
 */
export async function decompress(
  img: RawImage,
  mode: 'moderate' | 'strong' | 'auto',
  ctx: ModelContext,
  source?: { jpegQuality?: number },
): Promise<RawImage> {
  const t0 = performance.now();
  ctx.signal?.throwIfAborted();
  let strength: ArtifactStrength | undefined;
  let quality = source?.jpegQuality;
  let knownFrom: 'file' | 'pixels' = 'file';
  if (mode === 'auto') {
    if (quality === undefined) {
      quality = estimateQualityFromPixels(img)?.quality;
      knownFrom = 'pixels';
    }
    strength = autoStrength(quality);
    if (!strength) {
      ctx.profiling.decompress = quality === undefined ? 'skipped: no JPEG compression found' : `skipped: JPEG quality ${quality} is clean`;
      ctx.profiling.decompress_ms = Math.round(performance.now() - t0);
      return img;
    }
  } else if (mode === 'moderate' || mode === 'strong') {
    strength = mode;
  } else {
    throw new ValidationError(`operations.restorations.decompress: unknown mode ${JSON.stringify(mode)}; expected moderate, strong or auto`, {
      field: 'operations.restorations.decompress',
    });
  }
  const { image, report } = removeJpegArtifacts(img, strength, quality, knownFrom);
  ctx.profiling.decompress = `${strength}: H.264-style deblocking + bilateral deringing${report.projected ? ' + POCS quantisation constraint' : ''}`;
  ctx.profiling.decompress_quality = report.quality;
  ctx.profiling.decompress_quality_source = report.qualitySource;
  ctx.profiling.decompress_ms = Math.round(performance.now() - t0);
  return image;
}

// ---------------------------------------------------------------------------------------------------------
// Polish

/** Guided-filter denoise (noise-adaptive) and mild local contrast on luminance; see polish.ts. */
export async function polish(img: RawImage, ctx: ModelContext): Promise<RawImage> {
  const t0 = performance.now();
  ctx.signal?.throwIfAborted();
  const { image, report } = polishImage(img);
  ctx.profiling.polish = 'guided-filter denoise + detail enhancement';
  ctx.profiling.polish_noise_sigma = Math.round(report.noiseSigma * 100) / 100;
  ctx.profiling.polish_ms = Math.round(performance.now() - t0);
  return image;
}
