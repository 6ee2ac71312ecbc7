// The outbound-request guard: every request Atelier makes to a URL a user gave (inputs, templates, style
// references, web_folder storages, webhooks) goes through here, so that the server cannot be used to reach
// the private network it runs in, or the cloud metadata service beside it.
//
// Exported API (other modules import these; keep it stable):
//
//   type LookupFn = (hostname: string) => Promise<ResolvedAddress[]>   // ResolvedAddress = { address, family: 4 | 6 }
//   type GuardDecision =
//     | { allowed: true; address: string; family: 4 | 6; allowlisted: boolean }
//     | { allowed: false; address: string; category: AddressCategory | 'invalid'; reason: string }
//   class OutboundGuard {
//     constructor(opts: { allowlist: string[]; lookup?: LookupFn })   // throws on a malformed allowlist entry
//     decide(address: string): GuardDecision                           // pure: one address, any spelling
//     assertUrl(url: URL, field?: string): void                        // scheme, credentials, literal address, blocked names; no DNS
//     check(url: URL, field?: string): Promise<CheckedTarget>          // assertUrl + resolve + every answer decided
//     dispatcher(opts?: { connectTimeoutMs?: number }): Dispatcher     // undici Agent pinned to checked addresses; caller closes it
//     close(): Promise<void>                                           // closes the dispatchers guardedRequest shares
//   }
//   guardedRequest(guard: OutboundGuard, url: URL, opts: GuardedRequestOptions): Promise<GuardedResponse>
//     opts: { method?: string = 'GET'; headers?: Record<string, string>; body?: Buffer | string; maxBytes: number;
//             connectTimeoutMs: number; totalTimeoutMs: number; maxRedirects?: number = 5; signal?: AbortSignal;
//             field?: string = 'url'; dispatcher?: Dispatcher }
//     → { status: number; headers: IncomingHttpHeaders; body: Buffer; url: string /* after redirects */; truncated: boolean }
//
// Every refusal and failure is a StorageError (422, type `storage`) whose details name `field`:
//   url_not_allowed        the host, an address it resolves to, a redirect target, or credentials in the URL
//                          (details: field, host, address?, reason, category)
//   unsupported_url_scheme anything but http and https        invalid_url     an unparsable redirect Location
//   too_many_redirects     more than maxRedirects hops         response_too_large  a 2xx body over maxBytes
//   fetch_timeout          totalTimeoutMs elapsed              fetch_aborted   the caller's signal fired
//   fetch_unreachable      DNS failure, refused or timed-out connection, reset (details.cause: the error code)
// A non-2xx response is returned, not thrown, with its body cut at min(maxBytes, 64 KiB) (`truncated` says so).
//
// How the address check is made to stick: the undici Agent from `dispatcher()` connects through a `lookup`
// that resolves the name once, decides every answer (one bad answer refuses the name), and hands only those
// checked answers to the socket, so a second DNS answer (rebinding) never reaches a connect. Literal IP hosts
// never reach a lookup, so the Agent's connector decides them itself. Redirects are followed here, one hop at
// a time, each through the same checks.
import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupFunction } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, buildConnector, request, type Dispatcher } from 'undici';
import { StorageError } from '../errors.js';
import {
  AddressSet,
  canonicalAddress,
  classifyAddress,
  type AddressCategory,
  type AddressFamily,
} from './ip-ranges.js';

export interface ResolvedAddress {
  address: string;
  family: AddressFamily;
}

export type LookupFn = (hostname: string) => Promise<ResolvedAddress[]>;

export type GuardDecision =
  | { allowed: true; address: string; family: AddressFamily; allowlisted: boolean }
  | { allowed: false; address: string; category: AddressCategory | 'invalid'; reason: string };

export interface CheckedTarget {
  /** The URL's host as written in it (brackets removed). */
  host: string;
  /** What it resolved to; every one passed `decide` unless the host name itself is allowlisted. */
  addresses: ResolvedAddress[];
  allowlisted: boolean;
}

