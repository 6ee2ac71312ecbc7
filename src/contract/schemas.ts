// JSON Schemas (Ajv 8, default draft) for the request bodies of the published contract. They mirror the
// contract's components.schemas constraint for constraint; nothing is looser or stricter, so a body the
// upstream service accepts is accepted here and vice versa.
//
// Layout choices that matter to the error formatter in ./validation.ts:
// - Sub-schemas are nested by reusing JS constants, never through `$ref`/`$id`. Ajv then reports schema paths
//   like `#/properties/output/anyOf/0/properties/format/anyOf/3/...`, which is how the formatter tells the
//   alternatives of an `anyOf` apart.
// - No `default` keywords: the server echoes request bodies back exactly as sent, so defaults are applied in
//   code, not by the validator.
// - Rules the contract states only in prose (percent width implies matching height, the padding and colour
//   grammars, sizes >= 1) are left to the pipeline's own parsers.

// ---------------------------------------------------------------------------------------------------------
// Enumerations of the contract, exported so that code and tests use the very same lists as validation.

export const FIT_MODES = ['crop', 'cover', 'bounds', 'canvas', 'outpaint'] as const;
export const CROP_MODES = ['center', 'smart'] as const;
export const DECOMPRESS_MODES = ['moderate', 'strong', 'auto'] as const;
export const UPSCALE_TYPES = ['smart_enhance', 'smart_resize', 'faces', 'digital_art', 'photo'] as const;
export const PHOTO_UPSCALE_VERSIONS = ['1', '2', '3'] as const;
export const BACKGROUND_CATEGORIES = ['general', 'cars', 'products'] as const;
export const BACKGROUND_BLUR_TYPES = ['regular', 'lens'] as const;
export const BACKGROUND_BLUR_LEVELS = ['low', 'medium', 'high'] as const;
export const OUTPUT_FORMATS = ['jpeg', 'png', 'webp', 'avif', 'tiff'] as const;
export const PNG_COMPRESSION_LEVELS = ['fast', 'best', 'optimal'] as const;
export const COMPRESSION_KINDS = ['lossy', 'lossless'] as const;
export const COLOR_SPACES = ['RGB', 'CMYK'] as const;
export const CMYK_PROFILES = ['ISO_Coated', 'ISO_Uncoated', 'USWeb_Coated', 'USWeb_Uncoated'] as const;
export const STORAGE_TYPES = ['web_folder', 's3', 'gcs'] as const;

/** Longest URI the contract accepts for inputs, destinations and batch sources. */
export const MAX_URI_LENGTH = 4096;

// ---------------------------------------------------------------------------------------------------------
// Building blocks

type Props = Record<string, object>;

