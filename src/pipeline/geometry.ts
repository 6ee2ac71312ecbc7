// Pure size maths for resizing and padding: no pixels here, only the numbers the sharp adapters execute.
// Deciding every output size in one place, with integer rounding we control, is what makes the output
// dimensions exact (sharp is then told the exact sizes instead of deriving its own).
import type { FitOption, ResizingOptions } from '../contract/types.js';
import { ValidationError } from '../errors.js';

export interface Size {
  width: number;
  height: number;
}

export interface OutputLimits {
  maxOutputSide: number;
  maxOutputPixels: number;
}

export type ParsedSize = { kind: 'auto' } | { kind: 'px'; value: number } | { kind: 'percent'; value: number };

const PERCENT_RE = /^(\d+(?:\.\d+)?)%$/;

const SIZE_FORMS = 'an integer number of pixels (e.g. 800), a percentage string (e.g. "50%" or "12.5%"), or "auto"';

/** Parses one `resizing.width` / `resizing.height` value. `field` is the request path used in errors. */
export function parseSize(value: unknown, field: string): ParsedSize {
  if (value === undefined || value === null || value === 'auto') return { kind: 'auto' };
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) {
      throw new ValidationError(`${field} must be ${SIZE_FORMS}; got ${value}.`, { field, value });
    }
    if (value <= 0) {
      throw new ValidationError(`${field} must be a positive number of pixels; got ${value}.`, { field, value });
    }
    return { kind: 'px', value };
  }
  if (typeof value === 'string') {
    const m = PERCENT_RE.exec(value.trim());
    if (m) {
      const pct = Number(m[1]);
      if (!(pct > 0)) {
        throw new ValidationError(`${field} must be a percentage above 0%; got "${value}".`, { field, value });
      }
      return { kind: 'percent', value: pct };
    }
  }
  throw new ValidationError(`${field} must be ${SIZE_FORMS}; got ${JSON.stringify(value)}.`, { field, value });
}

export type FitKind = 'crop' | 'cover' | 'bounds' | 'canvas' | 'outpaint';
export type CropStrategy = 'center' | 'smart';

export interface NormalisedFit {
  type: FitKind;
  crop: CropStrategy;
}

const FIT_KINDS: readonly string[] = ['crop', 'cover', 'bounds', 'canvas', 'outpaint'];

/** Normalises `resizing.fit` (string or object form). The schema validates requests first; this is the backstop. */
export function normaliseFit(fit: FitOption | undefined): NormalisedFit {
  if (fit === undefined || fit === null) return { type: 'crop', crop: 'center' };
  const type: unknown = typeof fit === 'string' ? fit : (fit as { type?: unknown }).type;
  if (typeof type !== 'string' || !FIT_KINDS.includes(type)) {
    throw new ValidationError(`operations.resizing.fit must be one of ${FIT_KINDS.join(', ')}; got ${JSON.stringify(fit)}.`, {
      field: 'operations.resizing.fit',
      value: fit,
    });
  }
  if (typeof fit === 'object' && fit.type === 'crop' && fit.crop !== undefined) {
    if (fit.crop !== 'center' && fit.crop !== 'smart') {
      throw new ValidationError(`operations.resizing.fit.crop must be "center" or "smart"; got ${JSON.stringify(fit.crop)}.`, {
        field: 'operations.resizing.fit.crop',
        value: fit.crop,
      });
    }
    return { type: 'crop', crop: fit.crop };
  }
  return { type: type as FitKind, crop: 'center' };
}

export interface ParsedResizing {
  width: ParsedSize;
  height: ParsedSize;
  fit: NormalisedFit;
}

/**
 * Parses `resizing` and enforces the pairing rule, without needing the input: lets the runner refuse a bad
 * request before reading the image. A percentage pairs only with "auto" or the very same percentage.
 */
export function parseResizing(resizing: ResizingOptions | undefined): ParsedResizing {
  const width = parseSize(resizing?.width, 'operations.resizing.width');
  const height = parseSize(resizing?.height, 'operations.resizing.height');
  const fit = normaliseFit(resizing?.fit);
  if (width.kind === 'percent' || height.kind === 'percent') {
    const [pct, other, otherField] =
      width.kind === 'percent' ? [width, height, 'operations.resizing.height'] : [height, width, 'operations.resizing.width'];
    if (other.kind === 'px') {
      throw new ValidationError(
        `${otherField} cannot be in pixels when the other side is a percentage; use the same percentage or "auto".`,
        { field: otherField },
      );
    }
    if (other.kind === 'percent' && pct.kind === 'percent' && other.value !== pct.value) {
      throw new ValidationError(
        'operations.resizing.width and operations.resizing.height must be the same percentage (or one of them "auto").',
        { field: otherField },
      );
    }
  }
  return { width, height, fit };
}

