// What the diffusion engine is given for a scene: the starting image and the repaint mask. The object is
// fixed: the mask keeps its solid pixels and repaints everything else, reaching a few pixels into the object
// so that the generated background continues under its soft edge. Whatever the model does there, the
// object is composited again afterwards from its own pixels (service), so it is never repainted.
import type { MaskImage } from '../../generative/engine.js';
import type { Rgba } from '../background.js';
import type { Size } from '../geometry.js';
import type { RawImage } from '../raw-image.js';
import type { Layer } from './layers.js';

/** Object pixels at or above this alpha are kept by the model; the rest of the scene is repainted. */
export const KEEP_ALPHA = 250;

/** Grows a 0/1 mask by a square of radius `r` (two running-count passes: O(pixels) whatever `r`). */
export function dilateMask(mask: Uint8Array, size: Size, r: number): Uint8Array {
  if (r < 1) return mask.slice();
  const { width, height } = size;
  const horizontal = new Uint8Array(mask.length);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    let count = 0;
    // Window [x - r, x + r]: prime it with [0, r - 1] and slide.
    for (let x = 0; x < Math.min(r, width); x++) count += mask[row + x] ? 1 : 0;
    for (let x = 0; x < width; x++) {
      if (x + r < width && mask[row + x + r]) count++;
      if (x - r - 1 >= 0 && mask[row + x - r - 1]) count--;
      horizontal[row + x] = count > 0 ? 1 : 0;
    }
  }
  const out = new Uint8Array(mask.length);
  for (let x = 0; x < width; x++) {
    let count = 0;
    for (let y = 0; y < Math.min(r, height); y++) count += horizontal[y * width + x] ? 1 : 0;
    for (let y = 0; y < height; y++) {
      if (y + r < height && horizontal[(y + r) * width + x]) count++;
      if (y - r - 1 >= 0 && horizontal[(y - r - 1) * width + x]) count--;
      out[y * width + x] = count > 0 ? 1 : 0;
    }
  }
  return out;
}

/**
 * The engine's mask for a scene whose object layer (at the working size) is `object`: 255 (repaint) outside
 * the object's solid pixels, grown `grow` pixels into the object; 0 (keep) inside.
 */
export function repaintMask(object: Layer, grow: number): MaskImage {
  const size = { width: object.width, height: object.height };
  const outside = new Uint8Array(size.width * size.height);
  for (let p = 0; p < outside.length; p++) outside[p] = (object.data[p * 4 + 3] as number) >= KEEP_ALPHA ? 0 : 1;
  const grown = dilateMask(outside, size, grow);
  const data = Buffer.allocUnsafe(grown.length);
  for (let p = 0; p < grown.length; p++) data[p] = grown[p] ? 255 : 0;
  return { data, width: size.width, height: size.height, channels: 1 };
}

/** How far the repaint mask reaches into the object: about 0.4 % of the working size's longer side. */
export function maskGrowth(size: Size): number {
  return Math.max(2, Math.round(Math.max(size.width, size.height) * 0.004));
}

/** Mixes a layer's colour `amount` of the way towards `colour` (in place; alpha untouched). */
export function tintLayer(layer: Layer, colour: Rgba, amount: number): void {
  const d = layer.data;
  for (let i = 0; i < d.length; i += 4) {
    d[i] = Math.round((d[i] as number) * (1 - amount) + colour.r * amount);
    d[i + 1] = Math.round((d[i + 1] as number) * (1 - amount) + colour.g * amount);
    d[i + 2] = Math.round((d[i + 2] as number) * (1 - amount) + colour.b * amount);
  }
}

/** An RGBA layer as an opaque RGB image over `matte` (the engine's images have no alpha). */
export function flattenToRgb(layer: Layer, matte: Rgba): RawImage {
  const n = layer.width * layer.height;
  const data = Buffer.allocUnsafe(n * 3);
  for (let p = 0; p < n; p++) {
    const a = (layer.data[p * 4 + 3] as number) / 255;
    data[p * 3] = Math.round((layer.data[p * 4] as number) * a + matte.r * (1 - a));
    data[p * 3 + 1] = Math.round((layer.data[p * 4 + 1] as number) * a + matte.g * (1 - a));
    data[p * 3 + 2] = Math.round((layer.data[p * 4 + 2] as number) * a + matte.b * (1 - a));
  }
  return { data, width: layer.width, height: layer.height, channels: 3 };
}
