// Shared inputs for the face / text / vehicle / privacy / smart-crop / outpaint tests: real photos from the
// Debian opencv-doc samples (scripts/fetch-test-photos.sh) as RawImages, and a rendered licence plate.
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp, { type Sharp } from 'sharp';
import { toRawImage, type RawImage } from '../../src/pipeline/raw-image.js';
import { models } from '../../src/models/registry.js';
import type { ModelContext } from '../../src/pipeline/model-context.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function photoPath(name: string): string {
  return join(ROOT, 'test/fixtures/debian', name);
}

export function loadPhoto(name: string, transform?: (s: Sharp) => Sharp): Promise<RawImage> {
  const s = sharp(photoPath(name));
  return toRawImage(transform ? transform(s) : s);
}

export function context(): ModelContext & { profiling: Record<string, unknown> } {
  return { models, profiling: {} };
}

/** Where the rendered plate goes on licenseplate_motion.jpg (600×482): over the car's own, blurred plate. */
export const PLATE_AT = { left: 220, top: 235, width: 150, height: 44 } as const;

/** An EU-style plate "AB 123 CD": dark glyphs on a light plate with a border. */
export function plateSvg(width: number = PLATE_AT.width, height: number = PLATE_AT.height, text = 'AB 123 CD'): Buffer {
  const font = Math.round(height * 0.6);
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
      `<rect x="1" y="1" width="${width - 2}" height="${height - 2}" rx="4" fill="#f4f4f0" stroke="#222" stroke-width="2"/>` +
      `<text x="${width / 2}" y="${Math.round(height * 0.73)}" font-family="DejaVu Sans Mono, monospace" font-weight="bold" ` +
      `font-size="${font}" text-anchor="middle" fill="#111">${text}</text></svg>`,
  );
}

/** The car photo with a sharp, readable plate composited onto its rear. */
export function carWithPlate(): Promise<RawImage> {
  return loadPhoto('licenseplate_motion.jpg', (s) => s.composite([{ input: plateSvg(), left: PLATE_AT.left, top: PLATE_AT.top }]));
}

export function overlaps(a: { left: number; top: number; width: number; height: number }, b: { left: number; top: number; width: number; height: number }): boolean {
  return a.left < b.left + b.width && b.left < a.left + a.width && a.top < b.top + b.height && b.top < a.top + a.height;
}

export function contains(outer: { left: number; top: number; width: number; height: number }, inner: { left: number; top: number; width: number; height: number }): boolean {
  return inner.left >= outer.left && inner.top >= outer.top && inner.left + inner.width <= outer.left + outer.width && inner.top + inner.height <= outer.top + outer.height;
}
