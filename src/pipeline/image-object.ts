// How an image is described in answers (`input`, `output`, `input_object`, `output_object`). The published
// examples give `format` in capitals ("JPEG") and `ext` as the format's usual name ("jpeg"); we follow the
// examples, since that is what clients of the live service parse (see docs/decisions.md).
import type { ImageObject } from '../contract/types.js';

export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'avif' | 'tiff' | 'gif' | 'bmp' | 'heic';

const MIME: Record<ImageFormat, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
  tiff: 'image/tiff',
  gif: 'image/gif',
  bmp: 'image/bmp',
  heic: 'image/heic',
};

export function mimeOf(format: ImageFormat): string {
  return MIME[format];
}

/** Megapixels, exact to the pixel as the contract's examples show (128×128 → 0.016384). */
export function megapixels(width: number, height: number): number {
  return Number(((width * height) / 1e6).toFixed(6));
}

export function describeImage(format: ImageFormat, width: number, height: number): ImageObject {
  return {
    ext: format,
    mps: megapixels(width, height),
    mime: MIME[format],
    format: format.toUpperCase(),
    width,
    height,
  };
}
