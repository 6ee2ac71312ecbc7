// `resizing.fit: outpaint`: the image is placed on a larger canvas and the new area is filled with a
// background that continues it. No generative model ships with Atelier, so the fill is classical:
//  1. OpenCV's inpainting (Telea's fast-marching method, cv.inpaint INPAINT_TELEA) fills the new area on a
//     copy of the canvas scaled to at most WORK_SIDE pixels on its long side: it propagates the colours at the
//     image's edges outwards, which is what a plain background needs, and is fast at that size;
//  2. the fill is scaled up to the canvas (it is smooth, so nothing is lost by computing it small);
//  3. next to the image, the fill is blended with the image's edge mirrored outwards, fading from the mirror
//     at the seam to the fill over `feathering` of each margin's width, so texture continues across the seam
//     instead of stopping at a hard line. The original pixels are copied unchanged into their place.
// `method` names what ran, for `profiling`.
import sharp from 'sharp';
import type { ResizingOptions } from '../contract/types.js';
import { ValidationError } from '../errors.js';
import { checkOutputSize, parseResizing, type OutputLimits, type Size } from './geometry.js';
import type { RawImage } from './raw-image.js';
import type { ModelContext } from './model-context.js';
import { opencv, type CvMat, type OpenCv } from '../models/opencv.js';

/** Long side of the canvas the inpainting runs on. */
export const WORK_SIDE = 512;
/** Telea's neighbourhood radius at the working scale. */
const INPAINT_RADIUS = 5;
export const DEFAULT_FEATHERING = 0.15;

export interface OutpaintCanvas {
  /** Canvas size in the input image's pixels (the input keeps its scale on it). */
  width: number;
  height: number;
  /** Where the input's top-left corner sits on the canvas. */
  left: number;
  top: number;
}

// ---------------------------------------------------------------------------------------------------------
// Option parsing and geometry (pure)

const FEATHER_RE = /^(\d+)%$/;

/**
 * `feathering` ("15%" by default) as a fraction of each margin's width over which the image's mirrored edge
 * fades into the fill. Values above 100% mean the whole margin (the fade cannot be wider than the margin).
 */
export function parseFeathering(value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_FEATHERING;
  const m = typeof value === 'string' ? FEATHER_RE.exec(value.trim()) : null;
  if (!m) {
    throw new ValidationError(`operations.resizing.fit.feathering must be a percentage string such as "15%"; got ${JSON.stringify(value)}.`, {
      field: 'operations.resizing.fit.feathering',
      value,
    });
  }
  return Math.min(1, Number(m[1]) / 100);
}

export type OutpaintAmount = { unit: 'px'; value: number } | { unit: 'percent'; value: number };

const AMOUNT_RE = /^(\d+(?:\.\d+)?)(px|%)$/;

/**
 * `outpaint_by`: one value for both axes or two (width first, then height), each in pixels ("100px") or a
 * percentage of the input's side ("20%"). The amount is the total added along that axis, split evenly
 * between the two sides.
 */
export function parseOutpaintBy(value: unknown): { x: OutpaintAmount; y: OutpaintAmount } {
  const field = 'operations.resizing.fit.outpaint_by';
  const bad = () =>
    new ValidationError(
      `${field} must be one or two amounts separated by a space, each in pixels ("100px") or a percentage ("20%"); got ${JSON.stringify(value)}.`,
      { field, value },
    );
  if (typeof value !== 'string') throw bad();
  const parts = value.trim().split(/\s+/);
  if (parts.length < 1 || parts.length > 2 || parts[0] === '') throw bad();
  const amounts = parts.map((p) => {
    const m = AMOUNT_RE.exec(p);
    if (!m) throw bad();
    const n = Number(m[1]);
    if (m[2] === 'px') {
      if (!Number.isInteger(n)) throw bad();
      return { unit: 'px', value: n } as const;
    }
    return { unit: 'percent', value: n } as const;
  });
  const x = amounts[0] as OutpaintAmount;
  return { x, y: amounts[1] ?? x };
}

function amountPixels(a: OutpaintAmount, side: number): number {
  return a.unit === 'px' ? a.value : Math.round((side * a.value) / 100);
}

export interface OutpaintPlan {
  /** The canvas in input pixels; pass it to `outpaint`. */
  canvas: OutpaintCanvas;
  /** The final size: the outpainted canvas is resized to this (equal to the canvas size when no size is asked). */
  output: Size;
  /** `feathering` as a fraction (0..1). */
  feathering: number;
}