/**
 * What the resizing step must do, fully resolved to pixels.
 * - `scale`: resize the whole image to `output` (aspect kept up to rounding; one side auto or percentages).
 * - `crop`: scale to cover `output`, then crop to exactly `output` (centre or attention), via `scaled`.
 * - `cover` / `bounds`: resize the whole image to `output`.
 * - `canvas`: resize to `content`, then place it at `offset` on an `output`-sized canvas.
 */
export type ResizePlan =
  | { mode: 'scale' | 'cover' | 'bounds'; output: Size }
  | { mode: 'crop'; output: Size; scaled: Size; crop: CropStrategy }
  | { mode: 'canvas'; output: Size; content: Size; offset: { left: number; top: number } };

/** Rounds a derived side, never below one pixel. */
function side(x: number): number {
  return Math.max(1, Math.round(x));
}

/** Scales `src` so that it covers `box` (both sides ≥ the box), keeping aspect. One side equals the box. */
export function coverSize(src: Size, box: Size): Size {
  // Compare ratios by cross-multiplying so the deciding side is chosen without floating-point noise.
  if (box.width * src.height >= box.height * src.width) {
    return { width: box.width, height: Math.max(box.height, side((src.height * box.width) / src.width)) };
  }
  return { width: Math.max(box.width, side((src.width * box.height) / src.height)), height: box.height };
}

/** Scales `src` so that it fits inside `box` (both sides ≤ the box), keeping aspect. One side equals the box. */
export function containSize(src: Size, box: Size): Size {
  if (box.width * src.height <= box.height * src.width) {
    return { width: box.width, height: Math.min(box.height, side((src.height * box.width) / src.width)) };
  }
  return { width: Math.min(box.width, side((src.width * box.height) / src.height)), height: box.height };
}

/** Offsets that centre `content` in `box`; odd leftovers go to the right/bottom. */
export function centreOffset(content: Size, box: Size): { left: number; top: number } {
  return { left: Math.floor((box.width - content.width) / 2), top: Math.floor((box.height - content.height) / 2) };
}

export function checkOutputSize(size: Size, limits: OutputLimits, field: string): void {
  if (size.width > limits.maxOutputSide || size.height > limits.maxOutputSide) {
    throw new ValidationError(
      `The resulting image would be ${size.width}x${size.height} pixels; each side may be at most ${limits.maxOutputSide} pixels.`,
      { field, width: size.width, height: size.height, max_side: limits.maxOutputSide },
      'output_too_large',
    );
  }
  if (size.width * size.height > limits.maxOutputPixels) {
    throw new ValidationError(
      `The resulting image would be ${size.width}x${size.height} pixels (${size.width * size.height}); at most ${limits.maxOutputPixels} pixels are allowed.`,
      { field, width: size.width, height: size.height, pixels: size.width * size.height, max_pixels: limits.maxOutputPixels },
      'output_too_large',
    );
  }
}

/**
 * Validates the width/height pairing rule and resolves the request into a plan for an input of size `src`
 * (upright). Returns null when nothing needs resizing (both sides auto, or a plan that leaves the image as is).
 */
export function planResize(src: Size, resizing: ResizingOptions | undefined, limits: OutputLimits): ResizePlan | null {
  const plan = planResizeRaw(src, resizing, limits);
  // Every mode keeps the aspect ratio, so a plan whose output is the input size changes nothing.
  if (plan && plan.output.width === src.width && plan.output.height === src.height) return null;
  return plan;
}

function planResizeRaw(src: Size, resizing: ResizingOptions | undefined, limits: OutputLimits): ResizePlan | null {
  if (!resizing) return null;
  const { width: w, height: h, fit } = parseResizing(resizing);

  if (w.kind === 'percent' || h.kind === 'percent') {
    // parseResizing guarantees both percentages are equal when both are given.
    const pct = w.kind === 'percent' ? w.value : h.kind === 'percent' ? h.value : 100;
    const output = { width: side((src.width * pct) / 100), height: side((src.height * pct) / 100) };
    checkOutputSize(output, limits, 'operations.resizing');
    return { mode: 'scale', output };
  }

  // One side given: scale to it keeping the aspect ratio; the fit mode has nothing to decide.
  if (w.kind === 'px' && h.kind === 'auto') {
    const output = { width: w.value, height: side((src.height * w.value) / src.width) };
    checkOutputSize(output, limits, 'operations.resizing');
    return { mode: 'scale', output };
  }
  if (w.kind === 'auto' && h.kind === 'px') {
    const output = { width: side((src.width * h.value) / src.height), height: h.value };
    checkOutputSize(output, limits, 'operations.resizing');
    return { mode: 'scale', output };
  }
  if (w.kind !== 'px' || h.kind !== 'px') return null;

  const box = { width: w.value, height: h.value };
  switch (fit.type) {
    case 'crop': {
      checkOutputSize(box, limits, 'operations.resizing');
      const scaled = coverSize(src, box);
      // libvips streams the intermediate, but a pathological aspect ratio could still make it enormous.
      checkOutputSize(scaled, { maxOutputSide: Number.MAX_SAFE_INTEGER, maxOutputPixels: limits.maxOutputPixels }, 'operations.resizing');
      return { mode: 'crop', output: box, scaled, crop: fit.crop };
    }
    case 'cover': {
      const output = coverSize(src, box);
      checkOutputSize(output, limits, 'operations.resizing');
      return { mode: 'cover', output };
    }
    case 'bounds': {
      const output = containSize(src, box);
      checkOutputSize(output, limits, 'operations.resizing');
      return { mode: 'bounds', output };
    }
    case 'canvas': {
      checkOutputSize(box, limits, 'operations.resizing');
      const content = containSize(src, box);
      return { mode: 'canvas', output: box, content, offset: centreOffset(content, box) };
    }
    case 'outpaint':
      // The runner refuses outpainting before planning; reaching here is a programming error.
      throw new Error('outpaint fit cannot be planned by the geometry module');
  }
}

