// Fitting a cut-out object into a template photograph without a model (`template_mode: "lock"`):
// - colour: a partial Reinhard transfer (Reinhard et al. 2001, "Color Transfer between Images") in CIE Lab:
//   the object's Lab mean and spread are moved a fraction of the way towards those of the template around
//   where it is placed, so a cool-lit scene cools the object a little and a dark one dims it, without
//   repainting it;
// - light wrap: near its edges the object takes on some of the blurred background colour, as light from a
//   real background spills over an object's rim; it hides the hard cut-out edge.
import type { Size } from '../geometry.js';
import { DECODE_LUT, encode8 } from '../tone.js';
import { alphaPlane, blurPlane, blurRgb, type Layer, type ObjectLayer } from './layers.js';
import type { Box } from './placement.js';

// ---------------------------------------------------------------------------------------------------------
// CIE Lab (D65), from and to 8-bit sRGB

const XN = 0.95047;
const YN = 1;
const ZN = 1.08883;
const EPS = 216 / 24389;
const KAPPA = 24389 / 27;

function f(t: number): number {
  return t > EPS ? Math.cbrt(t) : (KAPPA * t + 16) / 116;
}

function fInv(v: number): number {
  const v3 = v * v * v;
  return v3 > EPS ? v3 : (116 * v - 16) / KAPPA;
}

export type Lab = [number, number, number];

export function srgbToLab(r8: number, g8: number, b8: number): Lab {
  const r = DECODE_LUT[r8] as number;
  const g = DECODE_LUT[g8] as number;
  const b = DECODE_LUT[b8] as number;
  const x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / XN;
  const y = (0.2126729 * r + 0.7151522 * g + 0.072175 * b) / YN;
  const z = (0.0193339 * r + 0.119192 * g + 0.9503041 * b) / ZN;
  const fx = f(x);
  const fy = f(y);
  const fz = f(z);
  return [116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)];
}

export function labToSrgb(l: number, a: number, bb: number): [number, number, number] {
  const fy = (l + 16) / 116;
  const x = fInv(fy + a / 500) * XN;
  const y = (l > KAPPA * EPS ? fy * fy * fy : l / KAPPA) * YN;
  const z = fInv(fy - bb / 200) * ZN;
  const r = 3.2404542 * x - 1.5371385 * y - 0.4985314 * z;
  const g = -0.969266 * x + 1.8760108 * y + 0.041556 * z;
  const b = 0.0556434 * x - 0.2040259 * y + 1.0572252 * z;
  return [encode8(r), encode8(g), encode8(b)];
}

// ---------------------------------------------------------------------------------------------------------
// Statistics and transfer

export interface LabStats {
  mean: Lab;
  std: Lab;
}

/** Weighted Lab mean and standard deviation of the pixels in `box` (weight = alpha / 255 × `weight`). */
export function labStats(layer: Layer, box: Box, weight: (i: number) => number = () => 1): LabStats | null {
  const sum = [0, 0, 0];
  const sq = [0, 0, 0];
  let total = 0;
  for (let y = box.top; y < box.top + box.height; y++) {
    for (let x = box.left; x < box.left + box.width; x++) {
      const p = y * layer.width + x;
      const i = p * 4;
      const w = ((layer.data[i + 3] as number) / 255) * weight(p);
      if (w <= 0) continue;
      const lab = srgbToLab(layer.data[i] as number, layer.data[i + 1] as number, layer.data[i + 2] as number);
      for (let c = 0; c < 3; c++) {
        const v = lab[c] as number;
        sum[c] = (sum[c] as number) + v * w;
        sq[c] = (sq[c] as number) + v * v * w;
      }
      total += w;
    }
  }
  if (total === 0) return null;
  const mean = sum.map((s) => s / total) as Lab;
  const std = sq.map((s, c) => Math.sqrt(Math.max(0, s / total - (mean[c] as number) ** 2))) as Lab;
  return { mean, std };
}

export interface TransferStrength {
  /** Fraction of the way towards the template for lightness. */
  lightness: number;
  /** Fraction of the way for the a* and b* channels. */
  chroma: number;
}

/**
 * Low on purpose: a product's own colour is what is being sold, so the scene only nudges it (a saturated
 * blue bottle in a warm room shifts by a few ΔE, it does not turn grey-blue).
 */
