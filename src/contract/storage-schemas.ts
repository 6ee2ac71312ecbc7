// Request schemas of the storage endpoints as Atelier serves them: the contract's (./schemas.ts) plus the
// `local` type, an Atelier extension (a folder on the server). Everything the contract defines is reused
// unchanged, so a body the contract accepts is accepted here; the only additions are the `local` type and
// a name of at least one character (an empty name could not be addressed as storage://name/...).
import { STORAGE_TYPES, storageParametersSchemas, storageParametersUpdateSchemas } from './schemas.js';

export const LOCAL_STORAGE_TYPE = 'local' as const;
export const ATELIER_STORAGE_TYPES = [...STORAGE_TYPES, LOCAL_STORAGE_TYPE] as const;
export type AtelierStorageType = (typeof ATELIER_STORAGE_TYPES)[number];

export const MAX_STORAGE_NAME_LENGTH = 50;

const localParametersSchema = {
  type: 'object',
  required: ['path'],
  properties: { path: { type: 'string', minLength: 1 } },
  additionalProperties: false,
} as const;

const localParametersUpdateSchema = {
  type: 'object',
  properties: { path: { type: 'string', minLength: 1 } },
  additionalProperties: false,
} as const;

/** Full parameters by type: what a created storage (or a PATCH after merging) must satisfy. */
export const atelierStorageParametersSchemas = {
  ...storageParametersSchemas,
  local: localParametersSchema,
} as const;

export const atelierStorageParametersUpdateSchemas = {
  ...storageParametersUpdateSchemas,
  local: localParametersUpdateSchema,
} as const;

const nameSchema = { type: 'string', minLength: 1, maxLength: MAX_STORAGE_NAME_LENGTH } as const;
const typeSchema = { type: 'string', enum: ATELIER_STORAGE_TYPES } as const;

/** POST /v1/storage/storages */
export const storageCreateRequestSchema = {
  type: 'object',
  required: ['name', 'type', 'parameters'],
  properties: {
    name: nameSchema,
    type: typeSchema,
    parameters: {
      anyOf: [
        atelierStorageParametersSchemas.s3,
        atelierStorageParametersSchemas.gcs,
        atelierStorageParametersSchemas.web_folder,
        atelierStorageParametersSchemas.local,
      ],
    },
  },
  additionalProperties: false,
} as const;

/** PATCH /v1/storage/storages/{storage_id} */
export const storageUpdateRequestSchema = {
  type: 'object',
  properties: {
    name: nameSchema,
    type: typeSchema,
    parameters: {
      anyOf: [
        atelierStorageParametersUpdateSchemas.s3,
        atelierStorageParametersUpdateSchemas.gcs,
        atelierStorageParametersUpdateSchemas.web_folder,
        atelierStorageParametersUpdateSchemas.local,
      ],
    },
  },
  additionalProperties: false,
} as const;

export interface StorageCredentialsIn {
  access_key: string;
  secret_access_key: string;
}

export interface BucketParametersIn {
  path?: string;
  bucket: string;
  credentials: StorageCredentialsIn;
}

export interface WebFolderParametersIn {
  base_url: string;
  [extra: string]: unknown;
}

export interface LocalParametersIn {
  path: string;
}

export type StorageParametersIn = BucketParametersIn | WebFolderParametersIn | LocalParametersIn;

export interface StorageCreateRequest {
  name: string;
  type: AtelierStorageType;
  parameters: StorageParametersIn;
}

export interface StorageUpdateRequest {
  name?: string;
  type?: AtelierStorageType;
  parameters?: Record<string, unknown>;
}

export function isAtelierStorageType(value: string): value is AtelierStorageType {
  return (ATELIER_STORAGE_TYPES as readonly string[]).includes(value);
}