// ---------------------------------------------------------------------------------------------------------
// Padding

export type PadValue = { unit: 'px'; value: number } | { unit: 'percent'; value: number };

export interface ParsedPadding {
  /** Applied to the top and the bottom; percentages are of the image height. */
  vertical: PadValue;
  /** Applied to the left and the right; percentages are of the image width. */
  horizontal: PadValue;
}

const PAD_TOKEN_RE = /^(\d+(?:\.\d+)?)(%|px)?$/;

const PADDING_FORMS =
  'one value for all sides or two values "HEIGHT WIDTH" separated by a space, each in percent ("10%", "2.5%") or pixels ("20px" or "20")';

function parsePadToken(token: string, raw: string): PadValue {
  const m = PAD_TOKEN_RE.exec(token);
  if (!m) {
    throw new ValidationError(`operations.padding must be ${PADDING_FORMS}; got ${JSON.stringify(raw)}.`, {
      field: 'operations.padding',
      value: raw,
    });
  }
  const n = Number(m[1]);
  if (m[2] === '%') return { unit: 'percent', value: n };
  if (!Number.isInteger(n)) {
    throw new ValidationError(`operations.padding pixel values must be whole numbers (${PADDING_FORMS}); got ${JSON.stringify(raw)}.`, {
      field: 'operations.padding',
      value: raw,
    });
  }
  return { unit: 'px', value: n };
}

export function parsePadding(raw: unknown): ParsedPadding {
  if (typeof raw !== 'string') {
    throw new ValidationError(`operations.padding must be a string: ${PADDING_FORMS}.`, {
      field: 'operations.padding',
      value: raw,
    });
  }
  const tokens = raw.trim().split(/\s+/).filter((t) => t.length > 0);
  if (tokens.length === 0 || tokens.length > 2) {
    throw new ValidationError(`operations.padding must be ${PADDING_FORMS}; got ${JSON.stringify(raw)}.`, {
      field: 'operations.padding',
      value: raw,
    });
  }
  const vertical = parsePadToken(tokens[0] as string, raw);
  const horizontal = tokens.length === 2 ? parsePadToken(tokens[1] as string, raw) : vertical;
  return { vertical, horizontal };
}

function padPixels(pad: PadValue, length: number): number {
  return pad.unit === 'px' ? pad.value : Math.round((length * pad.value) / 100);
}

export interface PaddingPlan {
  /** Unchanged by padding: the image keeps its size. */
  output: Size;
  /** Padding in pixels on each side of the inner box. */
  pad: { vertical: number; horizontal: number };
  /** The inner box the content must fit in. */
  inner: Size;
  /** The content's size after fitting into the inner box, and where it sits (centred) in the output. */
  content: Size;
  offset: { left: number; top: number };
}

/** Resolves padding for an image of size `size`. Returns null when the padding is zero on every side. */
export function planPadding(size: Size, padding: ParsedPadding): PaddingPlan | null {
  const vertical = padPixels(padding.vertical, size.height);
  const horizontal = padPixels(padding.horizontal, size.width);
  // The inner box must keep at least one pixel: padding reaching half of a side would leave nothing.
  if (2 * vertical >= size.height) {
    throw new ValidationError('padding cannot be more than half of the image height.', {
      field: 'operations.padding',
      padding_px: vertical,
      height: size.height,
    });
  }
  if (2 * horizontal >= size.width) {
    throw new ValidationError('padding cannot be more than half of the image width.', {
      field: 'operations.padding',
      padding_px: horizontal,
      width: size.width,
    });
  }
  if (vertical === 0 && horizontal === 0) return null;
  const inner = { width: size.width - 2 * horizontal, height: size.height - 2 * vertical };
  const content = containSize(size, inner);
  return { output: size, pad: { vertical, horizontal }, inner, content, offset: centreOffset(content, size) };
}
