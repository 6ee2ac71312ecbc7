// AI edit (POST /v1/image/ai-edit, GET /v1/image/ai-edit/{ai_edit_id}): a prompt-driven edit of the input
// image, run as an 'ai_edit' task on the task queue. The input is fitted to the output's aspect ratio (scaled
// to cover it and centre-cropped) and repainted by image-to-image with the prompt at AI_EDIT_STRENGTH: strong
// enough for the prompt to add or change things, weak enough to keep the picture's layout and colours.
import {
  AI_EDIT_ASPECT_RATIOS,
  AI_EDIT_DEFAULT_FORMAT,
  AI_EDIT_DEFAULT_IMAGES,
  AI_EDIT_DEFAULT_MODEL,
  type AiEditAspectRatio,
  type AiEditFormat,
  type AiEditOutputOptions,
  type AiEditRequest,
  type AiEditResult,
  type AiEditTaskView,
} from '../contract/generative-schemas.js';
import type { OutputImageObject } from '../contract/types.js';
import {
  defaultSteps,
  getEngine,
  resolveModelSet,
} from '../generative/engine.js';
import { asImageError, openInput, probeInput } from '../pipeline/decode.js';
import { aspectSize, nearestRatio, seedOf, type Size } from '../pipeline/generative-maths.js';
import type { PipelineLimits } from '../pipeline/index.js';
import { toRawImage, type RawImage } from '../pipeline/raw-image.js';
import { withExtension } from '../storage/tmp-store.js';
import { isStorageUri } from '../storage/uri.js';
import type { StorageService } from '../storage/service.js';
import type { TaskHandler, TaskRecord } from '../tasks/index.js';
import type { InputFile } from './edit.js';
import { numberedDestination, numberedName, type GenerativeOutput } from './generative-output.js';

export const AI_EDIT_TASK = 'ai_edit';
/** Image-to-image strength of an AI edit (see the module comment and docs/generative.md). */
export const AI_EDIT_STRENGTH = 0.6;
/** Guidance when the request gives none: the usual value for Stable Diffusion model sets. */
export const AI_EDIT_DEFAULT_GUIDANCE = 7.5;

export interface NormalisedAiEditOutput {
  count: number;
  format: AiEditFormat;
  destination?: string;
}

/** A bare-string `output` is a destination; absent fields take the contract's defaults. */
export function normaliseAiEditOutput(output: AiEditOutputOptions | string | undefined): NormalisedAiEditOutput {
  const o: AiEditOutputOptions = typeof output === 'string' ? { destination: output } : (output ?? {});
  const result: NormalisedAiEditOutput = {
    count: o.number_of_images ?? AI_EDIT_DEFAULT_IMAGES,
    format: o.format ?? AI_EDIT_DEFAULT_FORMAT,
  };
  if (o.destination !== undefined) result.destination = o.destination;
  return result;
}

/**
 * Grid the aspect-ratio sizes snap to: 64 pixels for real model sets (8× VAE downsampling times the UNet's
 * three halvings), finer for the tiny sides test model sets run at.
 */
export function aspectMultiple(side: number): number {
  return Math.max(8, Math.min(64, 2 ** Math.floor(Math.log2(side / 8))));
}

/** Output size of an AI edit: the requested ratio, or the table's ratio nearest the input's shape. */
export function aiEditSize(input: Size, ratio: AiEditAspectRatio | undefined, side: number): { ratio: AiEditAspectRatio; size: Size } {
  const chosen = ratio ?? nearestRatio(input.width, input.height, AI_EDIT_ASPECT_RATIOS);
  return { ratio: chosen, size: aspectSize(chosen, side, aspectMultiple(side)) };
}

export function aiEditResultUrl(publicUrl: string, id: number): string {
  return `${publicUrl}/v1/image/ai-edit/${id}`;
}

/** The `data` of GET /v1/image/ai-edit/{ai_edit_id}, which is also the webhook body's `data`. */
export function aiEditTaskView(task: TaskRecord): AiEditTaskView {
  return {
    id: task.id,
    status: task.status,
    created_at: task.createdAt,
    request: task.request,
    errors: task.errors,
    result: task.status === 'DONE' && task.result ? (task.result as AiEditResult) : {},
  };
}