export interface OutboundGuardOptions {
  /** Host names (`*.example.com` covers subdomains only), IP addresses and CIDR ranges exempt from the guard. */
  allowlist: string[];
  /** Name resolution; defaults to the system resolver (`dns.lookup`). Tests inject their own. */
  lookup?: LookupFn;
}

/**
 * Names refused without resolving them: they only ever mean a cloud metadata service, and inside a cloud the
 * resolver may not even be asked (or may answer differently than it does for us).
 */
const METADATA_NAMES = new Set([
  'metadata.google.internal',
  'metadata.goog',
  'metadata',
  'instance-data',
  'instance-data.ec2.internal',
]);

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const ERROR_BODY_LIMIT = 64 * 1024;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const CROSS_ORIGIN_UNSAFE_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

/** Lower case, no trailing dot, IDN in punycode: the form the allowlist and the blocked names are kept in. */
function normaliseHostName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function bare(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

/** A refusal raised where no request field is known (inside the connector); turned into a StorageError later. */
class GuardRefusal extends Error {
  constructor(
    readonly host: string,
    /** The address that was refused; absent when the name or the URL itself was. */
    readonly address: string | undefined,
    readonly category: string,
    /** A noun phrase: "a private address (RFC 1918)". */
    readonly reason: string,
  ) {
    super(`${host}: ${reason}`);
    this.name = 'GuardRefusal';
  }

  static fromDecision(host: string, decision: Extract<GuardDecision, { allowed: false }>): GuardRefusal {
    return new GuardRefusal(host, decision.address, decision.category, decision.reason);
  }

  toStorageError(field: string): StorageError {
    const resolved = this.address !== undefined && !canonicalAddress(this.host);
    const why =
      this.category === 'credentials'
        ? this.reason
        : resolved
          ? `it resolves to ${this.address}, ${this.reason}`
          : `it is ${this.reason}`;
    return new StorageError(
      'url_not_allowed',
      `${field}: requests to "${this.host}" are not allowed: ${why}.` +
        (this.category === 'credentials' ? '' : ' An operator can exempt hosts and networks with ATELIER_URL_ALLOWLIST.'),
      { field, host: this.host, address: this.address, reason: this.reason, category: this.category },
    );
  }
}

export class OutboundGuard {
  private readonly names = new Set<string>();
  private readonly suffixes: string[] = [];
  private readonly addresses = new AddressSet();
  private readonly resolve: LookupFn;
  private readonly shared = new Map<number, Dispatcher>();

  constructor(opts: OutboundGuardOptions) {
    for (const raw of opts.allowlist) this.allow(raw.trim());
    this.resolve =
      opts.lookup ??
      (async (hostname) =>
        (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => ({
          address: a.address,
          family: a.family === 6 ? 6 : 4,
        })));
  }

  private allow(entry: string): void {
    if (!entry) return;
    if (entry.includes('/') || canonicalAddress(entry)) {
      try {
        this.addresses.add(entry);
      } catch (err) {
        throw new Error(`ATELIER_URL_ALLOWLIST: ${(err as Error).message}`);
      }
      return;
    }
    const wildcard = entry.startsWith('*.');
    let host: string;
    try {
      host = new URL(`http://${wildcard ? entry.slice(2) : entry}/`).hostname;
    } catch {
      throw new Error(`ATELIER_URL_ALLOWLIST: "${entry}" is not a host name, IP address or CIDR range`);
    }
    if (wildcard) this.suffixes.push(`.${normaliseHostName(host)}`);
    else this.names.add(normaliseHostName(host));
  }

  /** Whether a host name (not an address) is on the allowlist, exactly or under a `*.` wildcard. */
  private nameAllowed(hostname: string): boolean {
    const name = normaliseHostName(hostname);
    return this.names.has(name) || this.suffixes.some((s) => name.endsWith(s));
  }

  /** Whether one address may be connected to: allowlisted, or an ordinary public address. Pure. */
  decide(address: string): GuardDecision {
    const addr = canonicalAddress(address);
    if (!addr) return { allowed: false, address, category: 'invalid', reason: 'not an IP address' };
    if (this.addresses.has(addr)) return { allowed: true, address: addr.address, family: addr.family, allowlisted: true };
    const cls = classifyAddress(addr);
    if (cls) return { allowed: false, address: addr.address, category: cls.category, reason: cls.label };
    return { allowed: true, address: addr.address, family: addr.family, allowlisted: false };
  }

  /**
   * What can be refused without DNS: the scheme, credentials in the URL, a literal address, a cloud metadata
   * name. Host names are resolved and checked when the connection is made (or by `check`).
   */
  assertUrl(url: URL, field = 'url'): void {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new StorageError('unsupported_url_scheme', `${field}: only http and https URLs can be fetched.`, {
        field,
        scheme: url.protocol.replace(/:$/, ''),
      });
    }
    const host = bare(url.hostname);
    // Refused rather than stripped: silently dropping them would turn into puzzling 401s, and forwarding
    // them would send a user's secrets wherever a redirect points.
    if (url.username || url.password) {
      throw new GuardRefusal(host, undefined, 'credentials', 'the URL carries credentials (user:password@), which are not accepted').toStorageError(field);
    }
    try {
      this.refuseWithoutDns(host);
    } catch (err) {
      throw err instanceof GuardRefusal ? err.toStorageError(field) : err;
    }
  }

  /** Throws a GuardRefusal for a refused literal address or metadata name; returns the literal if any. */
  private refuseWithoutDns(host: string): ResolvedAddress | null {
    const literal = canonicalAddress(host);
    if (literal) {
      const decision = this.decide(literal.address);
      if (!decision.allowed) throw GuardRefusal.fromDecision(host, decision);
      return literal;
    }
    if (!this.nameAllowed(host) && METADATA_NAMES.has(normaliseHostName(host))) {
      throw new GuardRefusal(host, undefined, 'cloud-metadata', 'a cloud metadata host name');
    }
    return null;
  }

  /** Resolves a host once and decides every answer; one refused answer refuses the host. */
  private async resolveChecked(hostname: string): Promise<{ addresses: ResolvedAddress[]; allowlisted: boolean }> {
    const host = bare(hostname);
    const literal = this.refuseWithoutDns(host);
    if (literal) return { addresses: [literal], allowlisted: this.addresses.has(literal) };
    const allowlisted = this.nameAllowed(host);
    const answers = await this.resolve(host);
    if (answers.length === 0) {
      throw Object.assign(new Error(`${host} has no address`), { code: 'ENOTFOUND' });
    }
    if (allowlisted) return { addresses: answers, allowlisted };
    const checked: ResolvedAddress[] = [];
    for (const answer of answers) {
      const decision = this.decide(answer.address);
      if (!decision.allowed) throw GuardRefusal.fromDecision(host, decision);
      checked.push({ address: decision.address, family: decision.family });
    }
    return { addresses: checked, allowlisted };
  }

  /** Everything `assertUrl` does, then resolves the host and decides each address. Connects to nothing. */
  async check(url: URL, field = 'url'): Promise<CheckedTarget> {
    this.assertUrl(url, field);
    try {
      const { addresses, allowlisted } = await this.resolveChecked(url.hostname);
      return { host: bare(url.hostname), addresses, allowlisted };
    } catch (err) {
      throw toStorageError(err, url, field);
    }
  }

  /** `net.connect`'s lookup hook: the socket only ever sees addresses that were decided. */
  private readonly pinnedLookup: LookupFunction = (hostname, options, callback) => {
    this.resolveChecked(hostname).then(
      ({ addresses }) => {
        const family = options.family === 4 || options.family === 6 ? options.family : 0;
        const usable = family ? addresses.filter((a) => a.family === family) : addresses;
        const first = usable[0];
        if (!first) {
          callback(Object.assign(new Error(`${hostname} has no IPv${family} address`), { code: 'ENOTFOUND' }), '');
        } else if (options.all) {
          callback(null, usable);
        } else {
          callback(null, first.address, first.family);
        }
      },
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };

  /**
   * An undici dispatcher whose every new connection is checked: names through the pinned lookup, literal
   * addresses in the connector (the socket skips the lookup for those). Safe even without `assertUrl`, but
   * it neither checks schemes nor follows redirects; use `guardedRequest` for that. The caller closes it.
   */
  dispatcher(opts: { connectTimeoutMs?: number } = {}): Dispatcher {
    const base = buildConnector({ timeout: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, lookup: this.pinnedLookup });
    const connect: buildConnector.connector = (options, callback) => {
      const literal = canonicalAddress(options.hostname);
      if (literal) {
        const decision = this.decide(literal.address);
        if (!decision.allowed) {
          callback(GuardRefusal.fromDecision(bare(options.hostname), decision), null);
          return;
        }
      }
      base(options, callback);
    };
    return new Agent({ connect });
  }

  /** A dispatcher shared by every `guardedRequest` without its own, one per connect timeout. */
  sharedDispatcher(connectTimeoutMs: number): Dispatcher {
    let d = this.shared.get(connectTimeoutMs);
    if (!d) {
      d = this.dispatcher({ connectTimeoutMs });
      this.shared.set(connectTimeoutMs, d);
    }
    return d;
  }

  async close(): Promise<void> {
    const all = [...this.shared.values()];
    this.shared.clear();
    await Promise.all(all.map((d) => d.close()));
  }
}

export interface GuardedRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** A 2xx body longer than this is refused (`response_too_large`) as soon as it is known to be. */
  maxBytes: number;
  connectTimeoutMs: number;
  /** For the whole exchange: every redirect hop and the body. */
  totalTimeoutMs: number;
  /** Redirects followed; one more is `too_many_redirects`. Default 5; webhooks use 0. */
  maxRedirects?: number;
  signal?: AbortSignal;
  /** Names the request field in error messages and details (`input`, `webhook_url`...). */
  field?: string;
  /** Defaults to the guard's shared dispatcher for `connectTimeoutMs`. */
  dispatcher?: Dispatcher;
  /**
   * Provides the buffer a body with a Content-Length is read into (default: a new one). The response's `body`
   * is that buffer when the server sent what it declared, and another one when it did not.
   */
  allocate?: (size: number) => Buffer;
}

