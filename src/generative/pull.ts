// `atelier models pull NAME`: downloads a named model set from its Hugging Face repository into the models
// directory. Each file goes into a staging folder (<models>/.partial/<name>/) as `<file>.part`, resumed with an
// HTTP Range request after an interruption (in this run or a later one), then checked against the size and
// checksum the hub publishes (LFS files: sha256; small git files: the git blob sha1) or the registry states.
// Only when every file checks out is the staging folder renamed into place, so a set on disk is either
// complete or absent. Never runs on its own: only this command downloads anything.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline as streamPipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { modelSetSpec, type ModelSetSpec } from './model-sets.js';
import { modelsDir as defaultModelsDir, readJson } from './paths.js';

export const MANIFEST_FILE = '.atelier-model-set.json';
const DEFAULT_HUB = 'https://huggingface.co';
/** Weights stored next to a model.onnx (ONNX external data); fetched even when the registry omits them. */
const COMPANION = /(\.onnx_data|\.onnx\.data|\.pb|\.data)$/;

export class PullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PullError';
  }
}

export interface ProgressStream {
  write(chunk: string): boolean;
  isTTY?: boolean;
}

export interface PullOptions {
  /** Hub base URL; ATELIER_MODEL_HUB_URL, else https://huggingface.co. */
  hubUrl?: string;
  modelsDir?: string;
  /** Re-download even when the set is installed. */
  force?: boolean;
  /** Resumed attempts per file after a dropped connection (default 3). */
  retries?: number;
  /** Where the progress bar goes (stderr by default; null for silence). */
  progress?: ProgressStream | null;
  signal?: AbortSignal;
  /** A stalled transfer is dropped (and resumed) after this long without data (default 60 s). */
  idleTimeoutMs?: number;
  /** A spec not in the registry (tests, private mirrors). */
  spec?: ModelSetSpec;
}

interface PlannedFile {
  path: string;
  size: number;
  sha256?: string;
  /** git blob sha1 of a non-LFS file. */
  gitSha1?: string;
}

export interface PullResult {
  name: string;
  dir: string;
  alreadyInstalled: boolean;
  files: { path: string; size: number; sha256?: string }[];
  /** Bytes added to disk in this run (what earlier runs left in part files is not counted). */
  downloaded: number;
}

interface TreeEntry {
  type?: string;
  path?: string;
  size?: number;
  oid?: string;
  lfs?: { oid?: string; sha256?: string; size?: number };
}

function hubBase(opts: PullOptions): string {
  return (opts.hubUrl ?? process.env.ATELIER_MODEL_HUB_URL ?? DEFAULT_HUB).replace(/\/+$/, '');
}

function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/** The repository's files with sizes and checksums, from the hub's tree API (follows pagination). */
async function listTree(base: string, repo: string, revision: string, signal?: AbortSignal): Promise<TreeEntry[]> {
  let url: string | undefined = `${base}/api/models/${repo}/tree/${encodeURIComponent(revision)}?recursive=true`;
  const entries: TreeEntry[] = [];
  while (url) {
    const res: Response = await fetch(url, { signal: signal ?? null, headers: { accept: 'application/json' } });
    if (!res.ok) throw new PullError(`listing ${repo}@${revision} failed: HTTP ${res.status} from ${url}`);
    const page = (await res.json()) as unknown;
    if (!Array.isArray(page)) throw new PullError(`listing ${repo}@${revision}: unexpected answer from ${url}`);
    entries.push(...(page as TreeEntry[]));
    const next = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get('link') ?? '')?.[1];
    url = next ? new URL(next, url).toString() : undefined;
  }
  return entries;
}

/** Which files to fetch: the registry's list checked against the hub's, plus external-weight companions. */
export function planFiles(spec: ModelSetSpec, tree: TreeEntry[]): PlannedFile[] {
  const files = new Map<string, TreeEntry>();
  for (const e of tree) if (e.path && e.type !== 'directory') files.set(e.path, e);
  const plan: PlannedFile[] = [];
  const add = (path: string, stated?: { size?: number; sha256?: string }): void => {
    const e = files.get(path) as TreeEntry;
    const size = e.lfs?.size ?? e.size;
    if (typeof size !== 'number') throw new PullError(`the hub states no size for ${path}`);
    if (stated?.size !== undefined && stated.size !== size) {
      throw new PullError(`${path} is ${size} bytes on the hub but the registry expects ${stated.size}: the repository changed`);
    }
    const lfsSha = e.lfs?.sha256 ?? e.lfs?.oid;
    if (stated?.sha256 && lfsSha && stated.sha256 !== lfsSha) {
      throw new PullError(`${path} has sha256 ${lfsSha} on the hub but the registry expects ${stated.sha256}`);
    }
    const sha256 = stated?.sha256 ?? lfsSha;
    plan.push({ path, size, ...(sha256 ? { sha256 } : !e.lfs && e.oid ? { gitSha1: e.oid } : {}) });
  };
  for (const f of spec.files) {
    if (files.has(f.path)) add(f.path, f);
    else if (!f.optional) throw new PullError(`${spec.hub.repo}@${spec.hub.revision} has no file ${f.path}`);
  }
  const dirs = new Set(plan.filter((f) => f.path.endsWith('.onnx')).map((f) => posix.dirname(f.path)));
  for (const path of [...files.keys()].sort()) {
    if (COMPANION.test(path) && dirs.has(posix.dirname(path)) && !plan.some((f) => f.path === path)) add(path);
  }
  return plan;
}

