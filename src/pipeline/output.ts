// The `output` options: which format and encoder settings, DPI, and colour space, and the final encode.
//
// resolveOutput applies the contract's defaults and refuses impossible combinations before any pixel work;
// encodeOutput turns a sharp pipeline into the file.
//
// Encoder choices where the contract gives only names (docs/adjustments-and-output.md has the measurements):
//   png  fast → zlib level 1, no row filters; optimal → level 6 + adaptive filters; best → level 9 + adaptive
//   avif libavif effort 2 (of 0–9): ~6× faster than its default 4 for ~10 % larger files
//   jpeg quality ≥ 90 keeps full-resolution chroma (4:4:4); below, the usual 4:2:0
// Colour: without `color_space` the output is sRGB (libvips converts any input, CMYK included, to sRGB) and
// carries no profile, which every viewer reads as sRGB. `RGB` asks for the same pixels with the sRGB profile
// embedded. `CMYK` separates through the chosen print profile and embeds it (JPEG and TIFF only); which
// profile stands behind each contract name, and why, is in docs/color-profiles.md.
import sharp, { type Sharp } from 'sharp';
import type {
  CmykProfileName,
  ColorSpaceOption,
  ImageObject,
  ImageOutputOptions,
  LossyOrLossless,
  OutputFormat,
  OutputFormatName,
} from '../contract/types.js';
import { ValidationError } from '../errors.js';
import { CMYK_PROFILES, DEFAULT_CMYK_PROFILE, cmykProfilePath } from './color-profiles.js';
import { describeImage } from './image-object.js';

export type PngCompression = 'fast' | 'optimal' | 'best';

export type EncoderSettings =
  | { format: 'jpeg'; quality: number; progressive: boolean }
  | { format: 'png'; compression: PngCompression }
  | { format: 'webp'; lossless: boolean; quality: number }
  | { format: 'avif'; lossless: boolean; quality: number }
  | { format: 'tiff'; lossless: boolean; quality: number };

export type OutputColorSpace =
  /** Not asked for: sRGB pixels, no profile embedded. */
  | { type: 'default' }
  | { type: 'RGB' }
  | { type: 'CMYK'; profile: CmykProfileName };

export interface ResolvedOutput {
  format: OutputFormatName;
  /** Whether the encoded file can carry transparency (false for JPEG, JPEG-in-TIFF and any CMYK output). */
  supportsAlpha: boolean;
  destination?: string;
  encoder: EncoderSettings;
  /** Dots per inch written into the file, when asked for. */
  dpi?: number;
  colorSpace: OutputColorSpace;
}

export const DEFAULT_FORMAT: OutputFormatName = 'jpeg';
export const JPEG_DEFAULT_QUALITY = 85;
export const WEBP_DEFAULT_QUALITY = 75;
export const AVIF_DEFAULT_QUALITY = 50;
export const TIFF_DEFAULT_QUALITY = 75;
/** JFIF stores density in 16 bits, the tightest limit among the formats. */
export const MAX_DPI = 65535;
const AVIF_EFFORT = 2;

const PNG_SETTINGS: Record<PngCompression, { compressionLevel: number; adaptiveFiltering: boolean }> = {
  fast: { compressionLevel: 1, adaptiveFiltering: false },
  optimal: { compressionLevel: 6, adaptiveFiltering: true },
  best: { compressionLevel: 9, adaptiveFiltering: true },
};

function formatName(format: OutputFormat): OutputFormatName {
  return typeof format === 'string' ? format : format.type;
}

/** `"lossy"`, `"lossless"` or the object forms, with the format's default quality. */
export function resolveCompression(
  compression: LossyOrLossless | undefined,
  defaultQuality: number,
  defaultLossless: boolean,
): { lossless: boolean; quality: number } {
  if (compression === undefined) return { lossless: defaultLossless, quality: defaultQuality };
  if (compression === 'lossless' || (typeof compression === 'object' && compression.type === 'lossless')) {
    return { lossless: true, quality: defaultQuality };
  }
  const quality = typeof compression === 'object' && compression.type === 'lossy' ? compression.quality : undefined;
  return { lossless: false, quality: quality ?? defaultQuality };
}

export function resolveEncoder(format: OutputFormat | undefined): EncoderSettings {
  const spec = format ?? DEFAULT_FORMAT;
  const options = typeof spec === 'string' ? undefined : spec;
  switch (formatName(spec)) {
    case 'jpeg': {
      const o = options?.type === 'jpeg' ? options : undefined;
      return { format: 'jpeg', quality: o?.quality ?? JPEG_DEFAULT_QUALITY, progressive: o?.progressive ?? true };
    }
    case 'png': {
      const o = options?.type === 'png' ? options : undefined;
      return { format: 'png', compression: o?.compression ?? 'optimal' };
    }
    case 'webp': {
      const o = options?.type === 'webp' ? options : undefined;
      return { format: 'webp', ...resolveCompression(o?.compression, WEBP_DEFAULT_QUALITY, false) };
    }
    case 'avif': {
      const o = options?.type === 'avif' ? options : undefined;
      return { format: 'avif', ...resolveCompression(o?.compression, AVIF_DEFAULT_QUALITY, false) };
    }
    case 'tiff': {
      const o = options?.type === 'tiff' ? options : undefined;
      return { format: 'tiff', ...resolveCompression(o?.compression, TIFF_DEFAULT_QUALITY, true) };
    }
  }
}

