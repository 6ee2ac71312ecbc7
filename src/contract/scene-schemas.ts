// POST /v1/scene/create: the request's TypeScript shape and its JSON Schema (Ajv 8), constraint for
// constraint as the contract's SceneCreateAPIIn and the schemas it references. The conventions of
// ./schemas.ts hold here too: sub-schemas are nested JS constants (no `$ref`), no `default` keywords (defaults
// are applied in code), and rules the contract states only in prose (prompt `text` vs `generate`, the padding
// and colour grammars) are checked by the scene service with the same 422 shape.

// ---------------------------------------------------------------------------------------------------------
// Enumerations

export const SCENE_PLACEMENT_TYPES = ['absolute', 'original', 'padding'] as const;
export const SCENE_MODELS = ['v1', 'v2-beta', 'v2'] as const;
export const SCENE_EFFECTS = ['shadows'] as const;
export const SCENE_VIEWS = ['top', 'front'] as const;
export const SCENE_VIEWS_AUTO = ['auto', 'top', 'front'] as const;
export const SCENE_ASPECT_RATIOS = ['21:9', '1:1', '4:3', '3:2', '2:3', '5:4', '4:5', '3:4', '16:9', '9:16'] as const;
export const SCENE_PREFERENCES = ['fast', 'optimal', 'best'] as const;
export const SCENE_TEMPLATE_MODES = ['transform', 'lock', 'adjust'] as const;
/** The contract's FormatEnum for scene outputs (its option objects exist for jpeg, png, webp and avif only). */
export const SCENE_OUTPUT_FORMATS = ['jpeg', 'png', 'webp', 'avif', 'tiff'] as const;
/** Most images one request may ask for. */
export const MAX_SCENE_IMAGES = 4;

export type ScenePlacementType = (typeof SCENE_PLACEMENT_TYPES)[number];
export type SceneModel = (typeof SCENE_MODELS)[number];
export type SceneView = (typeof SCENE_VIEWS)[number];
export type SceneViewAuto = (typeof SCENE_VIEWS_AUTO)[number];
export type SceneAspectRatio = (typeof SCENE_ASPECT_RATIOS)[number];
export type ScenePreference = (typeof SCENE_PREFERENCES)[number];
export type SceneTemplateMode = (typeof SCENE_TEMPLATE_MODES)[number];

// ---------------------------------------------------------------------------------------------------------
// TypeScript shapes (field names exactly as the contract spells them)

export type LossyOrLosslessOption = 'lossy' | 'lossless' | { type: 'lossy'; quality?: number } | { type: 'lossless' };

export type SceneOutputFormat =
  | (typeof SCENE_OUTPUT_FORMATS)[number]
  | { type: 'jpeg'; quality?: number; progressive?: boolean }
  | { type: 'png'; compression?: 'fast' | 'optimal' | 'best' }
  | { type: 'webp'; compression?: LossyOrLosslessOption }
  | { type: 'avif'; compression?: LossyOrLosslessOption };

export interface SceneOutputOptions {
  number_of_images?: number;
  destination?: string;
  format?: SceneOutputFormat;
}

export interface ObjectPosition {
  /** 0 = the scene's left edge, 1 = its right edge. */
  x?: number;
  /** 0 = the scene's bottom edge, 1 = its top edge. */
  y?: number;
}

export interface SceneObjectAbsolute {
  image_url: string;
  placement_type?: 'absolute';
  rotation_degree?: number;
  scale?: number;
  position?: ObjectPosition;
}

export interface SceneObjectOriginal {
  image_url: string;
  placement_type: 'original';
}

export interface SceneObjectPadding {
  image_url: string;
  placement_type: 'padding';
  padding: string;
}

export type SceneObject = SceneObjectAbsolute | SceneObjectOriginal | SceneObjectPadding;

export interface ScenePromptAdvanced {
  text?: string;
  generate?: boolean;
  guidelines?: string;
}

export type ScenePrompt = string | ScenePromptAdvanced;

export interface SceneBackgroundEffect {
  model?: SceneModel;
  effect: 'shadows';
  /** Hex colour or `transparent`. */
  color?: string;
  view?: SceneViewAuto;
  aspect_ratio?: SceneAspectRatio;
}

export interface ScenePromptScene {
  model?: SceneModel;
  prompt: ScenePrompt;
  negative_prompt?: string;
  steps?: number;
  color?: string;
  aspect_ratio?: SceneAspectRatio;
  preference?: ScenePreference;
}

export interface SceneTemplateScene {
  model?: SceneModel;
  template_mode?: SceneTemplateMode;
  template_url: string;
  color?: string;
  view: SceneView;
  prompt?: ScenePrompt;
  negative_prompt?: string;
  steps?: number;
}

export type SceneSpec = SceneBackgroundEffect | ScenePromptScene | SceneTemplateScene;

export interface SceneCreateRequest {
  /** Options object, or a bare destination URI. */
  output?: SceneOutputOptions | string;
  object: SceneObject;
  scene: SceneSpec;
}

// ---------------------------------------------------------------------------------------------------------
// Building blocks (the same shapes as ./schemas.ts)

type Props = Record<string, object>;

function closedObject<P extends Props, R extends readonly (keyof P & string)[] = []>(properties: P, required?: R) {
  return {
    type: 'object',
    ...(required && required.length > 0 ? { required } : {}),
    properties,
    additionalProperties: false,
  } as const;
}

