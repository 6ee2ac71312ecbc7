// Encoding and storing the images the generative endpoints produce (image generate, AI edit): PNG or JPEG,
// written to a storage:// destination of the caller or to the temporary store (tmp_url). Several images from
// one request get numbered names (`cake_1.png`, `cake_2.png`), as the reference's examples show.
import { extname } from 'node:path';
import type { ImageObject, OutputImageObject } from '../contract/types.js';
import { StorageError } from '../errors.js';
import { encodeOutput, planOutput, resolveOutput } from '../pipeline/output.js';
import { fromRawImage, type RawImage } from '../pipeline/raw-image.js';
import type { StorageService } from '../storage/service.js';
import type { TmpStore } from '../storage/tmp-store.js';
import { formatStorageUri, isStorageUri, parseStorageUri } from '../storage/uri.js';

export type GeneratedFormat = 'png' | 'jpeg';

export interface EncodedImage {
  data: Buffer;
  object: ImageObject;
}

export interface GenerativeOutputDeps {
  tmp: TmpStore;
  storages: StorageService;
  /** Base for `tmp_url`, without trailing slash. */
  publicUrl: string;
}

/** `name` as image `index` (1-based) of `count`: unchanged for a single image, else `stem_index.ext`. */
export function numberedName(name: string, index: number, count: number): string {
  if (count <= 1) return name;
  const ext = extname(name);
  const stem = ext && ext.length < name.length ? name.slice(0, -ext.length) : name;
  return `${stem}_${index}${ext}`;
}

/**
 * The destination of image `index` of `count`: a folder stays the folder (the file name carries the number);
 * a file destination gets the number before its extension (`out/cake.png` → `out/cake_2.png`).
 */
export function numberedDestination(destination: string, index: number, count: number, field: string): string {
  if (count <= 1) return destination;
  const uri = parseStorageUri(destination, field);
  if (uri.folder) return destination;
  const segments = [...uri.segments];
  const last = segments.pop() as string;
  return formatStorageUri(uri.name, [...segments, numberedName(last, index, count)]);
}

/** A destination URI read as a folder, whether or not it ends in `/` (generate's `output` names a folder). */
export function asFolder(destination: string): string {
  return destination.endsWith('/') ? destination : `${destination}/`;
}

export class GenerativeOutput {
  constructor(private readonly deps: GenerativeOutputDeps) {}

  /** Refuses, before any work, a destination that is not a writable storage of `owner`. */
  checkDestination(owner: string, destination: string | undefined, field: string): void {
    if (destination === undefined) return;
    if (!isStorageUri(destination)) {
      throw new StorageError(
        'unsupported_destination',
        `${field}: outputs can be written to storages only: use storage://<storage name>/<path>, or omit it to get temporary URLs.`,
        { field },
      );
    }
    this.deps.storages.checkDestination(owner, destination, field);
  }

  /** Encodes sRGB pixels as PNG (lossless, keeps alpha) or JPEG (quality 85, flattened onto white). */
  async encode(img: RawImage, format: GeneratedFormat): Promise<EncodedImage> {
    const plan = planOutput(resolveOutput({ format }), { space: 'rgb' });
    const { data, info } = await encodeOutput(fromRawImage(img), plan);
    return { data, object: info };
  }

  /**
   * Stores one encoded image: at `destination` (a storage:// file or folder; a folder gets `name`), or in the
   * temporary store under `name`. `stableId` makes the temporary URL depend only on it (task re-runs).
   */
  async store(
    owner: string,
    image: EncodedImage,
    where: { destination?: string; name: string; stableId?: string; field: string },
    signal?: AbortSignal,
  ): Promise<OutputImageObject> {
    if (where.destination !== undefined) {
      const location = await this.deps.storages.writeOutput(
        owner,
        where.destination,
        { inputName: where.name, ext: image.object.ext, mime: image.object.mime, data: image.data },
        { signal, field: where.field },
      );
      return { ...image.object, ...location };
    }
    const stored = await this.deps.tmp.put(where.name, image.data, where.stableId);
    return { ...image.object, tmp_url: `${this.deps.publicUrl}/tmp/${stored.token}/${encodeURIComponent(stored.name)}` };
  }
}
