// The baseline: sharp called directly in this process on the same JPEG bytes, at the same concurrency as
// the HTTP clients, with the encoder settings Atelier uses by default. No HTTP, no fetch, no file written:
// this is the floor Atelier's sync endpoint is compared against.
import sharp from 'sharp';
import type { Contender } from './lib/system.js';

export interface JpegSettings {
  quality: number;
  progressive: boolean;
  mozjpeg: boolean;
}

/** The plain sharp call the baseline makes (also used for the memory comparison and output checks). */
export function sharpResize(input: Buffer, width: number, jpeg: JpegSettings): Promise<Buffer> {
  return sharp(input).resize({ width }).jpeg(jpeg).toBuffer();
}

export function sharpContender(input: Buffer, width: number, jpeg: JpegSettings): Contender {
  return {
    name: 'sharp direct',
    pid: process.pid,
    op: async () => {
      // Each call gets its own copy of the bytes, as each HTTP request does: libvips caches operations keyed
      // by their arguments, and a reused buffer must not give the baseline an edge the server never has.
      const out = await sharpResize(Buffer.from(input), width, jpeg);
      return out.length > 0 ? { ok: true } : { ok: false, reason: 'empty output' };
    },
  };
}
