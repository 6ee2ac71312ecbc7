// The `output` options: which format and encoder settings, DPI, and colour space, and the final encode.
//
// resolveOutput applies the contract's defaults and refuses impossible combinations before any pixel work;
// planOutput settles the colour space once the input is known; encodeOutput turns a sharp pipeline into the file.
//
// Encoder choices where the contract gives only names (docs/adjustments-and-output.md has the measurements):
//   png  fast → zlib level 1, no row filters; optimal → level 6 + adaptive filters; best → level 9 + adaptive
//   avif libavif effort 2 (of 0–9): ~6× faster than its default 4 for ~10 % larger files
//   jpeg quality ≥ 90 keeps full-resolution chroma (4:4:4); below, the usual 4:2:0
// Colour (docs/color-profiles.md): without `color_space` the output keeps the input's colour space — CMYK
// stays CMYK (JPEG, TIFF) with the input's own profile, a wide-gamut RGB profile is kept, greyscale stays
// greyscale, and sRGB or untagged inputs give untagged sRGB. `RGB` converts to sRGB and embeds the sRGB
// profile. `CMYK` separates through the named print profile and embeds it (JPEG and TIFF only).
import { createHash } from 'node:crypto';
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
import type { InputColour } from './decode.js';
import { iccDescription, withProfileFile } from './icc.js';
import { describeImage } from './image-object.js';

export type PngCompression = 'fast' | 'optimal' | 'best';

export type EncoderSettings =
  | { format: 'jpeg'; quality: number; progressive: boolean }
  | { format: 'png'; compression: PngCompression }
  | { format: 'webp'; lossless: boolean; quality: number }
  | { format: 'avif'; lossless: boolean; quality: number }
  | { format: 'tiff'; lossless: boolean; quality: number };

/** What the request asks for; `default` is settled against the input by planOutput. */
export type OutputColorSpace =
  /** Not asked for: keep the input's colour space. */
  | { type: 'default' }
  | { type: 'RGB' }
  | { type: 'CMYK'; profile: CmykProfileName };

/** Where the CMYK separation of an output comes from. */
export type CmykSource =
  /** A contract profile name (`color_space: CMYK`). */
  | { kind: 'named'; name: CmykProfileName }
  /** The input's own embedded CMYK profile, embedded again. */
  | { kind: 'input'; icc: Buffer }
  /**
   * An untagged CMYK input: libvips reads it through its built-in CMYK profile, so the output is separated
   * through the same one and, like the input, left untagged.
   */
  | { kind: 'untagged' };

/** The colour space of the written file, settled from the request and the input. */
export type OutputColour =
  /** sRGB; `embed` writes libvips' sRGB profile (asked for with `RGB`, or the fallback for a CMYK input). */
  | { space: 'srgb'; embed: boolean }
  /** One channel (plus alpha), no profile: a greyscale input kept greyscale. */
  | { space: 'grey' }
  /** The input's own RGB profile, wider than sRGB, kept and embedded. */
  | { space: 'rgb'; icc: Buffer }
  | { space: 'cmyk'; source: CmykSource };

export interface ResolvedOutput {
  format: OutputFormatName;
  /**
   * Whether the encoded file can carry transparency (false for JPEG, JPEG-in-TIFF and any CMYK output). From
   * resolveOutput this reflects the request alone; planOutput settles it for the input (a CMYK input kept CMYK
   * loses it).
   */
  supportsAlpha: boolean;
  destination?: string;
  encoder: EncoderSettings;
  /** Dots per inch written into the file, when asked for. */
  dpi?: number;
  colorSpace: OutputColorSpace;
}