export const LOCK_TRANSFER: TransferStrength = { lightness: 0.15, chroma: 0.12 };
/** Spread ratios are clamped so that a flat object or a flat template cannot blow the contrast up or away. */
const MIN_SPREAD_RATIO = 0.6;
const MAX_SPREAD_RATIO = 1.6;

/** The Lab value a pixel is moved to: `lab` taken `strength` of the way to its Reinhard-transferred value. */
export function transferLab(lab: Lab, from: LabStats, to: LabStats, strength: TransferStrength): Lab {
  const out: Lab = [0, 0, 0];
  for (let c = 0; c < 3; c++) {
    const sf = from.std[c] as number;
    const st = to.std[c] as number;
    const ratio = sf > 1e-6 ? Math.min(MAX_SPREAD_RATIO, Math.max(MIN_SPREAD_RATIO, st / sf)) : 1;
    const target = (to.mean[c] as number) + ((lab[c] as number) - (from.mean[c] as number)) * ratio;
    const k = c === 0 ? strength.lightness : strength.chroma;
    out[c] = (lab[c] as number) + k * (target - (lab[c] as number));
  }
  return out;
}

/** `box` grown by `fraction` of its size on every side, clipped to the scene. */
export function surroundings(box: Box, size: Size, fraction = 0.5): Box {
  const left = Math.max(0, Math.floor(box.left - box.width * fraction));
  const top = Math.max(0, Math.floor(box.top - box.height * fraction));
  const right = Math.min(size.width, Math.ceil(box.left + box.width * (1 + fraction)));
  const bottom = Math.min(size.height, Math.ceil(box.top + box.height * (1 + fraction)));
  return { left, top, width: Math.max(0, right - left), height: Math.max(0, bottom - top) };
}

/**
 * Moves the object's colours part of the way towards the template's around it (in place). Returns the
 * statistics used, for profiling, or null when either side had no pixels to measure.
 */
export function matchColours(
  object: ObjectLayer,
  template: Layer,
  strength: TransferStrength = LOCK_TRANSFER,
): { object: LabStats; template: LabStats } | null {
  if (!object.bounds) return null;
  const size = { width: object.width, height: object.height };
  const from = labStats(object, object.bounds);
  const to = labStats(template, surroundings(object.bounds, size));
  if (!from || !to) return null;
  const d = object.data;
  const { left, top, width, height } = object.bounds;
  for (let y = top; y < top + height; y++) {
    for (let x = left; x < left + width; x++) {
      const i = (y * object.width + x) * 4;
      if (d[i + 3] === 0) continue;
      const lab = transferLab(srgbToLab(d[i] as number, d[i + 1] as number, d[i + 2] as number), from, to, strength);
      const [r, g, b] = labToSrgb(lab[0], lab[1], lab[2]);
      d[i] = r;
      d[i + 1] = g;
      d[i + 2] = b;
    }
  }
  return { object: from, template: to };
}

/** Light wrap strength at the very rim of the object. */
export const LIGHT_WRAP_STRENGTH = 0.5;

/**
 * Mixes the blurred background into the object's rim (in place): the weight is the object's alpha times
 * how far the blurred alpha falls below full, so only a band about 2·sigma wide inside the edge changes.
 */
export async function lightWrap(object: ObjectLayer, background: Layer, sigma: number, strength = LIGHT_WRAP_STRENGTH): Promise<void> {
  if (!object.bounds) return;
  const size = { width: object.width, height: object.height };
  const [blurredAlpha, blurredBg] = await Promise.all([blurPlane(alphaPlane(object), size, sigma), blurRgb(background, sigma)]);
  const d = object.data;
  const { left, top, width, height } = object.bounds;
  for (let y = top; y < top + height; y++) {
    for (let x = left; x < left + width; x++) {
      const p = y * object.width + x;
      const i = p * 4;
      const a = d[i + 3] as number;
      if (a === 0) continue;
      const w = (a / 255) * (1 - (blurredAlpha[p] as number) / 255) * strength;
      if (w <= 0) continue;
      const j = p * 3;
      d[i] = Math.round((d[i] as number) * (1 - w) + (blurredBg[j] as number) * w);
      d[i + 1] = Math.round((d[i + 1] as number) * (1 - w) + (blurredBg[j + 1] as number) * w);
      d[i + 2] = Math.round((d[i + 2] as number) * (1 - w) + (blurredBg[j + 2] as number) * w);
    }
  }
}