/** The progress line: a bar on a terminal, a line per file and per 10% elsewhere. */
export class Progress {
  private done = 0;
  /** Bytes of the files finished before the current one. */
  private base = 0;
  private lastDraw = 0;
  private lastDecile = -1;
  private readonly started = Date.now();
  private current = '';

  constructor(
    private readonly name: string,
    private readonly total: number,
    private readonly out: ProgressStream | null,
  ) {}

  private get tty(): boolean {
    return this.out?.isTTY === true;
  }

  /** A new file starts, `alreadyHave` bytes of it already on disk; `base` bytes of earlier files are done. */
  file(path: string, base: number, alreadyHave: number): void {
    this.current = path;
    this.base = base;
    this.done = base + alreadyHave;
    if (!this.out) return;
    if (this.tty) this.draw(true);
    else this.out.write(`${this.name}: ${path} (${formatBytes(alreadyHave)} already here)\n`);
  }

  add(bytes: number): void {
    this.done += bytes;
    if (!this.out) return;
    if (this.tty) this.draw(false);
    else {
      const decile = Math.floor((this.done / Math.max(1, this.total)) * 10);
      if (decile !== this.lastDecile) {
        this.lastDecile = decile;
        this.out.write(`${this.name}: ${this.percent()}% ${formatBytes(this.done)}/${formatBytes(this.total)}\n`);
      }
    }
  }

  /** After a dropped connection or a restart, the current file has `have` bytes on disk. */
  resync(have: number): void {
    this.done = this.base + have;
  }

  private percent(): number {
    return Math.min(100, Math.floor((this.done / Math.max(1, this.total)) * 100));
  }

  private draw(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const width = 24;
    const filled = Math.round((this.percent() / 100) * width);
    const rate = this.done / Math.max(0.001, (now - this.started) / 1000);
    this.out?.write(
      `\r\x1b[2K${this.name} ${String(this.percent()).padStart(3)}% [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ` +
        `${formatBytes(this.done)}/${formatBytes(this.total)} ${formatBytes(rate)}/s ${this.current}`,
    );
  }

  finish(message: string): void {
    if (!this.out) return;
    if (this.tty) this.draw(true);
    this.out.write(`${this.tty ? '\n' : ''}${message}\n`);
  }
}

