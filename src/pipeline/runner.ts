// Runs one edit: refuse what this build cannot do, probe the input, plan every size, then execute.
// Order of operations: decode + orient → resizing → adjustments → padding → background colour → encode.
//
// Two execution paths, chosen after planning:
// - single pass: nothing needs pixels in JavaScript (no adjustments, no padding, no translucent fill), so
//   decode, resize, canvas and encode run as ONE libvips pipeline from the encoded input. libvips then shrinks
//   on load (JPEG DCT scaling, WebP/AVIF/TIFF pyramid hints) and streams strips, so memory stays near the
//   output size even for very large inputs.
// - staged: the first pipeline produces raw pixels at the resized (output) size; adjustments, padding and the
//   background fill then work on that, and the last pipeline encodes. Canvas and padding margins stay
//   transparent until the background step so that adjustments never alter the requested colour.
//
// Colour: without `color_space` the output keeps the input's colour space (output.ts, planOutput), which is
// only known after probing. The staged path works on sRGB pixels and converts into the output's space at the
// encode; the single pass keeps the input's own values (CMYK inks, wide-gamut RGB) when no fill colour is
// painted into them, and otherwise converts the same way.
import type { ImageObject, ImageOperations, ImageOutputOptions } from '../contract/types.js';
import { applyAdjustments, hasAdjustments } from './adjustments.js';
import {
  applyFill,
  isOpaque,
  isTransparent,
  isWhite,
  parseBackgroundColour,
  resolveFill,
  toSharpColour,
  TRANSPARENT,
  type BackgroundColour,
  type Rgba,
} from './background.js';
import { asImageError, openInput, probeInput, type InputColour } from './decode.js';
import { checkOutputSize, parsePadding, parseResizing, planPadding, planResize, type ParsedPadding } from './geometry.js';
import type { EditJob, EditResult, PipelineLimits } from './index.js';
import { describeColour, encodeOutput, keepsInputPixels, planOutput, resolveOutput } from './output.js';
import { applyPadding } from './padding.js';
import { fromRawImage, toRawImage, type RawImage } from './raw-image.js';
import { applyResize, cropMethod, RESIZE_KERNEL } from './resizing.js';
import { applyPreResizeModels, checkOutpaintOptions, isOutpaint, modelContext, outpaintTo, resizeWithModels, usesModels } from './model-stage.js';
import { planOutpaint } from './outpaint.js';
import { estimateJpegQuality } from './jpeg-quality.js';

/** Describes the input from its header alone (format, upright size); decodes no pixels. */
export async function inspectInput(input: Buffer, limits: PipelineLimits): Promise<ImageObject> {
  return (await probeInput(input, limits)).object;
}

function abortIfNeeded(signal: AbortSignal | undefined): void {
  // Throws the signal's reason (an AbortError DOMException unless the caller gave another).
  signal?.throwIfAborted();
}

