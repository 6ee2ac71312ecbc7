// BMP input. The prebuilt libvips that sharp ships has no BMP loader, so pixels come from bmp-js. bmp-js
// assumes a 40-byte BITMAPINFOHEADER with the palette and pixels packed right after it, and reads 32-bit
// BITFIELDS data in a fixed byte order; we read the header ourselves, refuse what bmp-js would misread, and
// hand it a normalised copy (40-byte header, masks/palette where it looks for them) for the variants it does
// decode correctly: 1/4/8-bit palettes (8-bit RLE8, 4-bit RLE4), 16-bit (555/565), 24-bit, 32-bit BGRX/BGRA.
import bmp from 'bmp-js';
import { ImageError } from '../errors.js';
import type { RawImage } from './raw-image.js';

export interface BmpHeader {
  width: number;
  height: number;
  topDown: boolean;
  bitsPerPixel: number;
  compression: number;
  headerSize: number;
  pixelOffset: number;
  paletteColours: number;
  /** Channel masks for BI_BITFIELDS; zero when not given. */
  masks: { r: number; g: number; b: number; a: number };
}

const BI_RGB = 0;
const BI_RLE8 = 1;
const BI_RLE4 = 2;
const BI_BITFIELDS = 3;

function unsupported(message: string, details: Record<string, unknown> = {}): ImageError {
  return new ImageError('unsupported_image', `${message} Convert the image to PNG or JPEG and try again.`, {
    format: 'bmp',
    ...details,
  });
}

function corrupt(message: string): ImageError {
  return new ImageError('corrupt_image', `The BMP image is damaged: ${message}`, { format: 'bmp' });
}

export function isBmp(buf: Buffer): boolean {
  if (buf.length < 18 || buf[0] !== 0x42 || buf[1] !== 0x4d) return false;
  // "BM" alone is too weak a signature; the DIB header size must be one of the known ones as well.
  return [12, 40, 52, 56, 64, 108, 124].includes(buf.readUInt32LE(14));
}

/** Reads and checks the header without touching pixel data. Throws ImageError for what we cannot decode. */
export function readBmpHeader(buf: Buffer): BmpHeader {
  if (buf.length < 54) throw corrupt('the header is incomplete.');
  const headerSize = buf.readUInt32LE(14);
  if (headerSize !== 40 && headerSize !== 52 && headerSize !== 56 && headerSize !== 108 && headerSize !== 124) {
    // 12 and 64 are the OS/2 headers, laid out differently.
    throw unsupported(`This BMP variant (OS/2 header of ${headerSize} bytes) is not supported.`, { header_size: headerSize });
  }
  if (buf.length < 14 + headerSize) throw corrupt('the header is incomplete.');
  const width = buf.readInt32LE(18);
  const rawHeight = buf.readInt32LE(22);
  const planes = buf.readUInt16LE(26);
  const bitsPerPixel = buf.readUInt16LE(28);
  const compression = buf.readUInt32LE(30);
  const colours = buf.readUInt32LE(46);
  const pixelOffset = buf.readUInt32LE(10);
  if (width <= 0 || rawHeight === 0 || rawHeight === -2147483648 || planes !== 1) {
    throw corrupt(`invalid dimensions ${width}x${rawHeight} or plane count ${planes}.`);
  }
  if (![1, 4, 8, 16, 24, 32].includes(bitsPerPixel)) {
    throw unsupported(`BMP images with ${bitsPerPixel} bits per pixel are not supported.`, { bits_per_pixel: bitsPerPixel });
  }
  const okCompression =
    compression === BI_RGB ||
    (compression === BI_RLE8 && bitsPerPixel === 8) ||
    (compression === BI_RLE4 && bitsPerPixel === 4) ||
    (compression === BI_BITFIELDS && (bitsPerPixel === 16 || bitsPerPixel === 32));
  if (!okCompression) {
    throw unsupported(`BMP compression type ${compression} with ${bitsPerPixel} bits per pixel is not supported.`, {
      compression,
      bits_per_pixel: bitsPerPixel,
    });
  }
  const topDown = rawHeight < 0;
  if (topDown && (compression === BI_RLE8 || compression === BI_RLE4)) throw corrupt('a top-down BMP cannot be RLE-compressed.');

  let masks = { r: 0, g: 0, b: 0, a: 0 };
  if (compression === BI_BITFIELDS) {
    // Masks follow a 40-byte header, or live inside the larger ones (at the same offset).
    if (buf.length < 14 + 40 + 12) throw corrupt('the colour masks are missing.');
    masks = {
      r: buf.readUInt32LE(54),
      g: buf.readUInt32LE(58),
      b: buf.readUInt32LE(62),
      a: headerSize >= 56 || (headerSize === 40 && pixelOffset >= 70) ? buf.readUInt32LE(66) : 0,
    };
  }
  if (compression === BI_BITFIELDS && bitsPerPixel === 32) {
    // bmp-js only reads BGRA byte order correctly; other layouts would come out with swapped channels.
    if (masks.r !== 0x00ff0000 || masks.g !== 0x0000ff00 || masks.b !== 0x000000ff || (masks.a !== 0 && masks.a !== 0xff000000)) {
      throw unsupported('This 32-bit BMP channel layout is not supported (only BGRA/BGRX).', {
        masks: [masks.r, masks.g, masks.b, masks.a].map((m) => `0x${m.toString(16)}`),
      });
    }
  }
  const paletteColours = bitsPerPixel <= 8 ? (colours === 0 ? 1 << bitsPerPixel : colours) : 0;
  if (paletteColours > 1 << bitsPerPixel) throw corrupt(`the palette declares ${paletteColours} colours.`);
  return {
    width,
    height: Math.abs(rawHeight),
    topDown,
    bitsPerPixel,
    compression,
    headerSize,
    pixelOffset,
    paletteColours,
    masks,
  };
}

