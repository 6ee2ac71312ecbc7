// The one interface every storage type implements. Keys are full object keys inside the bucket or folder
// (the storage's own `path` prefix already applied by the caller); connectors know nothing about owners,
// names in URIs or output naming, only how to move bytes.
import { StorageError } from '../../errors.js';

export interface StoredObject {
  data: Buffer;
  /** The object's file name (its key's last segment). */
  name: string;
}

/** Where a written object landed, in the words of the published PipelineOutputObject. */
export interface ObjectLocation {
  /** `s3://bucket/key`, `gs://bucket/key`, `file:///...`, or the web URL. */
  uri: string;
  key: string;
  bucket?: string;
}

export interface ReadOptions {
  signal?: AbortSignal;
  /** Reading stops, with a 422, once an object is known to exceed this many bytes. */
  maxBytes: number;
  /** Request field the object was named in, for error messages (`input`, `output.destination`). */
  field: string;
}

export interface WriteOptions {
  signal?: AbortSignal;
  field: string;
}

export interface ListOptions {
  /** Include files in sub-folders, at any depth. */
  recursive: boolean;
  signal?: AbortSignal;
  /** Give up (422 `folder_too_large`) past this many files. */
  limit: number;
  field: string;
}

export interface StorageConnector {
  read(key: string, opts: ReadOptions): Promise<StoredObject>;
  write(key: string, data: Buffer, contentType: string, opts: WriteOptions): Promise<ObjectLocation>;
  /** Full keys of the files under `prefix` (`''` or ending in `/`), sorted. Folder markers are skipped. */
  list(prefix: string, opts: ListOptions): Promise<string[]>;
  /** Releases connections. */
  close(): void;
}

/** The last segment of a key: the name an object is known by. */
export function keyName(key: string): string {
  return key.split('/').filter(Boolean).pop() ?? key;
}

export function objectNotFound(storage: string, key: string, field: string): StorageError {
  return new StorageError('object_not_found', `${field}: storage "${storage}" has no object "${key}".`, {
    field,
    storage,
    key,
  });
}

export function inputTooLarge(field: string, maxBytes: number, bytes: number): StorageError {
  return new StorageError('input_too_large', `${field}: the file is larger than the ${maxBytes} bytes allowed.`, {
    field,
    max_bytes: maxBytes,
    bytes,
  });
}

export function folderTooLarge(storage: string, prefix: string, field: string, limit: number): StorageError {
  return new StorageError(
    'folder_too_large',
    `${field}: the folder "${prefix}" of storage "${storage}" holds more than ${limit} files; name a smaller folder.`,
    { field, storage, prefix, limit },
  );
}
