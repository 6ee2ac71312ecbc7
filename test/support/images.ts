// Test images made on the fly, and small helpers to read answers' pixels.
import sharp from 'sharp';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './server.js';

/** A real photograph from Debian's opencv-doc package (see scripts/fetch-test-photos.sh). */
export function photo(name: 'baboon.jpg' | 'fruits.jpg' | 'messi5.jpg' | 'building.jpg' | 'starry_night.jpg' | 'home.jpg'): Buffer {
  return readFileSync(join(ROOT, 'test/fixtures/debian', name));
}

/** A smooth colour gradient (no flat areas), `width`×`height`, encoded as `format`. */
export async function gradient(
  width: number,
  height: number,
  format: 'jpeg' | 'png' | 'webp' = 'png',
  alpha = false,
): Promise<Buffer> {
  const channels = alpha ? 4 : 3;
  const data = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * channels;
      data[i] = Math.round((x / Math.max(1, width - 1)) * 255);
      data[i + 1] = Math.round((y / Math.max(1, height - 1)) * 255);
      data[i + 2] = 128;
      if (alpha) data[i + 3] = x < width / 2 ? 255 : 0;
    }
  }
  return sharp(data, { raw: { width, height, channels } }).toFormat(format).toBuffer();
}

export async function pixelAt(image: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(image).raw().toBuffer({ resolveWithObject: true });
  const i = (y * info.width + x) * info.channels;
  return Array.from(data.subarray(i, i + info.channels));
}
