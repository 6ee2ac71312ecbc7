// Shadows computed from the placed object's alpha, with no model. Two parts, as a photographed product has:
// - a contact shadow: tight and dark where the object meets the surface;
// - a cast shadow: larger, softer and lighter, offset away from the light.
// Their shape depends on the viewpoint:
// - front (camera level with the surface): the shadow lies on the ground plane. The silhouette is flipped
//   about the object's base line and squashed vertically (the ground recedes from the camera), skewed
//   sideways by the light's direction, and fades with distance from the base. The contact shadow is the
//   same projection of only the object's lowest few percent, squashed into a thin band: where the bottom
//   contour touches the ground it is darkest, where it curves away (rounded edges, legs) it fades.
// - top (camera looking down on the surface): the surface is behind the object, so the shadow is the
//   silhouette itself, blurred, and slightly offset (a drop shadow), with a tight contact halo on all sides.
// The result is an opacity mask (0..255) at scene size, laid over the background as black (layers.ts,
// applyShadow): colours darken, a transparent background keeps it as semi-transparent black.
import type { Size } from '../geometry.js';
import { blurPlane } from './layers.js';
import type { Box } from './placement.js';

export type ShadowView = 'top' | 'front';

export interface ShadowPart {
  /** Peak opacity, 0..1. */
  opacity: number;
  /** Blur sigma as a fraction of the object's size (front: its height; top: the root of its area). */
  blur: number;
}

export interface FrontShadowStyle {
  view: 'front';
  /** How high above its base the object still darkens the contact shadow, as a fraction of its height. */
  contactReach: number;
  /** Ground-plane length of the contact shadow as a fraction of the object's height. */
  contactSquash: number;
  contact: ShadowPart;
  /** Ground-plane length of the cast shadow as a fraction of the object's height. */
  castSquash: number;
  /** Sideways lean of the cast shadow: pixels of x per pixel of distance from the base (+ = to the right). */
  skew: number;
  cast: ShadowPart;
}

export interface TopShadowStyle {
  view: 'top';
  contact: ShadowPart;
  /** Offset of the drop shadow as fractions of the object's size (+ = right, down). */
  offsetX: number;
  offsetY: number;
  cast: ShadowPart;
}

export type ShadowStyle = FrontShadowStyle | TopShadowStyle;

/**
 * Each image of a request gets its own light: image 0 has the light at the upper left, 1 at the upper
 * right, 2 overhead and softer, 3 low and long. The variants repeat after four.
 */
const FRONT_VARIANTS: readonly Omit<FrontShadowStyle, 'view'>[] = [
  { contactReach: 0.05, contactSquash: 0.03, contact: { opacity: 0.85, blur: 0.008 }, castSquash: 0.2, skew: 0.35, cast: { opacity: 0.3, blur: 0.035 } },
  { contactReach: 0.05, contactSquash: 0.03, contact: { opacity: 0.85, blur: 0.008 }, castSquash: 0.2, skew: -0.35, cast: { opacity: 0.3, blur: 0.035 } },
  { contactReach: 0.06, contactSquash: 0.035, contact: { opacity: 0.8, blur: 0.012 }, castSquash: 0.12, skew: 0, cast: { opacity: 0.25, blur: 0.05 } },
  { contactReach: 0.05, contactSquash: 0.03, contact: { opacity: 0.85, blur: 0.008 }, castSquash: 0.3, skew: 0.7, cast: { opacity: 0.28, blur: 0.03 } },
];

const TOP_VARIANTS: readonly Omit<TopShadowStyle, 'view'>[] = [
  { contact: { opacity: 0.55, blur: 0.008 }, offsetX: 0.02, offsetY: 0.03, cast: { opacity: 0.42, blur: 0.035 } },
  { contact: { opacity: 0.55, blur: 0.008 }, offsetX: -0.02, offsetY: 0.03, cast: { opacity: 0.42, blur: 0.035 } },
  { contact: { opacity: 0.5, blur: 0.012 }, offsetX: 0, offsetY: 0.015, cast: { opacity: 0.35, blur: 0.05 } },
  { contact: { opacity: 0.55, blur: 0.008 }, offsetX: 0.035, offsetY: 0.045, cast: { opacity: 0.4, blur: 0.03 } },
];

