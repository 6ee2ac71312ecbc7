// Planning a batch: which inputs it covers, what each output is called and where it goes. Pure functions, no
// I/O: the batch service lists folders and runs items, these decide names, so the naming rules (kept file
// names, kept sub-folders, no two items writing the same file) are tested on their own.
import { extname } from 'node:path';
import type { ImageOperations, ImageOutputOptions } from '../contract/types.js';
import { ValidationError } from '../errors.js';
import { fileNameFromUrl, parseInputUrl } from '../storage/fetch.js';
import { formatStorageUri, isStorageUri, nameForFormat, outputFileName, parseStorageUri } from '../storage/uri.js';

/** The published BatchEditInputOptions. */
export interface BatchInputOptions {
  source: string;
  recursive?: boolean;
}

/** The published BatchEditRequest, as a client sends it. */
export interface BatchEditRequest {
  input: string | string[] | BatchInputOptions;
  operations: ImageOperations;
  output?: ImageOutputOptions | string;
}

/** Where a batch's inputs come from. */
export type BatchSource =
  | { kind: 'list'; inputs: string[] }
  | { kind: 'folder'; uri: string; recursive: boolean };

/**
 * How the request's `input` is read. `{source}` always names a folder (the contract's options object exists for
 * folders; its trailing slash is optional). A bare string names a folder when it is a storage:// URI ending in
 * `/` (or naming only the storage), else one file. A list names files.
 */
export function batchSource(input: BatchEditRequest['input']): BatchSource {
  if (Array.isArray(input)) return { kind: 'list', inputs: input };
  if (typeof input === 'object') return { kind: 'folder', uri: input.source, recursive: input.recursive === true };
  if (isStorageUri(input) && parseStorageUri(input, 'input').folder) return { kind: 'folder', uri: input, recursive: false };
  return { kind: 'list', inputs: [input] };
}

/** One input as found, before naming: its address, its file name, and its sub-folder below the listed folder. */
export interface FoundInput {
  input: string;
  name: string;
  /** Sub-folders between the listed folder and the file (empty for list inputs and non-recursive listings). */
  folders: string[];
}

/** A planned item: what to read, the name its output keeps, and the folder its output goes to (null: tmp). */
export interface PlannedItem {
  index: number;
  input: string;
  name: string;
  destination: string | null;
}

/** An input given by address: its file name is the URL's last path segment (or the storage path's). */
export function foundFromAddress(input: string): FoundInput {
  if (isStorageUri(input)) {
    const { segments } = parseStorageUri(input, 'input');
    return { input, name: segments[segments.length - 1] ?? 'image', folders: [] };
  }
  return { input, name: fileNameFromUrl(parseInputUrl(input, 'input')), folders: [] };
}

/** A listed file (`relative` is its path below the listed folder, `a/b/photo.jpg`). */
export function foundFromListing(uri: string, relative: string): FoundInput {
  const parts = relative.split('/').filter((s) => s.length > 0);
  const name = parts.pop() ?? 'image';
  return { input: uri, name, folders: parts };
}

// Extensions of the formats the pipeline decodes (src/pipeline/decode.ts). HEIC is listed although this build
// cannot decode HEVC: such a file should show up as a failed item with the reason, not vanish from the batch.
const IMAGE_EXTENSIONS = new Set([
  'jpg', 'jpeg', 'jpe', 'jfif', 'png', 'gif', 'webp', 'tif', 'tiff', 'bmp', 'dib', 'avif', 'heic', 'heif',
]);

/**
 * Whether a listed file is taken into a folder batch: an image extension, and nothing hidden on its way (no
 * `.DS_Store`, `._photo.jpg` resource forks, `.thumbnails/` caches). Folders in practice hold side files
 * (manifests, thumbnail databases); failing the batch item by item for each would drown the real errors.
 */
export function isBatchImage(found: FoundInput): boolean {
  if (found.name.startsWith('.') || found.folders.some((f) => f.startsWith('.'))) return false;
  return IMAGE_EXTENSIONS.has(extname(found.name).slice(1).toLowerCase());
}

/**
 * The folder a batch writes to. The contract's batch `output` is a folder URL, so `storage://name/out` means the
 * folder `out`, as `storage://name/out/` does (a file name would have every item overwrite the same file).
 */
export function batchDestinationFolder(destination: string | undefined): string | undefined {
  if (destination === undefined) return undefined;
  const { name, segments } = parseStorageUri(destination, 'output.destination');
  return formatStorageUri(name, segments, true);
}

/** `storage://name/out/` + `['a', 'b']` → `storage://name/out/a/b/`. */
export function subFolder(folder: string, folders: readonly string[]): string {
  if (folders.length === 0) return folder;
  const { name, segments } = parseStorageUri(folder, 'output.destination');
  return formatStorageUri(name, [...segments, ...folders], true);
}

function splitName(name: string): { stem: string; ext: string } {
  const ext = extname(name);
  return ext && ext.length < name.length ? { stem: name.slice(0, -ext.length), ext } : { stem: name, ext: '' };
}

/** The file extension every output of the batch gets: the output format's name (`jpeg` by default). */
export function outputExtension(output: ImageOutputOptions): string {
  const format = output.format;
  if (format === undefined) return 'jpeg';
  return typeof format === 'string' ? format : format.type;
}

/**
 * Names and places every output. File names are kept (the output format then fixes the extension, as for
 * single edits); with a destination folder, sub-folders below the listed folder are kept too. Two inputs whose
 * outputs would be the same file (`a.png` and `a.webp` both become `a.jpeg`; two URLs ending in `photo.jpg`)
 * are told apart: the later one, in input order, becomes `a_2.webp` → `a_2.jpeg`, then `_3`, ... Names compare
 * without case, since some file systems ignore it. The plan depends only on the request and the listing, so a
 * batch planned again names every output the same way.
 */
export function planItems(found: readonly FoundInput[], destination: string | undefined, ext: string): PlannedItem[] {
  const taken = new Map<string, Set<string>>();
  return found.map((f, index) => {
    const base = outputFileName(f.name);
    if (destination === undefined) return { index, input: f.input, name: base, destination: null };
    const folder = subFolder(destination, f.folders);
    let files = taken.get(folder);
    if (!files) taken.set(folder, (files = new Set()));
    const { stem, ext: inputExt } = splitName(base);
    let name = base;
    for (let n = 2; files.has(nameForFormat(name, ext).toLowerCase()); n++) name = `${stem}_${n}${inputExt}`;
    files.add(nameForFormat(name, ext).toLowerCase());
    return { index, input: f.input, name, destination: folder };
  });
}

/** Refuses a batch over the item limit (422 before anything is queued, or the batch's error once listed). */
export function checkItemCount(count: number, max: number, what: string): void {
  if (count > max) {
    throw new ValidationError(
      `input: ${what} ${count} images; a batch takes at most ${max} (ATELIER_MAX_BATCH_ITEMS).`,
      { field: 'input', items: count, max_items: max },
      'too_many_batch_items',
    );
  }
}
