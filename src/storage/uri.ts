// `storage://name/path` addresses: parsing, key building and output naming. Pure functions, no I/O, so the
// rules every connector relies on (what a key may contain, how a destination names its file) live in one
// place and are tested on their own.
import { extname } from 'node:path';
import { StorageError } from '../errors.js';

export const STORAGE_SCHEME = 'storage://';

export interface StorageUri {
  /** The storage's name, percent-decoded. */
  name: string;
  /** Path segments inside the storage, percent-decoded, without empty segments. */
  segments: string[];
  /** True when the URI names a folder: it ends with `/`, or has no path at all. */
  folder: boolean;
}

/** Whether a value is meant as a storage address (the scheme is case-insensitive, like any URI scheme). */
export function isStorageUri(value: string): boolean {
  return value.slice(0, STORAGE_SCHEME.length).toLowerCase() === STORAGE_SCHEME;
}

function invalid(field: string, raw: string, why: string): StorageError {
  return new StorageError('invalid_storage_uri', `${field}: "${raw.slice(0, 200)}" is not a usable storage URI: ${why}.`, {
    field,
  });
}

function decode(part: string, field: string, raw: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw invalid(field, raw, `"${part}" has a malformed %-escape`);
  }
}

/**
 * Splits a path into segments, refusing `.` and `..` (a key must not climb out of the storage's folder or
 * prefix) and control characters. Empty segments (`a//b`, a leading `/`) are dropped.
 */
export function pathSegments(path: string, field: string, raw = path): string[] {
  const segments = path.split('/').filter((s) => s.length > 0);
  for (const s of segments) {
    if (s === '.' || s === '..') throw invalid(field, raw, `"${s}" segments are not allowed`);
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(s)) throw invalid(field, raw, 'control characters are not allowed');
  }
  return segments;
}

/**
 * Parses `storage://name/path/to/file.png`. The name and each path segment are percent-decoded (a URI
 * cannot hold a raw space, so `my%20photo.png` names `my photo.png`); `?` and `#` have no special meaning.
 */
export function parseStorageUri(raw: string, field = 'input'): StorageUri {
  if (!isStorageUri(raw)) throw invalid(field, raw, 'it must start with storage://');
  const rest = raw.slice(STORAGE_SCHEME.length);
  const slash = rest.indexOf('/');
  const namePart = slash === -1 ? rest : rest.slice(0, slash);
  const pathPart = slash === -1 ? '' : rest.slice(slash + 1);
  const name = decode(namePart, field, raw);
  if (name.length === 0) throw invalid(field, raw, 'the storage name is missing');
  const segments = pathSegments(pathPart, field, raw).map((s) => decode(s, field, raw));
  // Decoding may reveal segments that were hidden by escapes (`%2E%2E`, `a%2Fb`): check them again.
  const checked = pathSegments(segments.join('/'), field, raw);
  if (checked.length !== segments.length) throw invalid(field, raw, 'a segment holds an encoded "/"');
  return { name, segments: checked, folder: pathPart === '' || pathPart.endsWith('/') };
}

/** `storage://name/a/b.png`, each part percent-encoded as needed. */
export function formatStorageUri(name: string, segments: readonly string[], folder = false): string {
  const path = segments.map(encodeURIComponent).join('/');
  return `${STORAGE_SCHEME}${encodeURIComponent(name)}/${path}${folder && path ? '/' : ''}`;
}

/** The object key for a path inside a storage whose parameters give `prefix` (`images/` + `a/b.png`). */
export function joinKey(prefix: readonly string[], segments: readonly string[]): string {
  return [...prefix, ...segments].join('/');
}

/** The listing prefix for a folder: `images/2024/`, or `` for the root. */
export function folderKey(prefix: readonly string[], segments: readonly string[]): string {
  const key = joinKey(prefix, segments);
  return key ? `${key}/` : '';
}

// File name extensions that already denote an output format: `photo.jpg` stays `photo.jpg` for JPEG output.
const FORMAT_EXTENSIONS: Record<string, readonly string[]> = {
  jpeg: ['jpeg', 'jpg', 'jpe'],
  png: ['png'],
  webp: ['webp'],
  avif: ['avif'],
  tiff: ['tiff', 'tif'],
};

/** `photo.png` + `jpeg` → `photo.jpeg`; `photo.jpg` + `jpeg` → `photo.jpg`; `photo` + `png` → `photo.png`. */
export function nameForFormat(name: string, ext: string): string {
  const current = extname(name);
  const accepted = FORMAT_EXTENSIONS[ext] ?? [ext];
  if (current && accepted.includes(current.slice(1).toLowerCase())) return name;
  const stem = current && current.length < name.length ? name.slice(0, -current.length) : name;
  return `${stem}.${ext}`;
}

/** An input's file name made usable as one key segment: no separators, no control characters. */
export function outputFileName(inputName: string): string {
  const last = inputName.replace(/\\/g, '/').split('/').pop() ?? '';
  // eslint-disable-next-line no-control-regex
  const cleaned = last.replace(/[\u0000-\u001f\u007f]/g, '_');
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? 'image' : cleaned;
}

/**
 * Where an output goes inside its storage. A destination ending in `/` (or naming only the storage) is a
 * folder: the output keeps the input's file name with the output format's extension. Otherwise the
 * destination names the file, and its extension is fixed to the output format.
 */
export function destinationSegments(destination: StorageUri, inputName: string, ext: string): string[] {
  if (destination.folder) return [...destination.segments, nameForFormat(outputFileName(inputName), ext)];
  const segments = [...destination.segments];
  const last = segments.pop()!;
  return [...segments, nameForFormat(last, ext)];
}