export function shadowStyle(view: ShadowView, variant = 0): ShadowStyle {
  const i = ((variant % 4) + 4) % 4;
  return view === 'front' ? { view, ...(FRONT_VARIANTS[i] as Omit<FrontShadowStyle, 'view'>) } : { view, ...(TOP_VARIANTS[i] as Omit<TopShadowStyle, 'view'>) };
}

/** Alpha at or above this counts as solid object when reading its contour. */
const SOLID_ALPHA = 128;

/**
 * `view: "auto"`: front when the object stands on a flat base (at least 40 % of its columns end within
 * 2 % of its height of the lowest row: bottles, boxes, shoes from the side), top otherwise (round or
 * irregular outlines: plates, flat lays, jewellery seen from above).
 */
export function chooseView(alpha: Uint8Array, size: Size, bounds: Box): ShadowView {
  const base = bounds.top + bounds.height - 1;
  const tolerance = Math.max(2, 0.02 * bounds.height);
  let columns = 0;
  let onBase = 0;
  for (let x = bounds.left; x < bounds.left + bounds.width; x++) {
    for (let y = base; y >= bounds.top; y--) {
      if ((alpha[y * size.width + x] as number) >= SOLID_ALPHA) {
        columns++;
        if (base - y <= tolerance) onBase++;
        break;
      }
    }
  }
  return columns > 0 && onBase / columns >= 0.4 ? 'front' : 'top';
}

/**
 * Projects the silhouette onto the ground plane below its base line. The rows within `reach` pixels above
 * the base are flipped below it and squashed into `length` rows (output row base + d collects the source
 * rows whose height above the base maps to d, keeping their strongest alpha), shifted sideways by
 * `skew`·d, and weighted by `fade(h / reach)` where h is the source row's height above the base. Returns an
 * 8-bit plane at scene size.
 */
export function projectOnGround(
  alpha: Uint8Array,
  size: Size,
  bounds: Box,
  reach: number,
  length: number,
  skew: number,
  fade: (t: number) => number,
): Uint8Array {
  const out = new Uint8Array(size.width * size.height);
  const base = bounds.top + bounds.height - 1;
  const rows = Math.max(1, Math.round(length));
  const top = Math.max(bounds.top, Math.ceil(base - reach));
  const perRow = rows / Math.max(1, reach);
  const x0 = bounds.left;
  const x1 = bounds.left + bounds.width;
  // Row by row (memory order); every source row maps to one ground row, one fade and one sideways shift.
  for (let sy = base; sy >= top; sy--) {
    const h = base - sy;
    const d = Math.min(rows - 1, Math.floor(h * perRow));
    const oy = base + d;
    if (oy >= size.height) continue;
    const weight = fade(h / Math.max(1, reach));
    if (weight <= 0) continue;
    const shift = Math.round(skew * d);
    const src = sy * size.width;
    const dst = oy * size.width + shift;
    const from = Math.max(x0, -shift);
    const to = Math.min(x1, size.width - shift);
    for (let x = from; x < to; x++) {
      const a = alpha[src + x] as number;
      if (a === 0) continue;
      const v = Math.round(a * weight);
      if (v > (out[dst + x] as number)) out[dst + x] = v;
    }
  }
  return out;
}

/** Copies `plane` shifted by (dx, dy) pixels; what moves in from outside is 0. */
export function shiftPlane(plane: Uint8Array, size: Size, dx: number, dy: number): Uint8Array {
  const out = new Uint8Array(plane.length);
  for (let y = 0; y < size.height; y++) {
    const sy = y - dy;
    if (sy < 0 || sy >= size.height) continue;
    const x0 = Math.max(0, dx);
    const x1 = Math.min(size.width, size.width + dx);
    if (x1 <= x0) continue;
    out.set(plane.subarray(sy * size.width + x0 - dx, sy * size.width + x1 - dx), y * size.width + x0);
  }
  return out;
}

/** Union of two opacity planes scaled by their peak opacities: 1 − (1 − a·ka)(1 − b·kb). */
function unite(a: Uint8Array, ka: number, b: Uint8Array, kb: number): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const pa = ((a[i] as number) / 255) * ka;
    const pb = ((b[i] as number) / 255) * kb;
    out[i] = Math.round((1 - (1 - pa) * (1 - pb)) * 255);
  }
  return out;
}

