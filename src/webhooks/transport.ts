// The webhook POST through the outbound-request guard (../storage/guard.ts), the same guard input URLs go
// through: no private, loopback or metadata address unless ATELIER_URL_ALLOWLIST exempts it, checked at every
// connection (DNS answers are pinned, so a rebinding name cannot slip through after the save-time check).
// Redirects are not followed: a webhook is a POST with a signed body, and re-sending it wherever a 3xx points
// would hand the signature to another host. A 3xx therefore ends the delivery (see schedule.ts).
import { StorageError } from '../errors.js';
import { guardedRequest, type OutboundGuard } from '../storage/guard.js';
import type { WebhookTransport } from './dispatcher.js';
import type { AttemptResult } from './schedule.js';
import type { UrlCheck } from './service.js';

/** Receivers' answers are not used; a larger 2xx body is not read at all (and still counts as delivered). */
const MAX_RESPONSE_BYTES = 64 * 1024;
const MAX_CONNECT_TIMEOUT_MS = 10_000;

/** Guard failures that no retry can fix: the address, the scheme, the URL, a redirect. */
const FINAL_CODES = new Set(['url_not_allowed', 'unsupported_url_scheme', 'invalid_url', 'too_many_redirects']);

/** Maps what guardedRequest threw to an attempt result. */
export function resultOfFailure(err: unknown): AttemptResult {
  if (err instanceof StorageError) {
    if (err.code === 'response_too_large') {
      // Only a 2xx body is refused for its size, so the receiver did accept the notification.
      return { kind: 'response', status: 200, note: `2xx answer with a body over ${MAX_RESPONSE_BYTES} bytes (not read)` };
    }
    if (err.code === 'too_many_redirects') {
      return { kind: 'refused', error: 'the receiver answered with a redirect; webhook redirects are not followed' };
    }
    if (FINAL_CODES.has(err.code)) return { kind: 'refused', error: err.message };
    return { kind: 'network', error: err.message };
  }
  return { kind: 'network', error: err instanceof Error ? err.message : String(err) };
}

export function guardedTransport(guard: OutboundGuard): WebhookTransport {
  return async ({ url, headers, body, timeoutMs, signal }) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return { kind: 'refused', error: `not a valid URL: ${url}` };
    }
    try {
      const res = await guardedRequest(guard, target, {
        method: 'POST',
        headers,
        body,
        maxBytes: MAX_RESPONSE_BYTES,
        connectTimeoutMs: Math.min(timeoutMs, MAX_CONNECT_TIMEOUT_MS),
        totalTimeoutMs: timeoutMs,
        maxRedirects: 0,
        signal,
        field: 'webhook_url',
      });
      return { kind: 'response', status: res.status };
    } catch (err) {
      return resultOfFailure(err);
    }
  };
}

/**
 * The save-time check of a webhook URL: what the guard refuses by policy (a private or metadata address, a
 * name resolving to one, credentials in the URL, another scheme) is refused. A name that does not resolve
 * right now is accepted: DNS may be briefly unavailable, and every attempt is checked again anyway.
 */
export function createUrlCheck(guard: OutboundGuard): UrlCheck {
  return async (url) => {
    try {
      await guard.check(url, 'url');
    } catch (err) {
      if (err instanceof StorageError && (err.code === 'url_not_allowed' || err.code === 'unsupported_url_scheme')) throw err;
    }
  };
}
