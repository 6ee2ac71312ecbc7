// Fetches a user-supplied input URL through the outbound-request guard (guard.ts): private, loopback,
// link-local and metadata addresses are refused at every redirect hop and the connection is pinned to the
// checked address; connect and total timeouts, a bounded number of redirects, and a byte cap enforced while
// streaming (a lying or missing Content-Length cannot make us buffer more). The content type the server claims
// is ignored: the pipeline sniffs the bytes.
import type { Dispatcher } from 'undici';
import { StorageError } from '../errors.js';
import type { BodyPool, BorrowedBuffer } from './body-pool.js';
import { OutboundGuard, guardedRequest } from './guard.js';

export interface FetchLimits {
  maxBytes: number;
  connectTimeoutMs: number;
  totalTimeoutMs: number;
  maxRedirects: number;
}

export interface FetchedFile {
  data: Buffer;
  /** The file name the URL points at (last path segment), used to name the output. */
  name: string;
  url: string;
  /**
   * Hands `data`'s memory back to the fetcher's pool when it came from there (a no-op otherwise). Call it once
   * nothing reads `data` any more; without a call the memory is simply garbage-collected.
   */
  release(): void;
}

export interface FetchOptions {
  /** Read the body into a buffer borrowed from the fetcher's pool: the caller must `release()` it. */
  pooled?: boolean;
}

const noRelease = (): void => {};

/** The last path segment of a URL, decoded, or `image` when the path has none. */
export function fileNameFromUrl(url: URL): string {
  const last = url.pathname.split('/').filter(Boolean).pop();
  if (!last) return 'image';
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

export function parseInputUrl(raw: string, field = 'input'): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new StorageError('invalid_url', `${field}: "${raw.slice(0, 200)}" is not a valid URL.`, { field });
  }
  return url;
}

/** Input-specific error codes for the guard's generic ones (the contract's clients already see these). */
const INPUT_CODES: Record<string, string> = {
  response_too_large: 'input_too_large',
  fetch_timeout: 'input_fetch_timeout',
  fetch_aborted: 'input_fetch_aborted',
  fetch_unreachable: 'input_unreachable',
};

export class InputFetcher {
  private readonly guard: OutboundGuard;
  private readonly ownsGuard: boolean;
  private readonly dispatcher: Dispatcher;

  /** Without a guard, nothing but public addresses can be fetched (an empty allowlist). */
  constructor(
    private readonly limits: FetchLimits,
    guard?: OutboundGuard,
    private readonly pool?: BodyPool,
  ) {
    this.guard = guard ?? new OutboundGuard({ allowlist: [] });
    this.ownsGuard = !guard;
    this.dispatcher = this.guard.dispatcher({ connectTimeoutMs: limits.connectTimeoutMs });
  }

  async fetch(url: URL, signal?: AbortSignal, field = 'input', opts: FetchOptions = {}): Promise<FetchedFile> {
    const pool = opts.pooled ? this.pool : undefined;
    let borrowed: BorrowedBuffer | undefined;
    const allocate = pool
      ? (size: number): Buffer => {
          borrowed?.release();
          borrowed = pool.borrow(size);
          return borrowed.data;
        }
      : undefined;
    let res;
    try {
      res = await guardedRequest(this.guard, url, {
        method: 'GET',
        headers: { 'user-agent': 'Atelier/0.1 (+image fetcher)', accept: 'image/*,*/*;q=0.5' },
        maxBytes: this.limits.maxBytes,
        connectTimeoutMs: this.limits.connectTimeoutMs,
        totalTimeoutMs: this.limits.totalTimeoutMs,
        maxRedirects: this.limits.maxRedirects,
        signal,
        field,
        dispatcher: this.dispatcher,
        allocate,
      });
    } catch (err) {
      borrowed?.release();
      throw this.inputError(err, field);
    }
    // The borrowed buffer is the body only when the origin sent what it declared.
    const release = borrowed && res.body === borrowed.data ? borrowed.release : noRelease;
    if (release === noRelease) borrowed?.release();
    if (res.status < 200 || res.status >= 300) {
      release();
      throw new StorageError('input_fetch_failed', `${field}: the server answered HTTP ${res.status} for ${res.url}.`, {
        field,
        status: res.status,
      });
    }
    // Named after the URL the user gave, not where it redirected (short links, CDN hashes).
    return { data: res.body, name: fileNameFromUrl(url), url: url.href, release };
  }

  private inputError(err: unknown, field: string): unknown {
    if (!(err instanceof StorageError)) return err;
    const code = INPUT_CODES[err.code];
    if (!code) return err;
    const message =
      code === 'input_too_large' ? `${field}: the file is larger than the ${this.limits.maxBytes} bytes allowed.` : err.message;
    return new StorageError(code, message, err.details, err.status);
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
    if (this.ownsGuard) await this.guard.close();
  }
}