function stringEnum<const V extends readonly string[]>(values: V) {
  return { type: 'string', enum: values } as const;
}

function taggedObject<const T extends string, P extends Props>(tag: T, properties: P = {} as P) {
  return closedObject({ type: stringEnum([tag] as const), ...properties }, ['type'] as const);
}

function boundedInteger(minimum: number, maximum: number) {
  return { type: 'integer', minimum, maximum } as const;
}

function boundedString(minLength: number, maxLength: number) {
  return { type: 'string', minLength, maxLength } as const;
}

const uriString = { type: 'string', minLength: 1, maxLength: 4096, format: 'uri' } as const;

// ---------------------------------------------------------------------------------------------------------
// output (SceneCreateAPIOutputIn)

const lossyOrLosslessSchema = {
  anyOf: [
    stringEnum(['lossy', 'lossless'] as const),
    taggedObject('lossy', { quality: boundedInteger(1, 100) }),
    taggedObject('lossless'),
  ],
} as const;

const sceneFormatSchema = {
  anyOf: [
    stringEnum(SCENE_OUTPUT_FORMATS),
    taggedObject('jpeg', { quality: boundedInteger(1, 100), progressive: { type: 'boolean' } }),
    taggedObject('png', { compression: stringEnum(['fast', 'best', 'optimal'] as const) }),
    taggedObject('webp', { compression: lossyOrLosslessSchema }),
    taggedObject('avif', { compression: lossyOrLosslessSchema }),
  ],
} as const;

export const sceneOutputSchema = closedObject({
  number_of_images: boundedInteger(1, MAX_SCENE_IMAGES),
  destination: uriString,
  format: sceneFormatSchema,
});

// ---------------------------------------------------------------------------------------------------------
// object (SceneCreateAPIObject*In)

const objectPositionSchema = closedObject({
  x: { type: 'number', minimum: 0, maximum: 1 },
  y: { type: 'number', minimum: 0, maximum: 1 },
});

export const sceneObjectAbsoluteSchema = closedObject(
  {
    image_url: uriString,
    placement_type: stringEnum(['absolute'] as const),
    rotation_degree: {
      anyOf: [
        { type: 'number', minimum: 0, maximum: 360 },
        { type: 'integer', minimum: 0, maximum: 360 },
      ],
    },
    scale: {
      anyOf: [
        { type: 'integer', minimum: 0, maximum: 1 },
        { type: 'number', minimum: 0.01, maximum: 1 },
      ],
    },
    position: objectPositionSchema,
  },
  ['image_url'] as const,
);

export const sceneObjectOriginalSchema = closedObject(
  { image_url: uriString, placement_type: stringEnum(['original'] as const) },
  ['image_url', 'placement_type'] as const,
);

export const sceneObjectPaddingSchema = closedObject(
  { image_url: uriString, placement_type: stringEnum(['padding'] as const), padding: { type: 'string' } },
  ['image_url', 'placement_type', 'padding'] as const,
);

// ---------------------------------------------------------------------------------------------------------
// scene (SceneCreateAPISceneBackgroundEffectIn, SceneCreateAPIScenePromptIn, SceneCreateAPISceneTemplateIn)

const promptText = boundedString(3, 2048);

export const scenePromptAdvancedSchema = closedObject({
  text: promptText,
  generate: { type: 'boolean' },
  guidelines: boundedString(3, 1000),
});

const promptSchema = { anyOf: [promptText, scenePromptAdvancedSchema] } as const;
const stepsSchema = { type: 'integer', minimum: 1, exclusiveMaximum: 50 } as const;
const modelSchema = stringEnum(SCENE_MODELS);

export const sceneBackgroundEffectSchema = closedObject(
  {
    model: modelSchema,
    effect: stringEnum(SCENE_EFFECTS),
    color: { anyOf: [{ type: 'string' }, stringEnum(['transparent'] as const)] },
    view: stringEnum(SCENE_VIEWS_AUTO),
    aspect_ratio: stringEnum(SCENE_ASPECT_RATIOS),
  },
  ['effect'] as const,
);

export const scenePromptSceneSchema = closedObject(
  {
    model: modelSchema,
    prompt: promptSchema,
    negative_prompt: promptText,
    steps: stepsSchema,
    color: { type: 'string' },
    aspect_ratio: stringEnum(SCENE_ASPECT_RATIOS),
    preference: stringEnum(SCENE_PREFERENCES),
  },
  ['prompt'] as const,
);

export const sceneTemplateSceneSchema = closedObject(
  {
    model: modelSchema,
    template_mode: stringEnum(SCENE_TEMPLATE_MODES),
    template_url: uriString,
    color: { type: 'string' },
    view: stringEnum(SCENE_VIEWS),
    prompt: promptSchema,
    negative_prompt: promptText,
    steps: stepsSchema,
  },
  ['template_url', 'view'] as const,
);

// ---------------------------------------------------------------------------------------------------------
// Request body

/** POST /v1/scene/create (SceneCreateAPIIn). */
export const sceneCreateRequestSchema = closedObject(
  {
    output: { anyOf: [sceneOutputSchema, uriString] },
    object: { anyOf: [sceneObjectAbsoluteSchema, sceneObjectOriginalSchema, sceneObjectPaddingSchema] },
    scene: { anyOf: [sceneBackgroundEffectSchema, scenePromptSceneSchema, sceneTemplateSceneSchema] },
  },
  ['object', 'scene'] as const,
);