function hex(c: Rgba): string {
  return `#${[c.r, c.g, c.b, c.alpha].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

/** Milliseconds with sub-millisecond precision trimmed to what is worth reporting. */
function since(t: number): number {
  return Math.round((performance.now() - t) * 100) / 100;
}

/** Whether a background colour survives in a greyscale image (transparent, or any grey). */
function isNeutral(colour: BackgroundColour): boolean {
  return colour.kind === 'transparent' || (colour.rgba.r === colour.rgba.g && colour.rgba.g === colour.rgba.b);
}

/**
 * The input's colour space as the output default sees it: a greyscale input with a coloured background is
 * treated as RGB, or the background would turn grey.
 */
function colourToKeep(input: InputColour, colour: BackgroundColour | undefined): InputColour {
  return input.space === 'grey' && colour && !isNeutral(colour) ? { space: 'rgb' } : input;
}

/**
 * Refuses everything that can be refused from the request alone (unavailable operations, output options,
 * colour, padding and resizing syntax), so callers can answer before fetching or decoding the input. The
 * returned output is not yet settled for the input (see planOutput).
 */
export function checkEditRequest(
  ops: ImageOperations,
  output: ImageOutputOptions,
): { out: ReturnType<typeof resolveOutput>; colour?: BackgroundColour; padding?: ParsedPadding } {
  const out = resolveOutput(output);
  const colour =
    ops.background?.color !== undefined && ops.background.color !== null ? parseBackgroundColour(ops.background.color) : undefined;
  const padding = ops.padding !== undefined && ops.padding !== null ? parsePadding(ops.padding) : undefined;
  parseResizing(ops.resizing);
  if (isOutpaint(ops)) checkOutpaintOptions(ops.resizing);
  return { out, colour, padding };
}

/** The style reference of a style transfer, decoded upright to sRGB pixels under the same input limits. */
async function decodeStyleReference(file: Buffer, limits: PipelineLimits): Promise<RawImage> {
  const probe = await probeInput(file, limits);
  try {
    return await toRawImage(openInput(file, probe, limits).open());
  } catch (err) {
    throw asImageError(err, probe.format);
  }
}

export async function runEdit(job: EditJob): Promise<EditResult> {
  const started = performance.now();
  const ops = job.operations ?? {};
  const { limits, signal } = job;

  const { out: requested, colour, padding } = checkEditRequest(ops, job.output ?? {});
  const adjust = hasAdjustments(ops.adjustments);
  abortIfNeeded(signal);

  const profiling: Record<string, unknown> = {};
  let t = performance.now();
  const probe = await probeInput(job.input, limits);
  profiling.inspect_ms = since(t);
  // The colour space, and with it whether the output can carry alpha, depends on the input.
  const out = planOutput(requested, colourToKeep(probe.colour, colour));

  const src = { width: probe.width, height: probe.height };
  // Outpainting is planned by the model stage, from the size the earlier model operations leave.
  const resizePlan = isOutpaint(ops) ? null : planResize(src, ops.resizing, limits);
  const sized = resizePlan?.output ?? src;
  // Without resizing the output is the input's size, which may still exceed what the server produces.
  if (!resizePlan) checkOutputSize(sized, limits, 'operations.resizing');
  let padPlan = padding ? planPadding(sized, padding) : null;
  const modelOps = usesModels(ops);
  abortIfNeeded(signal);

  t = performance.now();
  const input = openInput(job.input, probe, limits);
  if (probe.format === 'bmp') profiling.decode_ms = since(t);
  abortIfNeeded(signal);

  // Margins (canvas, padding) take the default fill from whether the input really has transparency, not
  // merely an alpha channel (GIF always decodes with one). Only worth a pass over the pixels when it matters.
  let inputHasAlpha = input.hasAlpha;
  const addsMargins = resizePlan?.mode === 'canvas' || padPlan !== null;
  if (inputHasAlpha && addsMargins && !colour && out.supportsAlpha) {
    t = performance.now();
    try {
      inputHasAlpha = !(await input.open().stats()).isOpaque;
    } catch (err) {
      throw asImageError(err, probe.format);
    }
    profiling.transparency_check_ms = since(t);
    abortIfNeeded(signal);
  }
  // Background removal gives the image a matte: its default fill follows from that, not from the input.
  if (modelOps && ops.background?.remove !== undefined && ops.background.remove !== false) inputHasAlpha = true;
  const fill = resolveFill(colour, inputHasAlpha, out.supportsAlpha);

  profiling.resize_kernel = RESIZE_KERNEL;
  if (resizePlan) profiling.fit = resizePlan.mode;
  const crop = resizePlan ? cropMethod(resizePlan) : undefined;
  if (crop) profiling.crop = crop;
  profiling.fill = hex(fill);

  let encoded: Awaited<ReturnType<typeof encodeOutput>>;
  // The single pass flattens lazily, inside the one libvips pipeline. sharp keeps one flatten setting per
  // pipeline, and the encoder adds a white one for outputs without alpha; so a non-white flatten for such an
  // output goes the staged way, where the fill is applied to pixels before the encoder sees them.
  const lazyFlattenSafe = !input.hasAlpha || isTransparent(fill) || out.supportsAlpha || isWhite(fill);
  const singlePass = !modelOps && !adjust && !padPlan && (isOpaque(fill) || isTransparent(fill)) && lazyFlattenSafe;
  if (singlePass) {
    profiling.path = 'single_pass';
    // Fill colours are sRGB values; painted into kept CMYK or wide-gamut pixels they would be misread.
    const fillPainted = !isTransparent(fill) && (input.hasAlpha || resizePlan?.mode === 'canvas');
    const keepPixels = keepsInputPixels(out) && !fillPainted;
    if (keepsInputPixels(out)) profiling.color_values = keepPixels ? 'kept' : 'via_srgb';
    let image = input.open();
    // libvips paints fill colours in the pipeline's own space, so a greyscale input would turn a coloured
    // canvas or flatten colour grey; such an output is processed in sRGB (a grey output keeps grey fills).
    if (probe.colour.space === 'grey' && out.colour.space !== 'grey') image = image.pipelineColourspace('srgb');
    if (input.hasAlpha && isOpaque(fill)) image = image.flatten({ background: toSharpColour(fill) });
    if (resizePlan) image = applyResize(image, resizePlan, fill);
    t = performance.now();
    try {
      encoded = await encodeOutput(image, out, keepPixels ? 'input' : 'srgb');
    } catch (err) {
      throw asImageError(err, probe.format);
    }
    // One libvips pass: decoding, resizing and encoding overlap and cannot be timed apart.
    profiling.decode_resize_encode_ms = since(t);
  } else {
    profiling.path = 'staged';
    if (keepsInputPixels(out)) profiling.color_values = 'via_srgb';
    t = performance.now();
    let raw: RawImage;
    if (modelOps) {
      // Model operations see the whole input at full resolution; resizing follows from what they leave.
      try {
        raw = await toRawImage(input.open());
      } catch (err) {
        throw asImageError(err, probe.format);
      }
      profiling.decode_ms = since(t);
      const ctx = modelContext(profiling, signal);
      const styleReference = job.styleReference ? await decodeStyleReference(job.styleReference, limits) : undefined;
      const jpegQuality = probe.format === 'jpeg' ? estimateJpegQuality(job.input) : undefined;
      raw = await applyPreResizeModels(raw, ops, ctx, { jpegQuality, styleReference });
      abortIfNeeded(signal);
      const modelled = { width: raw.width, height: raw.height };
      t = performance.now();
      if (isOutpaint(ops)) {
        raw = await outpaintTo(raw, planOutpaint(modelled, ops.resizing, limits), ctx);
      } else {
        const plan = planResize(modelled, ops.resizing, limits);
        if (!plan) checkOutputSize(modelled, limits, 'operations.resizing');
        if (plan) raw = await resizeWithModels(raw, plan, ops, ctx);
      }
      profiling.resize_ms = since(t);
      padPlan = padding ? planPadding({ width: raw.width, height: raw.height }, padding) : null;
    } else {
      try {
        let first = input.open();
        if (resizePlan) first = applyResize(first, resizePlan, TRANSPARENT);
        raw = await toRawImage(first);
      } catch (err) {
        throw asImageError(err, probe.format);
      }
      profiling.decode_resize_ms = since(t);
    }
    abortIfNeeded(signal);

    if (adjust && ops.adjustments) {
      t = performance.now();
      raw = await applyAdjustments(raw, ops.adjustments);
      profiling.adjustments_ms = since(t);
      abortIfNeeded(signal);
    }

    if (padPlan) {
      t = performance.now();
      raw = await toRawImage(applyPadding(fromRawImage(raw), padPlan, TRANSPARENT));
      profiling.padding_ms = since(t);
      abortIfNeeded(signal);
    }

    t = performance.now();
    profiling.background = raw.channels === 3 || isTransparent(fill) ? 'none' : isOpaque(fill) ? 'flatten' : 'composite';
    raw = await applyFill(raw, fill);
    profiling.background_ms = since(t);
    abortIfNeeded(signal);

    t = performance.now();
    encoded = await encodeOutput(fromRawImage(raw), out);
    profiling.encode_ms = since(t);
  }
  // What was written: the plan's colour space, unless the input's profile proved unusable at the encode.
  Object.assign(profiling, describeColour(encoded.colour));
  profiling.total_ms = since(started);

  return { data: encoded.data, input: probe.object, output: encoded.info, profiling };
}
