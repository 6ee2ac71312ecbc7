// The `adjustments` operation: hdr, exposure, contrast, saturation and sharpness on 8-bit sRGB pixels.
//
// Order: hdr first (it rebalances lighting, the other controls then act on the balanced image), then the
// per-channel tone table (exposure, then contrast), then saturation, and sharpening last so it is not
// amplified by the tone steps. Point operations run as single O(n) passes over typed arrays (tables for the
// per-channel curves); only sharpening, a convolution, goes through libvips. Alpha is never touched.
//
// Mapping of the contract's values (docs/adjustments-and-output.md explains the choices):
//   exposure  -100..100 → -2..+2 EV, a gain on linear light (×¼ … ×4)
//   contrast  -100..100 → +: logistic S-curve around mid-grey; -: linear compression toward mid-grey
//   saturation -100..100 → chroma ×0 … ×2 around each pixel's luminance (-100 = exact greyscale)
//   sharpness 0..100 → unsharp mask on lightness, radius and amount growing with the value
//   hdr       0..100 → CLAHE on CIE L*, blended with the original by intensity/100
import type { AdjustmentsOptions } from '../contract/types.js';
import { resolveHdr, toneMapHdr } from './hdr.js';
import { fromRawImage, type RawImage } from './raw-image.js';
import { applyLutToColour, buildToneLut, saturationFactor, scaleSaturation } from './tone.js';

/** True when the options ask for any visible change (all-zero or absent options are a no-op). */
export function hasAdjustments(opts: AdjustmentsOptions | undefined): boolean {
  if (!opts) return false;
  return (
    (opts.exposure ?? 0) !== 0 ||
    (opts.contrast ?? 0) !== 0 ||
    (opts.saturation ?? 0) !== 0 ||
    (opts.sharpness ?? 0) > 0 ||
    resolveHdr(opts.hdr) !== null
  );
}

export async function applyAdjustments(img: RawImage, opts: AdjustmentsOptions): Promise<RawImage> {
  let current = img;
  const hdr = resolveHdr(opts.hdr);
  if (hdr) current = toneMapHdr(current, hdr);

  const exposure = opts.exposure ?? 0;
  const contrast = opts.contrast ?? 0;
  if (exposure !== 0 || contrast !== 0) {
    const lut = buildToneLut(exposure, contrast);
    current = withData(current, applyLutToColour(current.data, current.channels, lut, alloc(current)));
  }

  const saturation = opts.saturation ?? 0;
  if (saturation !== 0) {
    const factor = saturationFactor(saturation);
    current = withData(current, scaleSaturation(current.data, current.channels, factor, alloc(current)));
  }

  const sharpness = opts.sharpness ?? 0;
  if (sharpness > 0) current = await sharpen(current, sharpness, hdr?.stitching ?? false);
  return current;
}

export interface SharpenParams {
  sigma: number;
  /** Slope of the mask in flat areas (kept low so noise and JPEG blocks are not amplified). */
  m1: number;
  /** Slope of the mask at edges. */
  m2: number;
}

/** Unsharp-mask parameters for a sharpness value: radius and strength both grow with it. */
export function sharpenParams(sharpness: number): SharpenParams {
  const t = Math.min(Math.max(sharpness, 0), 100) / 100;
  return { sigma: 0.5 + t, m1: 0.5 * t, m2: 4 * t };
}

/**
 * Sharpens with libvips' sharpen (an unsharp mask on L* only, so no colour fringes). For panoramas the image
 * is first wrap-padded so the mask sees across the 360° seam, then cropped back.
 */
async function sharpen(img: RawImage, sharpness: number, wrap: boolean): Promise<RawImage> {
  const params = sharpenParams(sharpness);
  const pad = wrap ? Math.min(img.width, Math.ceil(params.sigma * 3) + 2) : 0;
  const source = pad > 0 ? wrapPadX(img, pad) : img;
  const { data, info } = await fromRawImage(source)
    .sharpen({ sigma: params.sigma, m1: params.m1, m2: params.m2 })
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== img.channels) {
    throw new Error(`sharpen changed the channel count from ${img.channels} to ${info.channels}`);
  }
  const sharpened: RawImage = { data, width: info.width, height: info.height, channels: img.channels };
  // libvips passes alpha through sharpen; restoring it byte for byte keeps the "alpha untouched" promise
  // independent of that detail.
  const result = pad > 0 ? cropX(sharpened, pad, img.width) : sharpened;
  if (img.channels === 4) copyAlpha(img.data, result.data);
  return result;
}

/** Extends each row by `pad` pixels on both sides with the pixels from the opposite edge (360° wrap). */
export function wrapPadX(img: RawImage, pad: number): RawImage {
  const { width, height, channels } = img;
  if (pad > width) throw new RangeError(`wrap padding ${pad} exceeds the image width ${width}`);
  const outWidth = width + 2 * pad;
  const rowIn = width * channels;
  const rowOut = outWidth * channels;
  const padBytes = pad * channels;
  const data = Buffer.allocUnsafe(rowOut * height);
  for (let y = 0; y < height; y++) {
    const src = y * rowIn;
    const dst = y * rowOut;
    img.data.copy(data, dst, src + rowIn - padBytes, src + rowIn);
    img.data.copy(data, dst + padBytes, src, src + rowIn);
    img.data.copy(data, dst + padBytes + rowIn, src, src + padBytes);
  }
  return { data, width: outWidth, height, channels };
}

/** Keeps columns left .. left + width - 1 of every row. */
export function cropX(img: RawImage, left: number, width: number): RawImage {
  const { channels, height } = img;
  const rowIn = img.width * channels;
  const rowOut = width * channels;
  const data = Buffer.allocUnsafe(rowOut * height);
  for (let y = 0; y < height; y++) {
    const src = y * rowIn + left * channels;
    img.data.copy(data, y * rowOut, src, src + rowOut);
  }
  return { data, width, height, channels };
}

function copyAlpha(from: Uint8Array, to: Uint8Array): void {
  for (let i = 3; i < from.length; i += 4) to[i] = from[i] as number;
}

function alloc(img: RawImage): Buffer {
  return Buffer.allocUnsafe(img.data.length);
}

function withData(img: RawImage, data: Uint8Array): RawImage {
  const buffer = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return { data: buffer, width: img.width, height: img.height, channels: img.channels };
}