/** A resolved output with its colour space settled for one input. */
export interface OutputPlan extends ResolvedOutput {
  colour: OutputColour;
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

function canHoldCmyk(format: OutputFormatName): boolean {
  return format === 'jpeg' || format === 'tiff';
}

/**
 * The output's colour space for this input. Explicit requests win whatever the input; the default keeps the
 * input's colour space where the format can store it:
 * - CMYK input → CMYK through its own profile (JPEG, TIFF); PNG, WebP and AVIF cannot hold CMYK, so sRGB with
 *   the sRGB profile embedded (the profile says plainly that the file was converted).
 * - RGB input with a profile wider than sRGB → that profile, embedded (every output format can carry one).
 * - greyscale input → greyscale. The runner passes a grey input as RGB when a coloured background is asked
 *   for, since the fill must keep its colour.
 * - anything else → sRGB without a profile, which every reader takes as sRGB.
 */
export function planColour(colorSpace: OutputColorSpace, format: OutputFormatName, input: InputColour): OutputColour {
  if (colorSpace.type === 'RGB') return { space: 'srgb', embed: true };
  if (colorSpace.type === 'CMYK') return { space: 'cmyk', source: { kind: 'named', name: colorSpace.profile } };
  switch (input.space) {
    case 'cmyk':
      if (!canHoldCmyk(format)) return { space: 'srgb', embed: true };
      return { space: 'cmyk', source: input.icc ? { kind: 'input', icc: input.icc } : { kind: 'untagged' } };
    case 'rgb':
      return input.icc ? { space: 'rgb', icc: input.icc } : { space: 'srgb', embed: false };
    case 'grey':
      return { space: 'grey' };
  }
}

/** Settles the colour space (and with it whether alpha survives) once the input is known. */
export function planOutput(out: ResolvedOutput, input: InputColour): OutputPlan {
  const colour = planColour(out.colorSpace, out.format, input);
  return { ...out, colour, supportsAlpha: canHoldAlpha(out.encoder) && colour.space !== 'cmyk' };
}

/**
 * Whether a pipeline read straight from the encoded input may keep the input's pixel values: true when the
 * output is in the input's own colour space (its CMYK inks or its wide-gamut RGB), so no conversion to sRGB
 * and back is needed. The caller must also make sure no fill colour (given in sRGB) reaches the pixels.
 */
export function keepsInputPixels(plan: OutputPlan): boolean {
  if (plan.colour.space === 'rgb') return true;
  return plan.colour.space === 'cmyk' && plan.colour.source.kind !== 'named';
}

/** For profiling: the written colour space and profile. */
export function describeColour(colour: OutputColour): { color_space: string; icc_profile?: string } {
  switch (colour.space) {
    case 'srgb':
      return colour.embed ? { color_space: 'srgb', icc_profile: 'sRGB (libvips built-in)' } : { color_space: 'srgb' };
    case 'grey':
      return { color_space: 'grey' };
    case 'rgb':
      return { color_space: 'rgb', icc_profile: iccDescription(colour.icc) ?? 'input profile' };
    case 'cmyk':
      switch (colour.source.kind) {
        case 'named':
          return { color_space: 'cmyk', icc_profile: CMYK_PROFILES[colour.source.name].description };
        case 'input':
          return { color_space: 'cmyk', icc_profile: iccDescription(colour.source.icc) ?? 'input profile' };
        case 'untagged':
          return { color_space: 'cmyk' };
      }
  }
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

/**
 * Encodes the pipeline as asked and describes the result with its real dimensions. `colour` is the colour
 * space actually written: the plan's, unless the input's own profile turned out unusable (see usableProfile).
 *
 * `pixels` says what `image` holds: `srgb` (the default) for sRGB pixels, as libvips decodes any input unless
 * told otherwise and as raw pipelines always are; `input` for a pipeline read straight from the encoded input
 * that may keep the input's own colour values (only when keepsInputPixels(plan) holds).
 */
export async function encodeOutput(
  image: Sharp,
  plan: OutputPlan,
  pixels: 'srgb' | 'input' = 'srgb',
): Promise<{ data: Buffer; info: ImageObject; colour: OutputColour }> {
  if (pixels === 'input' && !keepsInputPixels(plan)) {
    throw new Error(`the ${plan.colour.space} output cannot keep the input's pixels`);
  }
  let pipeline = image;
  // The runner flattens onto the requested background already; this only guards against a stray alpha
  // channel reaching a format or colour space that cannot hold it (sharp flattens only when alpha exists).
  if (!plan.supportsAlpha) pipeline = pipeline.flatten({ background: '#ffffff' });
  if (plan.dpi !== undefined) pipeline = pipeline.withDensity(plan.dpi);

  const encode = async (colour: OutputColour, profilePath?: string) => {
    const { data, info } = await applyEncoder(applyColour(pipeline, colour, pixels, profilePath), plan.encoder).toBuffer({
      resolveWithObject: true,
    });
    return { data, info, colour };
  };
  // Converting sRGB pixels into a profile that exists only in memory needs it as a file (see icc.ts).
  const inMemory = pixels === 'srgb' ? profileToWrite(plan.colour) : undefined;
  const { data, info, colour } = inMemory
    ? await withProfileFile(inMemory, async (path) =>
        (await usableProfile(inMemory, path, plan.colour.space)) ? encode(plan.colour, path) : encode(withoutProfile(plan.colour)),
      )
    : await encode(plan.colour);

  if (colour.space === 'cmyk') await assertCmyk(data, colour.source);
  return { data, info: describeImage(plan.format, info.width, info.height), colour };
}

/**
 * What an input whose profile libvips cannot use becomes. libvips read such an input without the profile
 * (RGB as sRGB, CMYK through its built-in CMYK profile), so the output is written the same way.
 */
function withoutProfile(colour: OutputColour): OutputColour {
  if (colour.space === 'rgb') return { space: 'srgb', embed: false };
  if (colour.space === 'cmyk' && colour.source.kind === 'input') return { space: 'cmyk', source: { kind: 'untagged' } };
  return colour;
}

/** Verdicts on input profiles by content hash, so that a profile seen again costs no test conversion. */
const profileVerdicts = new Map<string, boolean>();
const MAX_PROFILE_VERDICTS = 256;

/**
 * Whether libvips can convert into this profile. sharp only logs a warning when it cannot (a damaged or
 * unsupported embedded profile) and then writes the pixels unconverted, so one pixel is converted first.
 */
async function usableProfile(icc: Buffer, path: string, space: OutputColour['space']): Promise<boolean> {
  const key = createHash('sha256').update(icc).digest('hex');
  const known = profileVerdicts.get(key);
  if (known !== undefined) return known;
  const probe = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } })
    .withIccProfile(path)
    .tiff()
    .toBuffer();
  const meta = await sharp(probe).metadata();
  const usable = meta.icc !== undefined && meta.space === (space === 'cmyk' ? 'cmyk' : 'srgb');
  if (profileVerdicts.size >= MAX_PROFILE_VERDICTS) {
    const oldest = profileVerdicts.keys().next();
    if (!oldest.done) profileVerdicts.delete(oldest.value);
  }
  profileVerdicts.set(key, usable);
  return usable;
}

