// Input recognition and decoding. The format is decided from the bytes alone (names and content types lie),
// size limits are enforced from the header before any pixel is decoded, and every decoder failure becomes an
// ImageError the client can act on.
import sharp, { type Metadata, type Sharp } from 'sharp';
import type { ImageObject } from '../contract/types.js';
import { AtelierError, ImageError } from '../errors.js';
import { decodeBmp, isBmp, readBmpHeader, type BmpHeader } from './bmp.js';
import { iccColourSpace, isSrgbProfile } from './icc.js';
import { describeImage, type ImageFormat } from './image-object.js';
import type { PipelineLimits } from './index.js';
import { fromRawImage } from './raw-image.js';

export type InputFormat = Exclude<ImageFormat, 'heic'>;

const HEIF_BRANDS = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'hevm', 'hevs', 'mif1', 'msf1', 'mif2']);
const AVIF_BRANDS = new Set(['avif', 'avis']);

/** The brands of an ISO-BMFF `ftyp` box (major brand first), or null when the bytes do not start with one. */
function ftypBrands(buf: Buffer): string[] | null {
  if (buf.length < 16 || buf.toString('latin1', 4, 8) !== 'ftyp') return null;
  const boxSize = buf.readUInt32BE(0);
  const end = Math.min(buf.length, boxSize >= 16 ? boxSize : 16);
  const brands = [buf.toString('latin1', 8, 12)];
  for (let off = 16; off + 4 <= end; off += 4) brands.push(buf.toString('latin1', off, off + 4));
  return brands;
}

