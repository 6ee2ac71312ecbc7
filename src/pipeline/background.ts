// `background.color`: parsing, choosing the fill for canvas/padding areas and transparent pixels, and
// resolving alpha before encoding (the encoder expects alpha already settled).
import sharp from 'sharp';
import { ValidationError } from '../errors.js';
import { fromRawImage, toRawImage, type RawImage } from './raw-image.js';

/** 8-bit channels; `alpha` is 0–255 here (sharp wants 0–1, see toSharpColour). */
export interface Rgba {
  r: number;
  g: number;
  b: number;
  alpha: number;
}

export type BackgroundColour = { kind: 'transparent' } | { kind: 'colour'; rgba: Rgba };

const HEX_RE = /^#([0-9a-f]{3}|[0-9a-f]{6}|[0-9a-f]{8})$/i;

export const WHITE: Rgba = { r: 255, g: 255, b: 255, alpha: 255 };
export const TRANSPARENT: Rgba = { r: 0, g: 0, b: 0, alpha: 0 };

export function parseBackgroundColour(value: unknown): BackgroundColour {
  if (typeof value === 'string') {
    const v = value.trim();
    if (v.toLowerCase() === 'transparent') return { kind: 'transparent' };
    const m = HEX_RE.exec(v);
    if (m) {
      let hex = (m[1] as string).toLowerCase();
      if (hex.length === 3) hex = [...hex].map((c) => c + c).join('');
      const byte = (i: number): number => parseInt(hex.slice(i * 2, i * 2 + 2), 16);
      return { kind: 'colour', rgba: { r: byte(0), g: byte(1), b: byte(2), alpha: hex.length === 8 ? byte(3) : 255 } };
    }
  }
  throw new ValidationError(
    `operations.background.color must be a hex colour ("#rgb", "#rrggbb" or "#rrggbbaa") or "transparent"; got ${JSON.stringify(value)}.`,
    { field: 'operations.background.color', value },
  );
}

/**
 * The fill the output gets where there is no image (canvas, padding) and under transparent pixels.
 * - No colour asked: transparent when the input has an alpha channel and the output can carry alpha, else white.
 * - `transparent` with an output that cannot carry alpha (JPEG, CMYK): white, since the file cannot say
 *   "transparent" and white is what the contract names as the default background.
 * - A translucent colour with an output that cannot carry alpha: the colour as it would look over white.
 */
export function resolveFill(requested: BackgroundColour | undefined, inputHasAlpha: boolean, outputSupportsAlpha: boolean): Rgba {
  if (!requested) return inputHasAlpha && outputSupportsAlpha ? TRANSPARENT : WHITE;
  if (requested.kind === 'transparent') return outputSupportsAlpha ? TRANSPARENT : WHITE;
  const c = requested.rgba;
  if (c.alpha === 255 || outputSupportsAlpha) return c;
  return overWhite(c);
}

export function overWhite(c: Rgba): Rgba {
  const a = c.alpha / 255;
  const mix = (v: number): number => Math.round(v * a + 255 * (1 - a));
  return { r: mix(c.r), g: mix(c.g), b: mix(c.b), alpha: 255 };
}

export function isOpaque(c: Rgba): boolean {
  return c.alpha === 255;
}

export function isWhite(c: Rgba): boolean {
  return c.r === 255 && c.g === 255 && c.b === 255 && c.alpha === 255;
}

export function isTransparent(c: Rgba): boolean {
  return c.alpha === 0;
}

export function toSharpColour(c: Rgba): { r: number; g: number; b: number; alpha: number } {
  return { r: c.r, g: c.g, b: c.b, alpha: c.alpha / 255 };
}

/**
 * Settles the alpha of a materialised image, eagerly, so that what reaches the encoder has its final channels:
 * - no alpha channel, or a transparent fill: the pixels are kept as they are;
 * - opaque fill: the image is flattened onto it and loses its alpha channel;
 * - translucent fill (only reachable when the output carries alpha): the image is composited over a layer of
 *   that colour, so transparent areas show the colour at its own opacity.
 * Eager because sharp keeps a single flatten setting per pipeline: a flatten added later (an encoder's
 * safety net) would silently replace ours.
 */
export async function applyFill(img: RawImage, fill: Rgba): Promise<RawImage> {
  if (img.channels === 3 || isTransparent(fill)) return img;
  if (isOpaque(fill)) return toRawImage(fromRawImage(img).flatten({ background: toSharpColour(fill) }));
  return toRawImage(
    sharp({
      create: { width: img.width, height: img.height, channels: 4, background: toSharpColour(fill) },
    }).composite([{ input: img.data, raw: { width: img.width, height: img.height, channels: 4 }, blend: 'over' }]),
  );
}