function profileToWrite(colour: OutputColour): Buffer | undefined {
  if (colour.space === 'rgb') return colour.icc;
  if (colour.space === 'cmyk' && colour.source.kind === 'input') return colour.source.icc;
  return undefined;
}

function applyColour(image: Sharp, colour: OutputColour, pixels: 'srgb' | 'input', profilePath: string | undefined): Sharp {
  if (pixels === 'input') {
    // No conversion at all: libvips leaves the decoded values alone and the saver writes the input's profile
    // again. A CMYK input must also be processed as CMYK, or libvips would turn it into sRGB first.
    const kept = image.keepIccProfile();
    return colour.space === 'cmyk' ? kept.pipelineColourspace('cmyk').toColourspace('cmyk') : kept;
  }
  switch (colour.space) {
    case 'srgb':
      return colour.embed ? image.withIccProfile('srgb') : image;
    case 'grey':
      return image.toColourspace('b-w');
    case 'rgb':
      return image.withIccProfile(requirePath(profilePath));
    case 'cmyk':
      switch (colour.source.kind) {
        case 'named':
          return image.withIccProfile(cmykProfilePath(colour.source.name));
        case 'input':
          return image.withIccProfile(requirePath(profilePath));
        case 'untagged':
          return image.withIccProfile('cmyk', { attach: false });
      }
  }
}

function requirePath(path: string | undefined): string {
  if (path === undefined) throw new Error('the input profile was not written to a file');
  return path;
}

function describeSource(source: CmykSource): string {
  switch (source.kind) {
    case 'named':
      return CMYK_PROFILES[source.name].file;
    case 'input':
      return `the input's profile (${iccDescription(source.icc) ?? 'no description'})`;
    case 'untagged':
      return "libvips' built-in CMYK profile";
  }
}

/**
 * sharp only warns when an output profile cannot be applied and then writes RGB; a CMYK output must never
 * silently be RGB, so the header of the result is checked (cheap: no pixels are decoded).
 */
async function assertCmyk(data: Buffer, source: CmykSource): Promise<void> {
  const meta = await sharp(data).metadata();
  const profiled = source.kind === 'untagged' ? meta.icc === undefined : meta.icc !== undefined;
  if (meta.space !== 'cmyk' || !profiled) {
    throw new Error(`CMYK conversion through ${describeSource(source)} did not produce the expected CMYK file`);
  }
}