/** Recognises an image format from its leading bytes. Returns null for anything we do not know. */
export function sniffFormat(buf: Buffer): ImageFormat | null {
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return 'jpeg';
  if (buf.length >= 8 && buf.readUInt32BE(0) === 0x89504e47 && buf.readUInt32BE(4) === 0x0d0a1a0a) return 'png';
  if (buf.length >= 6 && (buf.toString('latin1', 0, 6) === 'GIF87a' || buf.toString('latin1', 0, 6) === 'GIF89a')) return 'gif';
  if (buf.length >= 12 && buf.toString('latin1', 0, 4) === 'RIFF' && buf.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  if (buf.length >= 4) {
    const sig = buf.readUInt32BE(0);
    // Classic and BigTIFF, both byte orders.
    if (sig === 0x49492a00 || sig === 0x4d4d002a || sig === 0x49492b00 || sig === 0x4d4d002b) return 'tiff';
  }
  if (isBmp(buf)) return 'bmp';
  const brands = ftypBrands(buf);
  if (brands) {
    if (brands.some((b) => AVIF_BRANDS.has(b))) return 'avif';
    if (brands.some((b) => HEIF_BRANDS.has(b))) return 'heic';
  }
  return null;
}

/**
 * The input's colour space, as far as the output default (keep the input's colour space) needs it.
 * - rgb: `icc` only when the embedded profile is RGB and wider than sRGB (Adobe RGB, Display P3, ProPhoto…);
 *   sRGB-tagged and untagged inputs carry none, since plain sRGB is what they become.
 * - cmyk: `icc` is the embedded CMYK profile; without one libvips reads the pixels through its built-in
 *   CMYK profile.
 * - grey: one channel (plus alpha).
 */
export type InputColour = { space: 'rgb'; icc?: Buffer } | { space: 'cmyk'; icc?: Buffer } | { space: 'grey' };

/** Classifies libvips' interpretation and the embedded profile (a profile that does not match the pixels is ignored). */
export function classifyInputColour(space: string | undefined, icc: Buffer | undefined): InputColour {
  if (space === 'cmyk') return icc && iccColourSpace(icc) === 'CMYK' ? { space: 'cmyk', icc } : { space: 'cmyk' };
  if (space === 'b-w' || space === 'grey16') return { space: 'grey' };
  if (icc && iccColourSpace(icc) === 'RGB' && !isSrgbProfile(icc)) return { space: 'rgb', icc };
  return { space: 'rgb' };
}

export interface ProbedInput {
  format: InputFormat;
  /** Upright size (EXIF orientation applied), first frame/page only. */
  width: number;
  height: number;
  /** Whether the decoded image will carry an alpha channel (not whether any pixel is transparent). */
  hasAlpha: boolean;
  colour: InputColour;
  object: ImageObject;
  bmp?: BmpHeader;
}

function checkBytes(buf: Buffer, limits: PipelineLimits): void {
  if (buf.length > limits.maxInputBytes) {
    throw new ImageError(
      'input_too_large',
      `The input file is ${buf.length} bytes; at most ${limits.maxInputBytes} bytes are accepted.`,
      { bytes: buf.length, max_bytes: limits.maxInputBytes },
    );
  }
}

function checkPixels(width: number, height: number, limits: PipelineLimits): void {
  if (width * height > limits.maxInputPixels) {
    throw new ImageError(
      'input_resolution_too_large',
      `The input image is ${width}x${height} (${width * height} pixels); at most ${limits.maxInputPixels} pixels are accepted.`,
      { width, height, pixels: width * height, max_pixels: limits.maxInputPixels },
    );
  }
}

const ACCEPTED = 'JPEG, PNG, WebP, AVIF, TIFF, GIF or BMP';

/**
 * Identifies the input and reads its size from the header only. Refuses unknown bytes, HEIC, and anything
 * over the byte or pixel limits before a single pixel is decoded.
 */
export async function probeInput(buf: Buffer, limits: PipelineLimits): Promise<ProbedInput> {
  checkBytes(buf, limits);
  const format = sniffFormat(buf);
  if (format === null) {
    throw new ImageError('unsupported_image', `The input is not an image in a supported format (${ACCEPTED}).`, {
      bytes: buf.length,
    });
  }
  if (format === 'heic') {
    // The bundled libvips decodes AVIF through libheif but carries no HEVC decoder.
    throw new ImageError(
      'unsupported_image',
      'HEIC/HEIF images are not supported by this Atelier build; convert the image to JPEG, PNG or AVIF and try again.',
      { format: 'heic' },
    );
  }
  if (format === 'bmp') {
    const bmp = readBmpHeader(buf);
    checkPixels(bmp.width, bmp.height, limits);
    return {
      format,
      width: bmp.width,
      height: bmp.height,
      hasAlpha: bmp.bitsPerPixel === 32,
      // BMP colour-space headers (V4/V5) are not read; bmp-js gives plain RGB.
      colour: { space: 'rgb' },
      object: describeImage(format, bmp.width, bmp.height),
      bmp,
    };
  }
  let meta: Metadata;
  try {
    meta = await sharp(buf, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw asImageError(err, format);
  }
  const width = meta.autoOrient?.width ?? meta.width;
  const height = meta.autoOrient?.height ?? meta.height;
  if (!width || !height) {
    throw new ImageError('corrupt_image', `The ${format.toUpperCase()} image has no readable dimensions.`, { format });
  }
  // Checked on the stored (not rotated) size as well; the product is the same either way.
  checkPixels(width, height, limits);
  return {
    format,
    width,
    height,
    hasAlpha: meta.hasAlpha,
    colour: classifyInputColour(meta.space, meta.icc),
    object: describeImage(format, width, height),
  };
}

export interface OpenedInput {
  /** A fresh pipeline over the upright first frame; each call starts a new one over the same source. */
  open(): Sharp;
  hasAlpha: boolean;
}

/**
 * Prepares decoding. For libvips formats nothing is decoded yet: pipelines open lazily on the encoded
 * bytes so that shrink-on-load and streaming apply. BMP is decoded here, in JavaScript, into raw pixels.
 */
export function openInput(buf: Buffer, probe: ProbedInput, limits: PipelineLimits): OpenedInput {
  if (probe.format === 'bmp') {
    const raw = decodeBmp(buf, probe.bmp);
    return { open: () => fromRawImage(raw), hasAlpha: raw.channels === 4 };
  }
  return {
    hasAlpha: probe.hasAlpha,
    open: () =>
      sharp(buf, {
        // Refuse truncated data instead of returning an image padded with grey.
        failOn: 'truncated',
        autoOrient: true,
        // Already checked from the header with a clearer error; kept as a backstop for headers that lie.
        limitInputPixels: limits.maxInputPixels,
        // First frame of animated GIF/WebP, first page of multi-page TIFF.
        pages: 1,
        page: 0,
      }),
  };
}

// libvips reports load failures with the loader's name or these phrases; anything else is not the input's fault.
const DECODE_FAILURE_RE =
  /corrupt|premature|truncat|read error|bad seek|invalid input|unable to|not a known|unsupported image format|jpeg|png|webp|gif|tiff|heif|load|decod|exceeds pixel limit|end of (file|data|image)/i;

const ENCODE_FAILURE_RE = /save|too large for the|write/i;

/** Turns a libvips/sharp failure while reading the input into an ImageError; leaves other errors as they are. */
export function asImageError(err: unknown, format?: string): unknown {
  if (err instanceof AtelierError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/exceeds pixel limit/i.test(message)) {
    return new ImageError('input_resolution_too_large', 'The input image has more pixels than this server accepts.', {
      format,
    });
  }
  // libvips lists the root cause first; later lines are the knock-on failures of downstream operations
  // (a truncated input also makes the encoder report that it could not write).
  const cause = firstLine(message);
  if (DECODE_FAILURE_RE.test(cause) && !ENCODE_FAILURE_RE.test(cause)) {
    return new ImageError(
      'corrupt_image',
      `The input image could not be decoded; it may be truncated or damaged (${cause}).`,
      { format },
    );
  }
  return err;
}

function firstLine(s: string): string {
  const line = s.split('\n')[0] ?? s;
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}
