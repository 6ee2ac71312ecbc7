// The `local` storage type (an Atelier extension): a folder on the server, for single-machine installs.
// Every folder must lie under the configured root (ATELIER_LOCAL_STORAGE_ROOT), so an API key cannot point a
// storage at /etc, and must not contain Atelier's own data directory (its database and installation secret),
// whatever the root. `..` is refused in paths and keys, and real paths are checked at every use, so a symlink
// inside the folder cannot lead outside it either.
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, isAbsolute, join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { StorageError, ValidationError } from '../../errors.js';
import {
  folderTooLarge,
  inputTooLarge,
  keyName,
  objectNotFound,
  type ListOptions,
  type ObjectLocation,
  type ReadOptions,
  type StorageConnector,
  type StoredObject,
  type WriteOptions,
} from './types.js';

/** Whether `child` is `parent` or inside it (both absolute, normalised). */
export function isWithin(parent: string, child: string): boolean {
  if (child === parent) return true;
  return child.startsWith(parent.endsWith(sep) ? parent : `${parent}${sep}`);
}

const PARTIAL_RE = /^\..+\.[0-9a-f]{8}\.part$/;

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

/** The protected folder (real path) that `folder` (a real path) would expose, if any. */
async function exposedBy(folder: string, protectedDirs: readonly string[]): Promise<string | undefined> {
  for (const dir of protectedDirs) {
    const real = await realpath(dir).catch(() => resolve(dir));
    if (isWithin(folder, real)) return dir;
  }
  return undefined;
}

/**
 * Resolves a local storage's `path` parameter (absolute, or relative to `root`) to an absolute folder under
 * `root`, creating it when missing. Refuses `..`, folders whose real path (symlinks followed) is outside, and
 * folders that contain one of `protectedDirs` (Atelier's data directory).
 */
export async function resolveLocalFolder(
  root: string,
  path: string,
  protectedDirs: readonly string[] = [],
  field = 'parameters.path',
): Promise<string> {
  if (path.split(/[\\/]/).includes('..')) {
    throw new ValidationError(`${field}: ".." is not allowed in a local storage path.`, { field });
  }
  const absRoot = resolve(root);
  const folder = isAbsolute(path) ? resolve(path) : resolve(absRoot, path);
  if (!isWithin(absRoot, folder)) {
    throw new ValidationError(`${field}: local storages must be folders under ${absRoot}.`, { field, root: absRoot });
  }
  await mkdir(absRoot, { recursive: true });
  const realRoot = await realpath(absRoot);
  // Create the folder one level at a time, so that a symlink on the way cannot make us create folders
  // elsewhere before the check below would catch it.
  let current = absRoot;
  for (const segment of folder.slice(absRoot.length).split(sep).filter(Boolean)) {
    current = join(current, segment);
    try {
      await mkdir(current);
    } catch (err) {
      if (code(err) !== 'EEXIST') throw err;
    }
    const real = await realpath(current);
    if (!isWithin(realRoot, real)) {
      throw new ValidationError(`${field}: "${path}" leads outside ${absRoot} through a symbolic link.`, { field });
    }
    if (!(await stat(real)).isDirectory()) {
      throw new ValidationError(`${field}: "${path}" is not a folder.`, { field });
    }
  }
  if (await exposedBy(await realpath(folder), protectedDirs)) {
    throw new ValidationError(`${field}: "${path}" contains Atelier's data directory; choose a folder beside it.`, {
      field,
    });
  }
  return folder;
}

export interface LocalConnectorOptions {
  storage: string;
  /** The configured root every local storage must stay under. */
  root: string;
  /** The storage's folder (absolute, under `root`). */
  folder: string;
  /** Folders the storage must not contain (Atelier's data directory). */
  protectedDirs?: readonly string[];
}

export class LocalConnector implements StorageConnector {
  constructor(private readonly opts: LocalConnectorOptions) {}

  private error(codeName: string, field: string, message: string): StorageError {
    return new StorageError(codeName, `${field}: ${message}`, { field, storage: this.opts.storage });
  }

  /** The folder's real path, checked again at each use: it may have been replaced since it was created. */
  private async base(field: string): Promise<string> {
    let real: string;
    try {
      real = await realpath(this.opts.folder);
    } catch {
      throw this.error('storage_folder_missing', field, `the folder of storage "${this.opts.storage}" does not exist any more.`);
    }
    const realRoot = await realpath(this.opts.root).catch(() => resolve(this.opts.root));
    if (!isWithin(realRoot, real)) {
      throw this.error('storage_outside_root', field, `the folder of storage "${this.opts.storage}" now leads outside the local storage root.`);
    }
    if (await exposedBy(real, this.opts.protectedDirs ?? [])) {
      throw this.error('storage_outside_root', field, `the folder of storage "${this.opts.storage}" contains Atelier's data directory.`);
    }
    return real;
  }

