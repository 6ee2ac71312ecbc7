// Fetches a user-supplied input URL with hard limits: connect and total timeouts, a bounded number of
// redirects, and a byte cap enforced while streaming (a lying or missing Content-Length cannot make us
// buffer more). The content type the server claims is ignored: the pipeline sniffs the bytes.
import { Agent, interceptors, request, type Dispatcher } from 'undici';
import { StorageError } from '../errors.js';

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
}

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

/** Drops a response body we will not read. Destroying emits 'error'; without a listener that would crash. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => {});
  body.destroy();
}

export class InputFetcher {
  private readonly dispatcher: Dispatcher;

  constructor(private readonly limits: FetchLimits) {
    this.dispatcher = new Agent({
      connect: { timeout: limits.connectTimeoutMs },
      headersTimeout: limits.totalTimeoutMs,
      bodyTimeout: limits.totalTimeoutMs,
    }).compose(interceptors.redirect({ maxRedirections: limits.maxRedirects }));
  }

  async fetch(url: URL, signal?: AbortSignal, field = 'input'): Promise<FetchedFile> {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new StorageError('unsupported_url_scheme', `${field}: only http and https URLs can be fetched.`, {
        field,
        scheme: url.protocol.replace(/:$/, ''),
      });
    }
    const timeout = AbortSignal.timeout(this.limits.totalTimeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, {
        method: 'GET',
        dispatcher: this.dispatcher,
        signal: combined,
        headers: { 'user-agent': 'Atelier/0.1 (+image fetcher)', accept: 'image/*,*/*;q=0.5' },
      });
    } catch (err) {
      throw this.failure(err, url, field, timeout.aborted);
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      discard(res.body);
      const redirect = res.statusCode >= 300 && res.statusCode < 400;
      throw new StorageError(
        redirect ? 'too_many_redirects' : 'input_fetch_failed',
        redirect
          ? `${field}: gave up after ${this.limits.maxRedirects} redirects.`
          : `${field}: the server answered HTTP ${res.statusCode} for ${url.href}.`,
        { field, status: res.statusCode },
      );
    }
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > this.limits.maxBytes) {
      discard(res.body);
      throw this.tooLarge(field, declared);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > this.limits.maxBytes) {
          discard(res.body);
          throw this.tooLarge(field, size);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (err) {
      if (err instanceof StorageError) throw err;
      throw this.failure(err, url, field, timeout.aborted);
    }
    return { data: Buffer.concat(chunks, size), name: fileNameFromUrl(url), url: url.href };
  }

  private tooLarge(field: string, size: number): StorageError {
    return new StorageError(
      'input_too_large',
      `${field}: the file is larger than the ${this.limits.maxBytes} bytes allowed.`,
      { field, max_bytes: this.limits.maxBytes, bytes: size },
    );
  }

  private failure(err: unknown, url: URL, field: string, timedOut: boolean): StorageError {
    if (timedOut) {
      return new StorageError('input_fetch_timeout', `${field}: fetching ${url.href} took longer than allowed.`, {
        field,
        timeout_ms: this.limits.totalTimeoutMs,
      });
    }
    const e = err as { code?: string; message?: string };
    if (e?.code === 'UND_ERR_ABORTED' || (err as Error)?.name === 'AbortError') {
      return new StorageError('input_fetch_aborted', `${field}: fetching was cancelled.`, { field });
    }
    if (e?.code === 'UND_ERR_REDIRECT' || /redirect/i.test(e?.message ?? '')) {
      return new StorageError('too_many_redirects', `${field}: too many redirects (max ${this.limits.maxRedirects}).`, {
        field,
      });
    }
    return new StorageError('input_unreachable', `${field}: could not fetch ${url.href} (${e?.code ?? 'network error'}).`, {
      field,
      cause: e?.code ?? 'network_error',
    });
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