/** Grows `canvas` along one axis (evenly on both sides) until its aspect ratio is `target`'s. */
function extendToAspect(canvas: OutpaintCanvas, target: Size): OutpaintCanvas {
  // Cross-multiplied comparison: exact for integer sizes.
  if (canvas.width * target.height < canvas.height * target.width) {
    const width = Math.round((canvas.height * target.width) / target.height);
    const extra = width - canvas.width;
    return { width, height: canvas.height, left: canvas.left + Math.floor(extra / 2), top: canvas.top };
  }
  if (canvas.width * target.height > canvas.height * target.width) {
    const height = Math.round((canvas.width * target.height) / target.width);
    const extra = height - canvas.height;
    return { width: canvas.width, height, left: canvas.left, top: canvas.top + Math.floor(extra / 2) };
  }
  return canvas;
}

/**
 * Where the input goes on the outpainting canvas, and the final size.
 * - `outpaint_by` adds its amounts around the input (half on each side).
 * - Width and height both in pixels: the canvas is then widened or heightened — in one direction only — to the
 *   target's aspect ratio, and the result is scaled to exactly that size. Without `outpaint_by` this is the
 *   whole outpainting, as the contract describes.
 * - One side in pixels, or a percentage: the canvas is scaled to it keeping its aspect ratio.
 * - No `outpaint_by` and no two pixel sides: nothing is added (the canvas is the input).
 */
export function planOutpaint(src: Size, resizing: ResizingOptions | undefined, limits?: OutputLimits): OutpaintPlan {
  const { width: w, height: h } = parseResizing(resizing);
  const fit = resizing?.fit;
  const opts = typeof fit === 'object' && fit !== null && fit.type === 'outpaint' ? fit : undefined;
  const feathering = parseFeathering(opts?.feathering);

  let canvas: OutpaintCanvas = { width: src.width, height: src.height, left: 0, top: 0 };
  if (opts?.outpaint_by !== undefined) {
    const by = parseOutpaintBy(opts.outpaint_by);
    const addX = amountPixels(by.x, src.width);
    const addY = amountPixels(by.y, src.height);
    canvas = { width: src.width + addX, height: src.height + addY, left: Math.floor(addX / 2), top: Math.floor(addY / 2) };
  }

  let output: Size;
  if (w.kind === 'px' && h.kind === 'px') {
    canvas = extendToAspect(canvas, { width: w.value, height: h.value });
    output = { width: w.value, height: h.value };
  } else if (w.kind === 'px') {
    output = { width: w.value, height: Math.max(1, Math.round((canvas.height * w.value) / canvas.width)) };
  } else if (h.kind === 'px') {
    output = { width: Math.max(1, Math.round((canvas.width * h.value) / canvas.height)), height: h.value };
  } else if (w.kind === 'percent' || h.kind === 'percent') {
    const pct = w.kind === 'percent' ? w.value : h.kind === 'percent' ? h.value : 100;
    output = { width: Math.max(1, Math.round((canvas.width * pct) / 100)), height: Math.max(1, Math.round((canvas.height * pct) / 100)) };
  } else {
    output = { width: canvas.width, height: canvas.height };
  }
  if (limits) {
    checkOutputSize(canvas, limits, 'operations.resizing.fit.outpaint_by');
    checkOutputSize(output, limits, 'operations.resizing');
  }
  return { canvas, output, feathering };
}

// ---------------------------------------------------------------------------------------------------------
// Pixels

/** Mirrors a coordinate outside [lo, hi] back inside (edge pixel not repeated), clamped for wide margins. */
export function reflect(v: number, lo: number, hi: number): number {
  if (v < lo) return Math.min(hi, lo + (lo - v - 1));
  if (v > hi) return Math.max(lo, hi - (v - hi - 1));
  return v;
}

/**
 * Weight of the mirrored image at distance (dx, dy) outside the image, with fade lengths (fx, fy): 1 at the
 * seam, 0 from the fade length on; in the corners both fades multiply.
 */
export function mirrorWeight(dx: number, dy: number, fx: number, fy: number): number {
  const wx = dx <= 0 ? 1 : fx > 0 ? Math.max(0, 1 - dx / fx) : 0;
  const wy = dy <= 0 ? 1 : fy > 0 ? Math.max(0, 1 - dy / fy) : 0;
  return wx * wy;
}