export interface GuardedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The URL that answered, after redirects. */
  url: string;
  /** True when a non-2xx body was cut short (2xx bodies are never cut: they are refused instead). */
  truncated: boolean;
}

/** Drops a response body we will not read. Destroying emits 'error'; without a listener that would crash. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => {});
  body.destroy();
}

function toStorageError(err: unknown, url: URL, field: string, timedOut = false, totalTimeoutMs = 0): StorageError {
  if (err instanceof StorageError) return err;
  const refusal = err instanceof GuardRefusal ? err : (err as { cause?: unknown })?.cause;
  if (refusal instanceof GuardRefusal) return refusal.toStorageError(field);
  const code = (err as { code?: unknown })?.code;
  // undici's own idle timers (a dispatcher built elsewhere) mean the same thing as ours.
  if (timedOut || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new StorageError('fetch_timeout', `${field}: requesting ${url.href} took longer than allowed.`, {
      field,
      timeout_ms: totalTimeoutMs,
    });
  }
  const e = err as { code?: string; name?: string };
  if (e?.code === 'UND_ERR_ABORTED' || e?.name === 'AbortError') {
    return new StorageError('fetch_aborted', `${field}: the request was cancelled.`, { field });
  }
  const cause = typeof e?.code === 'string' ? e.code : 'network_error';
  return new StorageError('fetch_unreachable', `${field}: could not reach ${url.host} (${cause}).`, { field, cause });
}

/**
 * One request to a user-supplied URL with the guard applied to it and to every redirect, a byte cap enforced
 * while streaming (a lying or missing Content-Length cannot make us buffer more), and timeouts. The content
 * type the server claims is not looked at: callers sniff the bytes.
 */
