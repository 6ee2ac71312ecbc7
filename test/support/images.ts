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

/** The Compression tag (259) of a TIFF's first IFD: 1 none, 5 LZW, 7 JPEG, 8 deflate. */
export function tiffCompression(tiff: Buffer): number | undefined {
  const le = tiff.toString('latin1', 0, 2) === 'II';
  const u16 = (o: number) => (le ? tiff.readUInt16LE(o) : tiff.readUInt16BE(o));
  const u32 = (o: number) => (le ? tiff.readUInt32LE(o) : tiff.readUInt32BE(o));
  const ifd = u32(4);
  const count = u16(ifd);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (u16(entry) === 259) return u16(entry + 8);
  }
  return undefined;
}
