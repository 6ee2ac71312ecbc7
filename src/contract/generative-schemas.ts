// Request schemas and answer types of the generative endpoints. Same rules as ./schemas.ts: they mirror the
// contract's components.schemas constraint for constraint (no looser, no stricter), nest sub-schemas as JS
// constants rather than `$ref`, and carry no `default` keywords (bodies are echoed back exactly as sent; the
// defaults live in code, exported here next to the limits they belong to).
import type { ImageObject, OutputImageObject, PipelineError, TaskStatus } from './types.js';
import { MAX_URI_LENGTH } from './schemas.js';

const uriString = { type: 'string', minLength: 1, maxLength: MAX_URI_LENGTH, format: 'uri' } as const;

// ---------------------------------------------------------------------------------------------------------
// POST /v1/image/generate (GenerateRequest, ImageGenerateOptions)

export const GENERATE_PROMPT_MIN = 3;
export const GENERATE_PROMPT_MAX = 1024;
export const GENERATE_MAX_IMAGES = 4;
export const GENERATE_DEFAULT_IMAGES = 4;
export const GENERATE_GUIDANCE_MIN = 1;
/** Exclusive: 50 itself is refused. */
export const GENERATE_GUIDANCE_EXCLUSIVE_MAX = 50;
export const GENERATE_DEFAULT_GUIDANCE = 5;

export const imageGenerateOptionsSchema = {
  type: 'object',
  properties: {
    number_of_images: { type: 'integer', minimum: 1, maximum: GENERATE_MAX_IMAGES },
    guidance_scale: { type: 'number', minimum: GENERATE_GUIDANCE_MIN, exclusiveMaximum: GENERATE_GUIDANCE_EXCLUSIVE_MAX },
  },
  additionalProperties: false,
} as const;

export const generateRequestSchema = {
  type: 'object',
  required: ['input'],
  properties: {
    input: { type: 'string', minLength: GENERATE_PROMPT_MIN, maxLength: GENERATE_PROMPT_MAX },
    options: imageGenerateOptionsSchema,
    output: uriString,
  },
  additionalProperties: false,
} as const;

export interface ImageGenerateOptions {
  number_of_images?: number;
  guidance_scale?: number;
}

export interface GenerateRequest {
  /** The text prompt. */
  input: string;
  options?: ImageGenerateOptions;
  /** A storage folder (storage://name/folder/); absent: temporary URLs. */
  output?: string;
}

/** `data` of a successful generate answer (GenerateResponse). */
export interface GenerateResponse {
  input: { text: string };
  output: OutputImageObject[];
  profiling?: Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------------------
// POST /v1/image/ai-edit (AiEditAPIRequest, AIEditRequestOutputObject, AiEditRequestOptionsObject)

export const AI_EDIT_MODELS = ['v1', 'v2'] as const;
export type AiEditModel = (typeof AI_EDIT_MODELS)[number];
export const AI_EDIT_DEFAULT_MODEL: AiEditModel = 'v2';

export const AI_EDIT_FORMATS = ['jpeg', 'png'] as const;
export type AiEditFormat = (typeof AI_EDIT_FORMATS)[number];
export const AI_EDIT_DEFAULT_FORMAT: AiEditFormat = 'png';

export const AI_EDIT_ASPECT_RATIOS = ['1:1', '2:3', '3:2', '3:4', '4:3', '9:16', '16:9', '9:21', '21:9'] as const;
export type AiEditAspectRatio = (typeof AI_EDIT_ASPECT_RATIOS)[number];

export const AI_EDIT_PROMPT_MIN = 3;
export const AI_EDIT_PROMPT_MAX = 5000;
export const AI_EDIT_MAX_IMAGES = 4;
export const AI_EDIT_DEFAULT_IMAGES = 1;
export const AI_EDIT_STEPS_MIN = 1;
export const AI_EDIT_STEPS_MAX = 50;
export const AI_EDIT_GUIDANCE_MIN = 1;
export const AI_EDIT_GUIDANCE_MAX = 10;

export const aiEditOptionsSchema = {
  type: 'object',
  required: ['prompt'],
  properties: {
    model: { type: 'string', enum: AI_EDIT_MODELS },
    prompt: { type: 'string', minLength: AI_EDIT_PROMPT_MIN, maxLength: AI_EDIT_PROMPT_MAX },
    aspect_ratio: { type: 'string', enum: AI_EDIT_ASPECT_RATIOS },
    inference_steps: { type: 'integer', minimum: AI_EDIT_STEPS_MIN, maximum: AI_EDIT_STEPS_MAX },
    guidance_scale: { type: 'number', minimum: AI_EDIT_GUIDANCE_MIN, maximum: AI_EDIT_GUIDANCE_MAX },
  },
  additionalProperties: false,
} as const;

export const aiEditOutputSchema = {
  type: 'object',
  properties: {
    number_of_images: { type: 'integer', minimum: 1, maximum: AI_EDIT_MAX_IMAGES },
    destination: uriString,
    format: { type: 'string', enum: AI_EDIT_FORMATS },
  },
  additionalProperties: false,
} as const;

export const aiEditRequestSchema = {
  type: 'object',
  required: ['input', 'options'],
  properties: {
    // The options object, or a bare destination URI.
    output: { anyOf: [aiEditOutputSchema, uriString] },
    input: uriString,
    options: aiEditOptionsSchema,
  },
  additionalProperties: false,
} as const;

export interface AiEditOptions {
  model?: AiEditModel;
  prompt: string;
  aspect_ratio?: AiEditAspectRatio;
  inference_steps?: number;
  guidance_scale?: number;
}

export interface AiEditOutputOptions {
  number_of_images?: number;
  destination?: string;
  format?: AiEditFormat;
}

export interface AiEditRequest {
  input: string;
  options: AiEditOptions;
  output?: AiEditOutputOptions | string;
}

/** `result` of a DONE AI edit (AiEditResult); `{}` while the task has none. */
export interface AiEditResult {
  input_object: ImageObject;
  output_objects: OutputImageObject[];
}

/** `data` of GET /v1/image/ai-edit/{ai_edit_id} (AiEditResultResponse). */
export interface AiEditTaskView {
  id: number;
  status: TaskStatus;
  created_at: string;
  request: unknown;
  /** AiEditError items: `{ error, created_at }`. */
  errors: PipelineError[];
  result: AiEditResult | Record<string, never>;
}