export async function guardedRequest(guard: OutboundGuard, url: URL, opts: GuardedRequestOptions): Promise<GuardedResponse> {
  const field = opts.field ?? 'url';
  const maxRedirects = opts.maxRedirects ?? 5;
  const timeout = AbortSignal.timeout(opts.totalTimeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  const dispatcher = opts.dispatcher ?? guard.sharedDispatcher(opts.connectTimeoutMs);
  const headers: Record<string, string> = { 'user-agent': 'Atelier/0.1' };
  for (const [k, v] of Object.entries(opts.headers ?? {})) headers[k.toLowerCase()] = v;
  let method = (opts.method ?? 'GET').toUpperCase();
  let body = opts.body;
  let current = url;
  const fail = (err: unknown) => toStorageError(err, current, field, timeout.aborted, opts.totalTimeoutMs);

  for (let hop = 0; ; hop++) {
    guard.assertUrl(current, field);
    let res: Dispatcher.ResponseData;
    try {
      res = await request(current, {
        method: method as Dispatcher.HttpMethod,
        headers,
        body,
        dispatcher,
        signal,
      });
    } catch (err) {
      throw fail(err);
    }

    const location = res.headers.location;
    if (REDIRECT_STATUSES.has(res.statusCode) && typeof location === 'string') {
      discard(res.body);
      if (hop >= maxRedirects) {
        throw new StorageError('too_many_redirects', `${field}: gave up after ${maxRedirects} redirects.`, {
          field,
          max_redirects: maxRedirects,
        });
      }
      let next: URL;
      try {
        next = new URL(location, current);
      } catch {
        throw new StorageError('invalid_url', `${field}: ${current.host} redirected to an invalid URL.`, { field });
      }
      // What browsers do: 303 (and 301/302 after a POST) becomes a GET without a body.
      if ((res.statusCode === 303 && method !== 'HEAD') || ((res.statusCode === 301 || res.statusCode === 302) && method === 'POST')) {
        method = 'GET';
        body = undefined;
        delete headers['content-type'];
        delete headers['content-length'];
      }
      if (next.origin !== current.origin) for (const h of CROSS_ORIGIN_UNSAFE_HEADERS) delete headers[h];
      current = next;
      continue;
    }

    const ok = res.statusCode >= 200 && res.statusCode < 300;
    const limit = ok ? opts.maxBytes : Math.min(opts.maxBytes, ERROR_BODY_LIMIT);
    const tooLarge = (bytes: number) =>
      new StorageError('response_too_large', `${field}: the response is larger than the ${opts.maxBytes} bytes allowed.`, {
        field,
        max_bytes: opts.maxBytes,
        bytes,
      });
    const declared = Number(res.headers['content-length']);
    if (ok && Number.isFinite(declared) && declared > limit) {
      discard(res.body);
      throw tooLarge(declared);
    }
    // With a Content-Length the body is copied once into a buffer of its final size: inputs are megabytes
    // each, and a second full-size copy per request measurably drives garbage collection. A server that
    // sends other than it declared falls back to collecting chunks.
    const allocate = opts.allocate ?? Buffer.allocUnsafe;
    let sized = Number.isInteger(declared) && declared >= 0 && declared <= limit ? allocate(declared) : undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    let truncated = false;
    try {
      for await (const chunk of res.body) {
        const buf = chunk as Buffer;
        if (size + buf.length > limit) {
          discard(res.body);
          if (ok) throw tooLarge(size + buf.length);
          if (sized) {
            chunks.push(sized.subarray(0, size));
            sized = undefined;
          }
          chunks.push(buf.subarray(0, limit - size));
          size = limit;
          truncated = true;
          break;
        }
        if (sized && size + buf.length > sized.length) {
          chunks.push(sized.subarray(0, size));
          sized = undefined;
        }
        if (sized) buf.copy(sized, size);
        else chunks.push(buf);
        size += buf.length;
      }
    } catch (err) {
      throw fail(err);
    }
    const received = sized && size === sized.length ? sized : Buffer.concat(sized ? [sized.subarray(0, size)] : chunks, size);
    return { status: res.statusCode, headers: res.headers, body: received, url: current.href, truncated };
  }
}