  private outside(field: string, key: string): StorageError {
    return this.error('storage_path_outside', field, `"${key}" leads outside storage "${this.opts.storage}" through a symbolic link.`);
  }

  async read(key: string, { maxBytes, field }: ReadOptions): Promise<StoredObject> {
    const base = await this.base(field);
    let real: string;
    try {
      real = await realpath(join(base, ...key.split('/')));
    } catch (err) {
      if (code(err) === 'ENOENT' || code(err) === 'ENOTDIR') throw objectNotFound(this.opts.storage, key, field);
      throw err;
    }
    if (!isWithin(base, real)) throw this.outside(field, key);
    const st = await stat(real);
    if (!st.isFile()) throw objectNotFound(this.opts.storage, key, field);
    if (st.size > maxBytes) throw inputTooLarge(field, maxBytes, st.size);
    return { data: await readFile(real), name: keyName(key) };
  }

  /** Walks to (and creates) the folder of a key, refusing symlinks that lead outside `base`. */
  private async folderFor(base: string, segments: readonly string[], field: string, key: string): Promise<string> {
    let current = base;
    for (const segment of segments) {
      const next = join(current, segment);
      let st;
      try {
        st = await lstat(next);
      } catch (err) {
        if (code(err) !== 'ENOENT') throw err;
        await mkdir(next).catch((e) => {
          if (code(e) !== 'EEXIST') throw e;
        });
        st = await lstat(next);
      }
      if (st.isSymbolicLink()) {
        const real = await realpath(next);
        if (!isWithin(base, real)) throw this.outside(field, key);
        current = real;
      } else {
        current = next;
      }
      if (!(await stat(current)).isDirectory()) {
        throw this.error('storage_path_conflict', field, `"${segments.join('/')}" in storage "${this.opts.storage}" is a file, not a folder.`);
      }
    }
    return current;
  }

  async write(key: string, data: Buffer, _contentType: string, { field }: WriteOptions): Promise<ObjectLocation> {
    const base = await this.base(field);
    const segments = key.split('/').filter(Boolean);
    const name = segments.pop();
    if (!name) throw this.error('invalid_storage_uri', field, 'the destination names no file.');
    const folder = await this.folderFor(base, segments, field, key);
    const target = join(folder, name);
    // Written beside the target and renamed over it: a reader never sees half a file, and a symlink at the
    // target's name is replaced rather than followed.
    const partial = join(folder, `.${basename(name)}.${randomBytes(4).toString('hex')}.part`);
    try {
      await writeFile(partial, data, { flag: 'wx' });
      await rename(partial, target);
    } catch (err) {
      await rm(partial, { force: true });
      if (code(err) === 'EISDIR') {
        throw this.error('storage_path_conflict', field, `"${key}" in storage "${this.opts.storage}" is a folder.`);
      }
      throw err;
    }
    return { uri: pathToFileURL(target).href, key };
  }

  async list(prefix: string, { recursive, limit, field }: ListOptions): Promise<string[]> {
    const base = await this.base(field);
    const prefixSegments = prefix.split('/').filter(Boolean);
    let start: string;
    try {
      start = await realpath(join(base, ...prefixSegments));
    } catch (err) {
      if (code(err) === 'ENOENT' || code(err) === 'ENOTDIR') return [];
      throw err;
    }
    if (!isWithin(base, start)) throw this.outside(field, prefix);
    const keys: string[] = [];
    // Symbolic links are not followed while listing: a listing shows what the folder itself holds.
    const walk = async (dir: string, rel: readonly string[]): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (code(err) === 'ENOTDIR') return;
        throw err;
      }
      for (const entry of entries) {
        if (entry.isFile() && !PARTIAL_RE.test(entry.name)) {
          keys.push([...rel, entry.name].join('/'));
          if (keys.length > limit) throw folderTooLarge(this.opts.storage, prefix, field, limit);
        } else if (recursive && entry.isDirectory()) {
          await walk(join(dir, entry.name), [...rel, entry.name]);
        }
      }
    };
    await walk(start, prefixSegments);
    return keys.sort();
  }

  close(): void {}
}
