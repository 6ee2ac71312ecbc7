// The image pipeline's public surface. Services call only what is exported here; the operation modules
// behind it (decode, resizing, padding, adjustments, background, output) are internal to the pipeline.
import type { ImageObject, ImageOperations, ImageOutputOptions } from '../contract/types.js';

export interface PipelineLimits {
  /** Largest input file accepted, in bytes. */
  maxInputBytes: number;
  /** Largest input accepted, in pixels (width × height), checked from the header before decoding. */
  maxInputPixels: number;
  /** Largest output accepted, in pixels, checked before any pixel is produced. */
  maxOutputPixels: number;
  /** Largest output side in pixels. */
  maxOutputSide: number;
}

export const DEFAULT_LIMITS: PipelineLimits = {
  maxInputBytes: 64 * 1024 * 1024,
  maxInputPixels: 100_000_000,
  maxOutputPixels: 100_000_000,
  maxOutputSide: 16_384,
};

export interface EditJob {
  /** The encoded input file, as fetched or uploaded. */
  input: Buffer;
  operations: ImageOperations;
  /** Output options; a bare-string output (a destination URI) is normalised to `{ destination }` by callers. */
  output: ImageOutputOptions;
  limits: PipelineLimits;
  /** The encoded style reference image, when `generative.style_transfer` is asked for (fetched by the caller). */
  styleReference?: Buffer;
  /** Aborts the work between steps (task cancellation, client gone). */
  signal?: AbortSignal;
}

export interface EditResult {
  /** The encoded output file. */
  data: Buffer;
  input: ImageObject;
  output: ImageObject;
  /** Timings in milliseconds per step and the methods used, returned as the answer's `profiling`. */
  profiling: Record<string, unknown>;
}

export { runEdit, inspectInput, checkEditRequest } from './runner.js';