/** Rebuilds the file the way bmp-js reads it: 14 + 40 header bytes, masks, palette, then the pixels. */
function normalise(buf: Buffer, h: BmpHeader): Buffer {
  const is32Bitfields = h.compression === BI_BITFIELDS && h.bitsPerPixel === 32;
  // 32-bit BGRA bitfields are the same bytes as BI_RGB 32-bit, which bmp-js reads in the right order.
  const compression = is32Bitfields ? BI_RGB : h.compression;
  const maskBytes = compression === BI_BITFIELDS ? 16 : 0;
  const paletteBytes = h.paletteColours * 4;
  const paletteStart = 14 + h.headerSize + (h.headerSize === 40 && h.compression === BI_BITFIELDS ? (h.pixelOffset >= 70 ? 16 : 12) : 0);
  if (paletteStart + paletteBytes > buf.length || h.pixelOffset > buf.length) throw corrupt('the file ends early.');

  const header = Buffer.alloc(54 + maskBytes);
  buf.copy(header, 0, 0, 54);
  header.writeUInt32LE(40, 14);
  header.writeUInt32LE(compression, 30);
  if (maskBytes) {
    header.writeUInt32LE(h.masks.r, 54);
    header.writeUInt32LE(h.masks.g, 58);
    header.writeUInt32LE(h.masks.b, 62);
    header.writeUInt32LE(h.masks.a, 66);
  }
  const palette = buf.subarray(paletteStart, paletteStart + paletteBytes);
  const pixels = buf.subarray(h.pixelOffset);
  const out = Buffer.concat([header, palette, pixels]);
  out.writeUInt32LE(header.length + palette.length, 10);
  return out;
}

/** Decodes a BMP (already header-checked and within limits) into 8-bit RGB or RGBA pixels. */
export function decodeBmp(buf: Buffer, h: BmpHeader = readBmpHeader(buf)): RawImage {
  let abgr: Buffer;
  try {
    abgr = bmp.decode(normalise(buf, h)).data;
  } catch (err) {
    if (err instanceof ImageError) throw err;
    // bmp-js reads past the end of the buffer on truncated files (RangeError from Buffer reads) and trips
    // over palette indices that point outside the palette.
    throw corrupt('the pixel data is incomplete or invalid.');
  }
  const pixels = h.width * h.height;

  // bmp-js fills the alpha byte with 0 for every format without alpha; in 32-bit files an all-zero (or
  // all-opaque) alpha byte means the fourth byte is padding, which is how most writers use it.
  let useAlpha = false;
  if (h.bitsPerPixel === 32 && !(h.compression === BI_BITFIELDS && h.masks.a === 0)) {
    let sawZero = false;
    let sawOther = false;
    for (let i = 0; i < pixels; i++) {
      const a = abgr[i * 4] as number;
      if (a === 0) sawZero = true;
      if (a !== 0) sawOther = true;
      if (a !== 0 && a !== 255) {
        useAlpha = true;
        break;
      }
      if (sawZero && sawOther) {
        useAlpha = true;
        break;
      }
    }
  }
  const channels = useAlpha ? 4 : 3;
  const out = Buffer.allocUnsafe(pixels * channels);
  for (let i = 0, o = 0; i < pixels; i++, o += channels) {
    const s = i * 4;
    out[o] = abgr[s + 3] as number;
    out[o + 1] = abgr[s + 2] as number;
    out[o + 2] = abgr[s + 1] as number;
    if (useAlpha) out[o + 3] = abgr[s] as number;
  }
  return { data: out, width: h.width, height: h.height, channels };
}