const contactFade = (t: number): number => (1 - t) * (1 - t);
const castFade = (t: number): number => (1 - t) ** 1.5;

/** Blur sigmas and reach of a style for an object of the given bounds, in pixels. */
function extents(bounds: Box, style: ShadowStyle) {
  if (style.view === 'front') {
    const h = bounds.height;
    return { contactSigma: Math.max(0.8, style.contact.blur * h), castSigma: Math.max(1, style.cast.blur * h), h };
  }
  const s = Math.sqrt(bounds.width * bounds.height);
  return { contactSigma: Math.max(0.8, style.contact.blur * s), castSigma: Math.max(1, style.cast.blur * s), h: s };
}

/**
 * The part of the scene a style's shadow can reach: the object's bounds grown by the projection, the offset
 * and three blur sigmas (beyond which sharp's Gaussian is cut off), clipped to the scene. The shadow is
 * computed inside it only; everywhere else it is 0.
 */
export function shadowRegion(bounds: Box, size: Size, style: ShadowStyle): Box {
  const { contactSigma, castSigma, h } = extents(bounds, style);
  const blur = 3 * Math.max(contactSigma, castSigma) + 2;
  let left: number;
  let right: number;
  let top: number;
  let bottom: number;
  if (style.view === 'front') {
    const length = style.castSquash * h;
    const lean = Math.abs(style.skew) * length;
    left = bounds.left - lean - blur;
    right = bounds.left + bounds.width + lean + blur;
    top = bounds.top - blur;
    bottom = bounds.top + bounds.height + Math.max(style.contactSquash * h, length) + blur;
  } else {
    const dx = Math.abs(style.offsetX) * h;
    const dy = Math.abs(style.offsetY) * h;
    left = bounds.left - dx - blur;
    right = bounds.left + bounds.width + dx + blur;
    top = bounds.top - dy - blur;
    bottom = bounds.top + bounds.height + dy + blur;
  }
  const l = Math.max(0, Math.floor(left));
  const t = Math.max(0, Math.floor(top));
  const r = Math.min(size.width, Math.ceil(right));
  const b = Math.min(size.height, Math.ceil(bottom));
  return { left: l, top: t, width: Math.max(0, r - l), height: Math.max(0, b - t) };
}

function cropPlane(plane: Uint8Array, size: Size, box: Box): Uint8Array {
  const out = new Uint8Array(box.width * box.height);
  for (let y = 0; y < box.height; y++) {
    const from = (box.top + y) * size.width + box.left;
    out.set(plane.subarray(from, from + box.width), y * box.width);
  }
  return out;
}

function pastePlane(sub: Uint8Array, box: Box, size: Size): Uint8Array {
  const out = new Uint8Array(size.width * size.height);
  for (let y = 0; y < box.height; y++) out.set(sub.subarray(y * box.width, (y + 1) * box.width), (box.top + y) * size.width + box.left);
  return out;
}

/**
 * The shadow opacity mask (0..255, scene size) for an object whose alpha plane is `alpha` and whose visible
 * pixels lie in `bounds`.
 */
export async function renderShadow(alpha: Uint8Array, size: Size, bounds: Box, style: ShadowStyle): Promise<Uint8Array> {
  const region = shadowRegion(bounds, size, style);
  if (region.width === 0 || region.height === 0) return new Uint8Array(size.width * size.height);
  const sub = { width: region.width, height: region.height };
  const a = cropPlane(alpha, size, region);
  const b = { ...bounds, left: bounds.left - region.left, top: bounds.top - region.top };
  const { contactSigma, castSigma, h } = extents(bounds, style);
  let contact: Uint8Array;
  let cast: Uint8Array;
  if (style.view === 'front') {
    contact = projectOnGround(a, sub, b, style.contactReach * h, style.contactSquash * h, 0, contactFade);
    cast = projectOnGround(a, sub, b, h, style.castSquash * h, style.skew, castFade);
  } else {
    contact = a;
    cast = shiftPlane(a, sub, Math.round(style.offsetX * h), Math.round(style.offsetY * h));
  }
  const [c, k] = await Promise.all([blurPlane(contact, sub, contactSigma), blurPlane(cast, sub, castSigma)]);
  return pastePlane(unite(c, style.contact.opacity, k, style.cast.opacity), region, size);
}