export function resolveColorSpace(option: ColorSpaceOption | undefined, format: OutputFormatName): OutputColorSpace {
  if (option === undefined) return { type: 'default' };
  const type = typeof option === 'string' ? option : option.type;
  if (type === 'RGB') return { type: 'RGB' };
  if (format !== 'jpeg' && format !== 'tiff') {
    throw new ValidationError(`CMYK output needs the jpeg or tiff format; ${format} cannot store CMYK.`, {
      field: 'output.metadata.color_space',
      value: option,
    });
  }
  const profile = typeof option === 'object' && option.type === 'CMYK' ? option.color_profile : undefined;
  return { type: 'CMYK', profile: profile ?? DEFAULT_CMYK_PROFILE };
}

function resolveDpi(dpi: number | undefined): number | undefined {
  if (dpi === undefined) return undefined;
  if (!Number.isInteger(dpi) || dpi < 1 || dpi > MAX_DPI) {
    throw new ValidationError(`output.metadata.dpi must be an integer from 1 to ${MAX_DPI}; got ${dpi}.`, {
      field: 'output.metadata.dpi',
      value: dpi,
    });
  }
  return dpi;
}

/** JPEG has no alpha, and libtiff drops it from JPEG-compressed TIFF. */
function canHoldAlpha(encoder: EncoderSettings): boolean {
  if (encoder.format === 'jpeg') return false;
  if (encoder.format === 'tiff') return encoder.lossless;
  return true;
}

/** Applies the contract's defaults; throws ValidationError for combinations no file can hold. */
export function resolveOutput(output: ImageOutputOptions): ResolvedOutput {
  const encoder = resolveEncoder(output.format);
  const colorSpace = resolveColorSpace(output.metadata?.color_space, encoder.format);
  const dpi = resolveDpi(output.metadata?.dpi);
  const resolved: ResolvedOutput = {
    format: encoder.format,
    supportsAlpha: canHoldAlpha(encoder) && colorSpace.type !== 'CMYK',
    encoder,
    colorSpace,
  };
  if (output.destination !== undefined) resolved.destination = output.destination;
  if (dpi !== undefined) resolved.dpi = dpi;
  return resolved;
}

function applyEncoder(image: Sharp, encoder: EncoderSettings): Sharp {
  switch (encoder.format) {
    case 'jpeg':
      return image.jpeg({
        quality: encoder.quality,
        progressive: encoder.progressive,
        chromaSubsampling: encoder.quality >= 90 ? '4:4:4' : '4:2:0',
      });
    case 'png':
      return image.png(PNG_SETTINGS[encoder.compression]);
    case 'webp':
      return encoder.lossless ? image.webp({ lossless: true }) : image.webp({ quality: encoder.quality });
    case 'avif':
      return encoder.lossless
        ? image.avif({ lossless: true, effort: AVIF_EFFORT })
        : image.avif({ quality: encoder.quality, effort: AVIF_EFFORT });
    case 'tiff':
      return encoder.lossless
        ? image.tiff({ compression: 'lzw', predictor: 'horizontal' })
        : image.tiff({ compression: 'jpeg', quality: encoder.quality });
  }
}

/** Encodes the pipeline as asked and describes the result with its real dimensions. */
export async function encodeOutput(image: Sharp, out: ResolvedOutput): Promise<{ data: Buffer; info: ImageObject }> {
  let pipeline = image;
  // The runner flattens onto the requested background already; this only guards against a stray alpha
  // channel reaching a format or colour space that cannot hold it (sharp flattens only when alpha exists).
  if (!out.supportsAlpha) pipeline = pipeline.flatten({ background: '#ffffff' });
  if (out.dpi !== undefined) pipeline = pipeline.withDensity(out.dpi);
  if (out.colorSpace.type === 'RGB') pipeline = pipeline.withIccProfile('srgb');
  if (out.colorSpace.type === 'CMYK') pipeline = pipeline.withIccProfile(cmykProfilePath(out.colorSpace.profile));
  pipeline = applyEncoder(pipeline, out.encoder);

  const { data, info } = await pipeline.toBuffer({ resolveWithObject: true });
  if (out.colorSpace.type === 'CMYK') await assertCmyk(data, out.colorSpace.profile);
  return { data, info: describeImage(out.format, info.width, info.height) };
}

/**
 * sharp only warns when an output profile cannot be applied and then writes RGB; a CMYK request must never
 * silently produce RGB, so the header of the result is checked (cheap: no pixels are decoded).
 */
async function assertCmyk(data: Buffer, profile: CmykProfileName): Promise<void> {
  const meta = await sharp(data).metadata();
  if (meta.space !== 'cmyk' || !meta.icc) {
    throw new Error(`CMYK conversion through ${CMYK_PROFILES[profile].file} did not produce a CMYK file`);
  }
}