export interface AiEditDeps {
  output: GenerativeOutput;
  storages: StorageService;
  fetchInput: (owner: string, input: string, signal?: AbortSignal) => Promise<InputFile>;
  limits: PipelineLimits;
  /** Reference side of the aspect-ratio table (ATELIER_GENERATE_SIZE, 1024 by default). */
  side: number;
}

export class AiEditService {
  constructor(private readonly deps: AiEditDeps) {}

  /**
   * Refuses at submission what would only fail later: a destination that is not a writable storage, a
   * storage:// input that cannot be read, and a model set that is not installed (503 naming it).
   */
  precheck(owner: string, req: AiEditRequest): void {
    const out = normaliseAiEditOutput(req.output);
    this.deps.output.checkDestination(owner, out.destination, 'output.destination');
    if (isStorageUri(req.input)) this.deps.storages.checkSource(owner, req.input, 'input');
    // Only checks that a set is installed; loading it is the worker's job, not the request's.
    resolveModelSet({ capability: 'img2img', model: req.options.model ?? AI_EDIT_DEFAULT_MODEL });
  }

  handler(): TaskHandler {
    return async (task, signal) => {
      const result = await this.run(task, signal);
      return { status: 'DONE', result };
    };
  }

  /** Runs one AI edit task. Output names derive from the task id, so a re-run overwrites its own files. */
  async run(task: TaskRecord, signal?: AbortSignal): Promise<AiEditResult> {
    const req = task.request as AiEditRequest;
    const opts = req.options;
    const out = normaliseAiEditOutput(req.output);
    const input = await this.deps.fetchInput(task.owner, req.input, signal);
    const probe = await probeInput(input.data, this.deps.limits);
    const { size } = aiEditSize(probe, opts.aspect_ratio, this.deps.side);
    const init = await fitInput(input.data, probe, this.deps.limits, size);
    const engine = await getEngine({ capability: 'img2img', model: opts.model ?? AI_EDIT_DEFAULT_MODEL });
    const diffusion = await engine.img2img(
      {
        prompt: opts.prompt,
        width: size.width,
        height: size.height,
        steps: opts.inference_steps ?? defaultSteps('optimal', engine),
        guidanceScale: opts.guidance_scale ?? AI_EDIT_DEFAULT_GUIDANCE,
        // Fixed per task: a re-run after a crash paints the same images.
        seed: seedOf('ai_edit', task.id, task.createdAt),
        numberOfImages: out.count,
        init,
        strength: AI_EDIT_STRENGTH,
      },
      signal,
    );
    const outputs: OutputImageObject[] = [];
    const count = diffusion.images.length;
    for (const [i, img] of diffusion.images.entries()) {
      const encoded = await this.deps.output.encode(img, out.format);
      const name = numberedName(withExtension(input.name, encoded.object.ext), i + 1, count);
      const destination =
        out.destination === undefined
          ? undefined
          : numberedDestination(out.destination, i + 1, count, 'output.destination');
      outputs.push(
        await this.deps.output.store(
          task.owner,
          encoded,
          { destination, name, stableId: `ai_edit:${task.id}`, field: 'output.destination' },
          signal,
        ),
      );
    }
    return { input_object: probe.object, output_objects: outputs };
  }
}

/**
 * Decodes the input straight at the output size: scaled to cover it and centre-cropped (the aspect ratio is
 * the request's; nothing is stretched), transparency flattened onto white as the model sees no alpha.
 */
async function fitInput(
  data: Buffer,
  probe: Awaited<ReturnType<typeof probeInput>>,
  limits: PipelineLimits,
  size: Size,
): Promise<RawImage> {
  try {
    const pipeline = openInput(data, probe, limits)
      .open()
      .flatten({ background: '#ffffff' })
      .resize(size.width, size.height, { fit: 'cover', position: 'centre', kernel: 'lanczos3' });
    return await toRawImage(pipeline);
  } catch (err) {
    throw asImageError(err, probe.format);
  }
}