/** An object that rejects unknown properties, as almost every contract object does. */
function closedObject<P extends Props, R extends readonly (keyof P & string)[] = []>(
  properties: P,
  required?: R,
) {
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

/** An object alternative that a client selects by its `type` field (e.g. `{ "type": "crop", ... }`). */
function taggedObject<const T extends string, P extends Props>(tag: T, properties: P = {} as P) {
  return closedObject({ type: stringEnum([tag] as const), ...properties }, ['type'] as const);
}

function boundedInteger(minimum: number, maximum: number) {
  return { type: 'integer', minimum, maximum } as const;
}

function unitInterval() {
  return { type: 'number', minimum: 0, maximum: 1 } as const;
}

const uriString = { type: 'string', minLength: 1, maxLength: MAX_URI_LENGTH, format: 'uri' } as const;

// ---------------------------------------------------------------------------------------------------------
// operations

const restorationsSchema = closedObject({
  decompress: stringEnum(DECOMPRESS_MODES),
  upscale: {
    anyOf: [
      stringEnum(UPSCALE_TYPES),
      closedObject(
        { type: stringEnum(['photo'] as const), version: stringEnum(PHOTO_UPSCALE_VERSIONS) },
        ['type', 'version'] as const,
      ),
    ],
  },
  polish: { type: 'boolean' },
});

const adjustmentsSchema = closedObject({
  hdr: {
    anyOf: [
      boundedInteger(0, 100),
      closedObject({ intensity: boundedInteger(0, 100), stitching: { type: 'boolean' } }),
    ],
  },
  exposure: boundedInteger(-100, 100),
  saturation: boundedInteger(-100, 100),
  contrast: boundedInteger(-100, 100),
  sharpness: boundedInteger(0, 100),
});

const selectiveSchema = closedObject(
  { object_to_keep: { type: 'string', minLength: 3, maxLength: 128 } },
  ['object_to_keep'] as const,
);

const backgroundSchema = closedObject({
  remove: {
    anyOf: [
      { type: 'boolean' },
      closedObject({
        clipping: { type: 'boolean' },
        selective: selectiveSchema,
        category: stringEnum(BACKGROUND_CATEGORIES),
      }),
    ],
  },
  // The contract lists a free string (hex colour) next to the `transparent` keyword; the string branch
  // already admits everything, the colour grammar is checked by the pipeline.
  color: { anyOf: [{ type: 'string' }, stringEnum(['transparent'] as const)] },
  blur: {
    anyOf: [
      { type: 'boolean' },
      closedObject({
        selective: selectiveSchema,
        category: stringEnum(BACKGROUND_CATEGORIES),
        type: stringEnum(BACKGROUND_BLUR_TYPES),
        level: stringEnum(BACKGROUND_BLUR_LEVELS),
      }),
    ],
  },
});

/** Pixels (integer), `"auto"`, or a percentage string; the percentage grammar is the pipeline's concern. */
const sizeSchema = { anyOf: [{ type: 'integer' }, stringEnum(['auto'] as const), { type: 'string' }] } as const;

const resizingSchema = closedObject({
  width: sizeSchema,
  height: sizeSchema,
  fit: {
    anyOf: [
      stringEnum(FIT_MODES),
      taggedObject('crop', { crop: stringEnum(CROP_MODES) }),
      taggedObject('cover'),
      taggedObject('bounds'),
      taggedObject('canvas'),
      taggedObject('outpaint', {
        // Kept verbatim from the contract: one digit, or two or more digits without a leading zero, then `%`.
        feathering: { type: 'string', pattern: '^[1-9][0-9]+[%]$|^[0-9][%]$' },
        outpaint_by: { type: 'string' },
      }),
    ],
  },
});

const privacySchema = closedObject({
  blur_car_plate: { type: 'boolean' },
  identity_crop: { type: 'boolean' },
});

const generativeSchema = closedObject({
  style_transfer: closedObject(
    {
      style_reference_image: { type: 'string' },
      prompt: { type: 'string', minLength: 3, maxLength: 1024 },
      depth_strength: unitInterval(),
      denoising_strength: unitInterval(),
      style_strength: unitInterval(),
    },
    ['style_reference_image'] as const,
  ),
});

export const imageOperationsSchema = closedObject({
  restorations: restorationsSchema,
  adjustments: adjustmentsSchema,
  background: backgroundSchema,
  resizing: resizingSchema,
  padding: { type: 'string' },
  privacy: privacySchema,
  generative: generativeSchema,
});

// ---------------------------------------------------------------------------------------------------------
// output

/** webp, avif and tiff share one shape for `compression`; only their defaults differ (applied in code). */
const lossyOrLosslessSchema = {
  anyOf: [
    stringEnum(COMPRESSION_KINDS),
    taggedObject('lossy', { quality: boundedInteger(1, 100) }),
    taggedObject('lossless'),
  ],
} as const;

const outputFormatSchema = {
  anyOf: [
    stringEnum(OUTPUT_FORMATS),
    taggedObject('jpeg', { quality: boundedInteger(1, 100), progressive: { type: 'boolean' } }),
    taggedObject('png', { compression: stringEnum(PNG_COMPRESSION_LEVELS) }),
    taggedObject('webp', { compression: lossyOrLosslessSchema }),
    taggedObject('avif', { compression: lossyOrLosslessSchema }),
    taggedObject('tiff', { compression: lossyOrLosslessSchema }),
  ],
} as const;

const metadataSchema = closedObject({
  dpi: { type: 'integer' },
  color_space: {
    anyOf: [
      stringEnum(COLOR_SPACES),
      taggedObject('RGB'),
      taggedObject('CMYK', { color_profile: stringEnum(CMYK_PROFILES) }),
    ],
  },
});

export const imageOutputOptionsSchema = closedObject({
  format: outputFormatSchema,
  destination: uriString,
  metadata: metadataSchema,
});

/** `output` is either the options object or a bare destination URI. */
const outputSchema = { anyOf: [imageOutputOptionsSchema, uriString] } as const;

// ---------------------------------------------------------------------------------------------------------
// Request bodies

/** POST /v1/image/edit */
export const editRequestSchema = closedObject(
  { input: uriString, operations: imageOperationsSchema, output: outputSchema },
  ['input', 'operations'] as const,
);

/** POST /v1/image/edit/async: the same body as the synchronous edit. */
export const asyncEditRequestSchema = closedObject(
  { input: uriString, operations: imageOperationsSchema, output: outputSchema },
  ['input', 'operations'] as const,
);

/**
 * The JSON carried by the `data` field of POST /v1/image/edit/upload: an edit request whose input is the
 * uploaded file, so `input` itself is not allowed.
 */
export const uploadDataSchema = closedObject(
  { operations: imageOperationsSchema, output: outputSchema },
  ['operations'] as const,
);

export const batchEditInputOptionsSchema = closedObject(
  { source: uriString, recursive: { type: 'boolean' } },
  ['source'] as const,
);

/** POST /v1/image/edit/batch: `input` is a folder description, one URI, or a non-empty list of URIs. */
export const batchEditRequestSchema = closedObject(
  {
    input: {
      anyOf: [batchEditInputOptionsSchema, uriString, { type: 'array', items: uriString, minItems: 1 }],
    },
    operations: imageOperationsSchema,
    output: outputSchema,
  },
  ['input', 'operations'] as const,
);

// ---------------------------------------------------------------------------------------------------------
// Storages

const nonEmptyString = { type: 'string', minLength: 1 } as const;

// AWS and GCP credentials have the same shape in the contract (HMAC keys for GCS).
const credentialsSchema = closedObject(
  { access_key: nonEmptyString, secret_access_key: nonEmptyString },
  ['access_key', 'secret_access_key'] as const,
);
const credentialsUpdateSchema = closedObject({ access_key: nonEmptyString, secret_access_key: nonEmptyString });

function bucketParameters<C extends object>(credentials: C, required: boolean) {
  return closedObject(
    { path: { type: 'string' }, bucket: nonEmptyString, credentials },
    required ? (['bucket', 'credentials'] as const) : undefined,
  );
}

// The contract leaves web folder parameters open to extra properties (unlike every other object).
const webFolderParametersSchema = {
  type: 'object',
  required: ['base_url'],
  properties: { base_url: { type: 'string' } },
} as const;

/**
 * Parameters by storage type. The request schemas below accept any of them whatever `type` says (the
 * contract's `anyOf` has no discriminator), so the storage service should also check `parameters` against
 * the entry for the declared type.
 */
export const storageParametersSchemas = {
  s3: bucketParameters(credentialsSchema, true),
  gcs: bucketParameters(credentialsSchema, true),
  web_folder: webFolderParametersSchema,
} as const;

export const storageParametersUpdateSchemas = {
  s3: bucketParameters(credentialsUpdateSchema, false),
  gcs: bucketParameters(credentialsUpdateSchema, false),
  web_folder: webFolderParametersSchema,
} as const;

/** POST /v1/storage/storages */
export const storageCreateSchema = closedObject(
  {
    name: { type: 'string', maxLength: 50 },
    type: stringEnum(STORAGE_TYPES),
    parameters: {
      anyOf: [storageParametersSchemas.s3, storageParametersSchemas.gcs, storageParametersSchemas.web_folder],
    },
  },
  ['name', 'type', 'parameters'] as const,
);

/** PATCH /v1/storage/storages/{storage_id}: every field optional. */
export const storageUpdateSchema = closedObject({
  name: { type: 'string', maxLength: 50 },
  type: stringEnum(STORAGE_TYPES),
  parameters: {
    anyOf: [
      storageParametersUpdateSchemas.s3,
      storageParametersUpdateSchemas.gcs,
      storageParametersUpdateSchemas.web_folder,
    ],
  },
});

// ---------------------------------------------------------------------------------------------------------
// Path parameters

/**
 * Schema for a route's params object holding one integer id (e.g. `task_id`, `storage_id`). Path values
 * arrive as strings, so validate it with a coercing validator (see `fastifyValidatorCompiler`).
 */
export function idParamSchema(name: string) {
  return {
    type: 'object',
    required: [name],
    properties: { [name]: { type: 'integer' } },
  } as const;
}
