// Pixel helpers for the pipeline tests: make images with sharp, read pixels back, write a BMP by hand.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { PipelineLimits } from '../../src/pipeline/index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

// The defaults of src/pipeline/index.ts, repeated so that these helpers do not load the runner.
export const LIMITS: PipelineLimits = {
  maxInputBytes: 64 * 1024 * 1024,
  maxInputPixels: 100_000_000,
  maxOutputPixels: 100_000_000,
  maxOutputSide: 16_384,
};

export function photo(name: string): Buffer {
  return readFileSync(join(ROOT, 'test/fixtures/debian', name));
}

export interface Pixels {
  data: Buffer;
  width: number;
  height: number;
  channels: number;
  at(x: number, y: number): number[];
}

export async function pixels(image: Buffer): Promise<Pixels> {
  const { data, info } = await sharp(image).raw().toBuffer({ resolveWithObject: true });
  return wrap(data, info.width, info.height, info.channels);
}

export function wrap(data: Buffer, width: number, height: number, channels: number): Pixels {
  return {
    data,
    width,
    height,
    channels,
    at(x: number, y: number): number[] {
      const i = (y * width + x) * channels;
      return Array.from(data.subarray(i, i + channels));
    },
  };
}

/** Asserts every channel of `actual` is within `tol` of `expected` (lossy codecs move values a little). */
export function near(actual: number[], expected: number[], tol = 6): boolean {
  return actual.length >= expected.length && expected.every((v, i) => Math.abs((actual[i] as number) - v) <= tol);
}

export function solid(width: number, height: number, colour: string, channels: 3 | 4 = 3) {
  return sharp({ create: { width, height, channels, background: colour } });
}

/**
 * A solid `bg` image with a `fg` rectangle at (left, top, w, h), encoded as PNG; the rectangle is how tests
 * find where content ended up.
 */
export async function withRect(
  width: number,
  height: number,
  bg: string,
  rect: { left: number; top: number; width: number; height: number; colour: string },
  channels: 3 | 4 = 3,
): Promise<Buffer> {
  const fg = await solid(rect.width, rect.height, rect.colour, channels).png().toBuffer();
  return solid(width, height, bg, channels).composite([{ input: fg, left: rect.left, top: rect.top }]).png().toBuffer();
}

/** Bounding box of pixels for which `pred` holds. */
export function bbox(p: Pixels, pred: (px: number[]) => boolean): { left: number; top: number; width: number; height: number } | null {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -1;
  let maxY = -1;
  for (let y = 0; y < p.height; y++) {
    for (let x = 0; x < p.width; x++) {
      if (pred(p.at(x, y))) {
        if (x < minX) minX = x;
        if (y < minY) minY = y;
        if (x > maxX) maxX = x;
        if (y > maxY) maxY = y;
      }
    }
  }
  return maxX < 0 ? null : { left: minX, top: minY, width: maxX - minX + 1, height: maxY - minY + 1 };
}

/**
 * A BMP written byte by byte: 14-byte file header, 40-byte BITMAPINFOHEADER, bottom-up rows padded to 4
 * bytes. `rgb(x, y)` gives each pixel; 24-bit stores BGR, 32-bit stores BGRA.
 */
export function writeBmp(width: number, height: number, bits: 24 | 32, rgba: (x: number, y: number) => number[], topDown = false): Buffer {
  const bpp = bits / 8;
  const rowBytes = Math.ceil((width * bpp) / 4) * 4;
  const pixelBytes = rowBytes * height;
  const buf = Buffer.alloc(54 + pixelBytes);
  buf.write('BM', 0, 'latin1');
  buf.writeUInt32LE(buf.length, 2);
  buf.writeUInt32LE(54, 10);
  buf.writeUInt32LE(40, 14);
  buf.writeInt32LE(width, 18);
  buf.writeInt32LE(topDown ? -height : height, 22);
  buf.writeUInt16LE(1, 26);
  buf.writeUInt16LE(bits, 28);
  buf.writeUInt32LE(0, 30);
  buf.writeUInt32LE(pixelBytes, 34);
  buf.writeInt32LE(2835, 38);
  buf.writeInt32LE(2835, 42);
  for (let y = 0; y < height; y++) {
    const row = topDown ? y : height - 1 - y;
    for (let x = 0; x < width; x++) {
      const [r, g, b, a] = rgba(x, y);
      const o = 54 + row * rowBytes + x * bpp;
      buf[o] = b as number;
      buf[o + 1] = g as number;
      buf[o + 2] = r as number;
      if (bits === 32) buf[o + 3] = a ?? 255;
    }
  }
  return buf;
}