export function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${Math.round(n)} B`;
}

async function hashFile(path: string, algorithm: 'sha256' | 'sha1', prefix?: string): Promise<string> {
  const h = createHash(algorithm);
  if (prefix) h.update(prefix);
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function sizeOf(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/** Checks a downloaded file; returns its sha256. */
async function verify(file: PlannedFile, path: string): Promise<string> {
  const size = sizeOf(path);
  if (size !== file.size) throw new PullError(`${file.path}: ${size} bytes downloaded, ${file.size} expected`);
  const sha256 = await hashFile(path, 'sha256');
  if (file.sha256 && sha256 !== file.sha256.toLowerCase()) {
    throw new PullError(`checksum mismatch for ${file.path}: sha256 ${sha256}, expected ${file.sha256}; the download was discarded`);
  }
  if (!file.sha256 && file.gitSha1) {
    const sha1 = await hashFile(path, 'sha1', `blob ${size}\0`);
    if (sha1 !== file.gitSha1.toLowerCase()) {
      throw new PullError(`checksum mismatch for ${file.path}: git blob sha1 ${sha1}, expected ${file.gitSha1}; the download was discarded`);
    }
  }
  return sha256;
}

/** One attempt: fetch the rest of the file into `part` (appending from its current size). */
async function fetchInto(url: string, part: string, file: PlannedFile, progress: Progress, opts: PullOptions): Promise<void> {
  let start = sizeOf(part);
  if (start > file.size) {
    truncateSync(part, 0);
    start = 0;
  }
  if (start === file.size) return;
  const idle = new AbortController();
  const signals = opts.signal ? [opts.signal, idle.signal] : [idle.signal];
  const signal = AbortSignal.any(signals);
  const idleMs = opts.idleTimeoutMs ?? 60_000;
  let timer = setTimeout(() => idle.abort(new Error(`no data for ${idleMs} ms`)), idleMs);
  const res = await fetch(url, { signal, redirect: 'follow', headers: start > 0 ? { range: `bytes=${start}-` } : {} });
  try {
    if (res.status === 416 && start > 0) {
      // The part already holds everything the server has: verification decides.
      return;
    }
    if (!res.ok || !res.body) throw new PullError(`downloading ${file.path} failed: HTTP ${res.status}`);
    let append = start > 0 && res.status === 206;
    if (append) {
      const range = /bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
      if (!range || Number(range[1]) !== start) append = false;
    }
    if (!append && start > 0) {
      // The server ignored the range: start over.
      progress.resync(0);
      start = 0;
    }
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        clearTimeout(timer);
        timer = setTimeout(() => idle.abort(new Error(`no data for ${idleMs} ms`)), idleMs);
        progress.add(chunk.length);
        cb(null, chunk);
      },
    });
    await streamPipeline(Readable.fromWeb(res.body as never), counter, createWriteStream(part, { flags: append ? 'a' : 'w' }));
  } finally {
    clearTimeout(timer);
  }
}

/** Downloads and installs a model set. */
export async function pullModelSet(name: string, opts: PullOptions = {}): Promise<PullResult> {
  const spec = opts.spec ?? modelSetSpec(name);
  if (!spec) throw new PullError(`unknown model set '${name}'; see: atelier models list`);
  const root = opts.modelsDir ?? defaultModelsDir();
  const target = join(root, name);
  const installedManifest = readJson(join(target, MANIFEST_FILE));
  if (installedManifest && !opts.force) {
    const files = (installedManifest.files as PullResult['files'] | undefined) ?? [];
    return { name, dir: target, alreadyInstalled: true, files, downloaded: 0 };
  }

  const base = hubBase(opts);
  const { repo, revision } = spec.hub;
  const plan = planFiles(spec, await listTree(base, repo, revision, opts.signal));
  const staging = join(root, '.partial', name);
  mkdirSync(staging, { recursive: true });
  const total = plan.reduce((s, f) => s + f.size, 0);
  const progress = new Progress(name, total, opts.progress === undefined ? process.stderr : opts.progress);
  const verifiedPath = join(staging, '.verified.json');
  const verified = (readJson(verifiedPath) ?? {}) as Record<string, { size: number; sha256: string }>;
  const results: PullResult['files'] = [];
  let downloaded = 0;
  let completed = 0;

  for (const file of plan) {
    const dest = join(staging, file.path);
    const part = `${dest}.part`;
    mkdirSync(dirname(dest), { recursive: true });
    const known = verified[file.path];
    if (known && existsSync(dest) && known.size === file.size && (!file.sha256 || known.sha256 === file.sha256)) {
      progress.file(file.path, completed, file.size);
      completed += file.size;
      results.push({ path: file.path, size: file.size, sha256: known.sha256 });
      continue;
    }
    const had = sizeOf(part) <= file.size ? sizeOf(part) : 0;
    progress.file(file.path, completed, had);
    const url = `${base}/${repo}/resolve/${encodeURIComponent(revision)}/${encodePath(file.path)}`;
    const attempts = 1 + Math.max(0, opts.retries ?? 3);
    for (let attempt = 1; ; attempt++) {
      try {
        await fetchInto(url, part, file, progress, opts);
        break;
      } catch (err) {
        progress.resync(sizeOf(part));
        if (opts.signal?.aborted || err instanceof PullError || attempt >= attempts) {
          if (err instanceof PullError) throw err;
          const reason = err instanceof Error ? err.message : String(err);
          throw new PullError(`downloading ${file.path} failed after ${attempt} attempt(s): ${reason}. Run the command again to resume.`);
        }
        // Dropped connection: the part keeps what arrived; the next attempt asks for the rest.
      }
    }
    let sha256: string;
    try {
      sha256 = await verify(file, part);
    } catch (err) {
      rmSync(part, { force: true });
      throw err;
    }
    downloaded += file.size - had;
    renameSync(part, dest);
    verified[file.path] = { size: file.size, sha256 };
    writeFileSync(verifiedPath, JSON.stringify(verified));
    completed += file.size;
    results.push({ path: file.path, size: file.size, sha256 });
  }

  rmSync(verifiedPath, { force: true });
  writeFileSync(
    join(staging, MANIFEST_FILE),
    JSON.stringify({ name, repo, revision, hub: base, installedAt: new Date().toISOString(), files: results }, null, 2),
  );
  // Swap into place: the old folder (an earlier install, or a hand-made partial one) moves aside first.
  const old = join(root, '.partial', `${name}.old-${process.pid}-${Date.now()}`);
  if (existsSync(target)) renameSync(target, old);
  renameSync(staging, target);
  rmSync(old, { recursive: true, force: true });
  progress.finish(`Installed ${name} (${formatBytes(total)}) in ${target}`);
  return { name, dir: target, alreadyInstalled: false, files: results, downloaded };
}