function planes(img: RawImage): { colour: Buffer; alpha: Buffer | undefined } {
  if (img.channels === 3) return { colour: img.data, alpha: undefined };
  const n = img.width * img.height;
  const colour = Buffer.allocUnsafe(n * 3);
  const alpha = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) {
    colour[i * 3] = img.data[i * 4] as number;
    colour[i * 3 + 1] = img.data[i * 4 + 1] as number;
    colour[i * 3 + 2] = img.data[i * 4 + 2] as number;
    alpha[i] = img.data[i * 4 + 3] as number;
  }
  return { colour, alpha };
}

/** Runs Telea inpainting on one plane set (1 or 3 channels) where `mask` is 255. */
function inpaintPlane(cv: OpenCv, pixels: Buffer, mask: Buffer, width: number, height: number, channels: 1 | 3): Buffer {
  let src: CvMat | undefined, msk: CvMat | undefined, dst: CvMat | undefined;
  try {
    src = new cv.Mat(height, width, channels === 3 ? cv.CV_8UC3 : cv.CV_8UC1);
    msk = new cv.Mat(height, width, cv.CV_8UC1);
    dst = new cv.Mat(height, width, channels === 3 ? cv.CV_8UC3 : cv.CV_8UC1);
    src.data.set(pixels);
    msk.data.set(mask);
    cv.inpaint(src, msk, dst, INPAINT_RADIUS, cv.INPAINT_TELEA);
    return Buffer.from(dst.data);
  } finally {
    src?.delete();
    msk?.delete();
    dst?.delete();
  }
}

/** Sigma (working pixels) of the blur that turns Telea's radial streaks into smooth gradients. */
const FILL_SMOOTHING = 2.5;

/** The inpainted canvas and a blurred copy of it. */
async function softened(filled: Buffer, width: number, height: number, channels: 1 | 3): Promise<{ sharp: Buffer; soft: Buffer }> {
  let s = sharp(filled, { raw: { width, height, channels } }).blur(FILL_SMOOTHING);
  if (channels === 1) s = s.extractChannel(0);
  return { sharp: filled, soft: await s.raw().toBuffer() };
}

/** Known pixels stay as inpainted (the scaled image); unknown ones take the blurred fill. */
function smoothFill(f: { sharp: Buffer; soft: Buffer }, work: { mask: Buffer }, channels: number): Buffer {
  const out = Buffer.from(f.sharp);
  for (let i = 0; i < work.mask.length; i++) {
    if (work.mask[i] === 0) continue;
    for (let c = 0; c < channels; c++) out[i * channels + c] = f.soft[i * channels + c] as number;
  }
  return out;
}

/** Places the image (already scaled) on a black canvas; returns the canvas and the mask of unknown pixels. */
function workCanvas(
  scaled: Buffer,
  sw: number,
  sh: number,
  channels: number,
  cw: number,
  ch: number,
  left: number,
  top: number,
): { pixels: Buffer; mask: Buffer } {
  const pixels = Buffer.alloc(cw * ch * channels);
  const mask = Buffer.alloc(cw * ch, 255);
  for (let y = 0; y < sh; y++) {
    scaled.copy(pixels, ((top + y) * cw + left) * channels, y * sw * channels, (y + 1) * sw * channels);
  }
  // The outermost row/column of the scaled image is a blend with the resampler's edge handling: let the
  // inpainting redo it from the pixels one step inside.
  for (let y = top + 1; y < top + sh - 1; y++) mask.fill(0, y * cw + left + 1, y * cw + left + sw - 1);
  return { pixels, mask };
}

