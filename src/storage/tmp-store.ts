// The temporary store: outputs written without a destination live here, under an unguessable token, and
// are served by Atelier as `tmp_url` until they expire (24 hours by default, like Claid's temporary bucket).
// Expiry is the file's age on disk, so it survives restarts without any bookkeeping.
import { createHmac, randomBytes } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';

const TOKEN_RE = /^[A-Za-z0-9_-]{22,64}$/;
const NAME_RE = /^[A-Za-z0-9._ ()+-]{1,200}$/;

export interface TmpObject {
  token: string;
  name: string;
  /** Path of the object under the tmp URL space: `<token>/<name>`. */
  key: string;
}

/** Makes a file name safe for a URL path segment and a file system, keeping it recognisable. */
export function safeFileName(name: string, fallback = 'image'): string {
  const base = basename(name.replace(/\\/g, '/'));
  const cleaned = base
    .normalize('NFKD')
    .replace(/[^A-Za-z0-9._ ()+-]+/g, '_')
    .replace(/^[.\s]+/, '')
    .slice(0, 150);
  return cleaned || fallback;
}

/** `photo.png` + `jpeg` → `photo.jpeg`: the output keeps the input's name with the output format's extension. */
export function withExtension(name: string, ext: string): string {
  const stem = name.slice(0, name.length - extname(name).length) || name;
  return `${stem}.${ext}`;
}

export class TmpStore {
  private sweeper?: NodeJS.Timeout;

  constructor(
    private readonly dir: string,
    private readonly ttlSeconds: number,
    /** Secret used to derive stable tokens for task outputs. */
    private readonly secret: string,
  ) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  /**
   * Stores `data` as `name`. With `stableId` the token is derived from it, so re-running the same task
   * writes the same URL instead of a second result.
   */
  async put(name: string, data: Buffer, stableId?: string): Promise<TmpObject> {
    const token = stableId
      ? createHmac('sha256', this.secret).update(stableId).digest('base64url').slice(0, 32)
      : randomBytes(24).toString('base64url');
    const safe = safeFileName(name);
    const folder = join(this.dir, token);
    await mkdir(folder, { recursive: true });
    // Write then rename so a reader never sees a half-written file.
    const partial = join(folder, `.${safe}.${randomBytes(4).toString('hex')}.part`);
    await writeFile(partial, data);
    await rename(partial, join(folder, safe));
    return { token, name: safe, key: `${token}/${safe}` };
  }

  /** Opens a stored object for reading, or undefined when it does not exist or has expired. */
  async open(token: string, name: string): Promise<{ stream: ReadStream; size: number; mtime: Date } | undefined> {
    if (!TOKEN_RE.test(token) || !NAME_RE.test(name) || name.startsWith('.')) return undefined;
    const file = join(this.dir, token, name);
    try {
      const st = await stat(file);
      if (!st.isFile() || this.expired(st.mtimeMs)) return undefined;
      return { stream: createReadStream(file), size: st.size, mtime: st.mtime };
    } catch {
      return undefined;
    }
  }

  private expired(mtimeMs: number, now = Date.now()): boolean {
    return now - mtimeMs > this.ttlSeconds * 1000;
  }

  /** Deletes expired objects; returns how many folders were removed. */
  async sweep(now = Date.now()): Promise<number> {
    let removed = 0;
    let tokens: string[];
    try {
      tokens = await readdir(this.dir);
    } catch {
      return 0;
    }
    for (const token of tokens) {
      const folder = join(this.dir, token);
      try {
        const names = await readdir(folder);
        let live = 0;
        for (const name of names) {
          const file = join(folder, name);
          const st = await stat(file);
          if (this.expired(st.mtimeMs, now)) await rm(file, { force: true });
          else live += 1;
        }
        if (live === 0) {
          await rm(folder, { recursive: true, force: true });
          removed += 1;
        }
      } catch {
        // A folder vanishing mid-sweep (another sweeper, a manual clean-up) is not an error.
      }
    }
    return removed;
  }

  startSweeping(intervalMs = 10 * 60 * 1000): void {
    this.stopSweeping();
    this.sweeper = setInterval(() => void this.sweep(), intervalMs);
    this.sweeper.unref();
  }

  stopSweeping(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}
