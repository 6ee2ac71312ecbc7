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
  for (let x = bounds.left; x < bounds.left + bounds.width; x++) {
    for (let sy = base; sy >= top; sy--) {
      const a = alpha[sy * size.width + x] as number;
      if (a === 0) continue;
      const h = base - sy;
      const d = Math.min(rows - 1, Math.floor(h * perRow));
      const oy = base + d;
      const ox = x + Math.round(skew * d);
      if (oy >= size.height || ox < 0 || ox >= size.width) continue;
      const v = Math.round(a * fade(h / Math.max(1, reach)));
      const o = oy * size.width + ox;
      if (v > (out[o] as number)) out[o] = v;
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

/**
 * The shadow opacity mask (0..255, scene size) for an object whose alpha plane is `alpha` and whose visible
 * pixels lie in `bounds`.
 */
export async function renderShadow(alpha: Uint8Array, size: Size, bounds: Box, style: ShadowStyle): Promise<Uint8Array> {
  if (style.view === 'front') {
    const h = bounds.height;
    const contact = projectOnGround(alpha, size, bounds, style.contactReach * h, style.contactSquash * h, 0, contactFade);
    const cast = projectOnGround(alpha, size, bounds, h, style.castSquash * h, style.skew, castFade);
    const [c, k] = await Promise.all([
      blurPlane(contact, size, Math.max(0.8, style.contact.blur * h)),
      blurPlane(cast, size, Math.max(1, style.cast.blur * h)),
    ]);
    return unite(c, style.contact.opacity, k, style.cast.opacity);
  }
  const s = Math.sqrt(bounds.width * bounds.height);
  const dropped = shiftPlane(alpha, size, Math.round(style.offsetX * s), Math.round(style.offsetY * s));
  const [c, k] = await Promise.all([
    blurPlane(alpha, size, Math.max(0.8, style.contact.blur * s)),
    blurPlane(dropped, size, Math.max(1, style.cast.blur * s)),
  ]);
  return unite(c, style.contact.opacity, k, style.cast.opacity);
}