export async function outpaint(
  img: RawImage,
  canvas: OutpaintCanvas,
  feathering: number,
  ctx: ModelContext,
): Promise<{ image: RawImage; method: string }> {
  const started = performance.now();
  if (canvas.left < 0 || canvas.top < 0 || canvas.left + img.width > canvas.width || canvas.top + img.height > canvas.height) {
    throw new Error('outpaint canvas must contain the image');
  }
  if (canvas.width === img.width && canvas.height === img.height) {
    return { image: img, method: 'none' };
  }
  const cv = await opencv();
  ctx.signal?.throwIfAborted();

  // 1. Inpaint a small copy of the canvas.
  const scale = Math.min(1, WORK_SIDE / Math.max(canvas.width, canvas.height));
  const cw = Math.max(1, Math.round(canvas.width * scale));
  const chh = Math.max(1, Math.round(canvas.height * scale));
  const wl = Math.min(cw - 1, Math.round(canvas.left * scale));
  const wt = Math.min(chh - 1, Math.round(canvas.top * scale));
  const sw = Math.max(1, Math.min(cw - wl, Math.round(img.width * scale)));
  const sh = Math.max(1, Math.min(chh - wt, Math.round(img.height * scale)));
  const { colour, alpha } = planes(img);
  const small = await sharp(colour, { raw: { width: img.width, height: img.height, channels: 3 }, limitInputPixels: false })
    .resize(sw, sh, { fit: 'fill' })
    .raw()
    .toBuffer();
  const work = workCanvas(small, sw, sh, 3, cw, chh, wl, wt);
  const filledSmall = smoothFill(await softened(inpaintPlane(cv, work.pixels, work.mask, cw, chh, 3), cw, chh, 3), work, 3);
  let alphaSmall: Buffer | undefined;
  if (alpha) {
    const a = await sharp(alpha, { raw: { width: img.width, height: img.height, channels: 1 }, limitInputPixels: false })
      .resize(sw, sh, { fit: 'fill' })
      .raw()
      .toBuffer();
    const wa = workCanvas(a, sw, sh, 1, cw, chh, wl, wt);
    alphaSmall = smoothFill(await softened(inpaintPlane(cv, wa.pixels, wa.mask, cw, chh, 1), cw, chh, 1), wa, 1);
  }
  ctx.signal?.throwIfAborted();

  // 2. Scale the fill up to the canvas.
  const fill = await sharp(filledSmall, { raw: { width: cw, height: chh, channels: 3 } })
    .resize(canvas.width, canvas.height, { fit: 'fill', kernel: 'cubic' })
    .raw()
    .toBuffer();
  const fillAlpha = alphaSmall
    ? await sharp(alphaSmall, { raw: { width: cw, height: chh, channels: 1 } })
        .resize(canvas.width, canvas.height, { fit: 'fill', kernel: 'cubic' })
        .extractChannel(0)
        .raw()
        .toBuffer()
    : undefined;

  // 3. Compose: original in place, mirrored edge fading into the fill around it.
  const ch = img.channels;
  const out = Buffer.allocUnsafe(canvas.width * canvas.height * ch);
  const x0 = canvas.left;
  const y0 = canvas.top;
  const x1 = canvas.left + img.width - 1;
  const y1 = canvas.top + img.height - 1;
  const f = Math.max(0, Math.min(1, feathering));
  const fadeLeft = f * canvas.left;
  const fadeRight = f * (canvas.width - 1 - x1);
  const fadeTop = f * canvas.top;
  const fadeBottom = f * (canvas.height - 1 - y1);
  const blendPixel = (x: number, y: number, dy: number, fy: number, my: number) => {
    const dx = x < x0 ? x0 - x : x > x1 ? x - x1 : 0;
    const w = mirrorWeight(dx, dy, x < x0 ? fadeLeft : fadeRight, fy);
    const o = (y * canvas.width + x) * ch;
    const fo = (y * canvas.width + x) * 3;
    const mo = (my * img.width + (reflect(x, x0, x1) - x0)) * ch;
    for (let c = 0; c < 3; c++) {
      out[o + c] = Math.round((fill[fo + c] as number) * (1 - w) + (img.data[mo + c] as number) * w);
    }
    if (ch === 4) out[o + 3] = Math.round((fillAlpha?.[y * canvas.width + x] ?? 255) * (1 - w) + (img.data[mo + 3] as number) * w);
  };
  for (let y = 0; y < canvas.height; y++) {
    const dy = y < y0 ? y0 - y : y > y1 ? y - y1 : 0;
    const fy = y < y0 ? fadeTop : fadeBottom;
    const my = reflect(y, y0, y1) - y0;
    if (dy === 0) {
      // Inside the image's rows: the image's row verbatim, margins beside it.
      const row = (y - y0) * img.width * ch;
      img.data.copy(out, (y * canvas.width + x0) * ch, row, row + img.width * ch);
      for (let x = 0; x < x0; x++) blendPixel(x, y, 0, fy, my);
      for (let x = x1 + 1; x < canvas.width; x++) blendPixel(x, y, 0, fy, my);
    } else {
      for (let x = 0; x < canvas.width; x++) blendPixel(x, y, dy, fy, my);
    }
  }
  const method = 'opencv-telea';
  ctx.profiling.outpaint = { ms: Math.round(performance.now() - started), method, work_size: `${cw}x${chh}`, feathering: f };
  return { image: { data: out, width: canvas.width, height: canvas.height, channels: ch }, method };
}
