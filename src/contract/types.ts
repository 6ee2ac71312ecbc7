// TypeScript shapes of the published Claid v1 image-edit contract. Field names follow the contract exactly;
// the JSON schemas in ./schemas.ts are what validates requests, these types are what the code works with.

export type Pixels = number;
/** `"auto"`, an integer number of pixels, or a percentage string like `"60%"`. */
export type SizeValue = Pixels | 'auto' | string;

export type FitMode = 'crop' | 'cover' | 'bounds' | 'canvas' | 'outpaint';
export type CropMode = 'center' | 'smart';

export type FitOption =
  | FitMode
  | { type: 'crop'; crop?: CropMode }
  | { type: 'cover' }
  | { type: 'bounds' }
  | { type: 'canvas' }
  | { type: 'outpaint'; feathering?: string; outpaint_by?: string };

export interface ResizingOptions {
  width?: SizeValue;
  height?: SizeValue;
  fit?: FitOption;
}

export interface HdrOptions {
  intensity?: number;
  stitching?: boolean;
}

export interface AdjustmentsOptions {
  hdr?: number | HdrOptions;
  exposure?: number;
  saturation?: number;
  contrast?: number;
  sharpness?: number;
}

export type BackgroundCategory = 'general' | 'cars' | 'products';

export interface BackgroundSelectiveOptions {
  object_to_keep: string;
}

export interface BackgroundRemovalOptions {
  clipping?: boolean;
  selective?: BackgroundSelectiveOptions;
  category?: BackgroundCategory;
}

export interface BackgroundBlurOptions {
  selective?: BackgroundSelectiveOptions;
  category?: BackgroundCategory;
  type?: 'regular' | 'lens';
  level?: 'low' | 'medium' | 'high';
}

export interface BackgroundOptions {
  remove?: boolean | BackgroundRemovalOptions;
  /** Hex colour (`#rrggbb`, `#rgb`, with optional alpha) or `transparent`. */
  color?: string;
  blur?: boolean | BackgroundBlurOptions;
}

export type UpscaleType = 'smart_enhance' | 'smart_resize' | 'faces' | 'digital_art' | 'photo';

export interface RestorationsOptions {
  decompress?: 'moderate' | 'strong' | 'auto' | null;
  upscale?: UpscaleType | { type: 'photo'; version: '1' | '2' | '3' } | null;
  polish?: boolean;
}

export interface PrivacyOptions {
  blur_car_plate?: boolean;
  identity_crop?: boolean;
}

export interface StyleTransferOptions {
  style_reference_image: string;
  prompt?: string;
  depth_strength?: number;
  denoising_strength?: number;
  style_strength?: number;
}

export interface GenerativeOptions {
  style_transfer?: StyleTransferOptions;
}

export interface ImageOperations {
  restorations?: RestorationsOptions;
  adjustments?: AdjustmentsOptions;
  background?: BackgroundOptions;
  resizing?: ResizingOptions;
  /** One value for all sides or two (`"height width"`), each in pixels (`"10px"`, `"10"`) or percent (`"5%"`). */
  padding?: string;
  privacy?: PrivacyOptions;
  generative?: GenerativeOptions;
}

export type OutputFormatName = 'jpeg' | 'png' | 'webp' | 'avif' | 'tiff';

export type LossyOrLossless = 'lossy' | 'lossless' | { type: 'lossy'; quality?: number } | { type: 'lossless' };

export type OutputFormat =
  | OutputFormatName
  | { type: 'jpeg'; quality?: number; progressive?: boolean }
  | { type: 'png'; compression?: 'fast' | 'optimal' | 'best' }
  | { type: 'webp'; compression?: LossyOrLossless }
  | { type: 'avif'; compression?: LossyOrLossless }
  | { type: 'tiff'; compression?: LossyOrLossless };

export type CmykProfileName = 'ISO_Coated' | 'ISO_Uncoated' | 'USWeb_Coated' | 'USWeb_Uncoated';

export type ColorSpaceOption =
  | 'RGB'
  | 'CMYK'
  | { type: 'RGB' }
  | { type: 'CMYK'; color_profile?: CmykProfileName };

export interface MetadataOptions {
  dpi?: number;
  color_space?: ColorSpaceOption;
}

export interface ImageOutputOptions {
  format?: OutputFormat;
  destination?: string;
  metadata?: MetadataOptions;
}

export interface EditRequest {
  input: string;
  operations: ImageOperations;
  /** Options object, or a bare destination URI string. */
  output?: ImageOutputOptions | string;
}

/** The `data` field of an upload request: an edit request without `input`. */
export type UploadEditRequest = Omit<EditRequest, 'input'>;

/** Describes an image in answers (`input`, `output`, `input_object`, `output_object`). */
export interface ImageObject {
  ext: string;
  mps: number;
  mime: string;
  format: string;
  width: number;
  height: number;
}

export interface OutputImageObject extends ImageObject {
  tmp_url?: string;
  object_key?: string;
  object_bucket?: string;
  object_uri?: string;
  claid_storage_uri?: string;
}

export type TaskStatus = 'ACCEPTED' | 'WAITING' | 'PROCESSING' | 'DONE' | 'ERROR' | 'CANCELLED' | 'PAUSED';

export interface PipelineError {
  error: string;
  created_at: string;
  input_object?: ImageObject | null;
}

export interface EditResponse {
  input: ImageObject;
  output: OutputImageObject;
  profiling?: Record<string, unknown>;
}

export interface AsyncTaskView {
  id: number;
  status: TaskStatus;
  result_url?: string;
  created_at: string;
  request: unknown;
  errors: PipelineError[];
  result: { input_object?: ImageObject; output_object?: OutputImageObject };
}

export type ErrorType =
  | 'auth'
  | 'dlvr'
  | 'general'
  | 'le'
  | 'survey'
  | 'storage'
  | 'image'
  | 'user_settings'
  | 'user'
  | 'validation'
  | 'analytics'
  | 'scene'
  | 'billing'
  | 'web'
  | 'runtime_settings'
  | 'animation'
  | 'custom_models';

/** The body of every error answer. */
export interface HttpErrorDetails {
  error_code: string;
  error_type: ErrorType;
  error_message: string;
  error_details: Record<string, unknown>;
}
