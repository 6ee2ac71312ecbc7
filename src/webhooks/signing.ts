// Webhook signatures. The reference's verification examples (Python, JavaScript, Ruby) all expect the header
// `X-Claid-Hmac-SHA256: sha256=<hex>`: Python and Ruby build "sha256=" + hexdigest and compare whole strings,
// the JavaScript example splits on "=" and verifies the hex part. The MAC covers the exact bytes sent, so the
// body must be signed after serialisation and sent as those very bytes.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-Claid-Hmac-SHA256';
const PREFIX = 'sha256=';

/** `sha256=<lower-case hex HMAC-SHA256 of body keyed with secret>`. */
export function signatureHeaderValue(secret: string, body: string | Buffer): string {
  return PREFIX + createHmac('sha256', Buffer.from(secret, 'utf8')).update(body).digest('hex');
}

/** Constant-time check of a header value against a body, as a receiver would do it. */
export function verifySignatureHeader(secret: string, body: string | Buffer, header: string | undefined): boolean {
  if (!header) return false;
  const expected = Buffer.from(signatureHeaderValue(secret, body), 'utf8');
  const given = Buffer.from(header.trim(), 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
