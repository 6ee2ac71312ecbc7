// The reference's three signature-verification examples (image-edit-async.md, "Webhook Signature
// Verification"), re-written in TypeScript step for step, so tests can show that what Atelier sends is what
// receivers written from the reference accept. Each keeps its original's quirks: Python and Ruby compare the
// whole "sha256=<hex>" string, the JavaScript one splits the header on "=" and verifies the hex part.
import { createHmac, timingSafeEqual, webcrypto } from 'node:crypto';

/** Python: hmac.new(secret.encode('utf-8'), msg=payload_body, digestmod=hashlib.sha256); compare_digest. */
export function pythonVerify(payloadBody: Buffer, secretToken: string, signatureHeader: string | undefined): boolean {
  if (!signatureHeader) throw new Error('403: x-hub-signature-256 header is missing!');
  const hashObject = createHmac('sha256', Buffer.from(secretToken, 'utf8')).update(payloadBody);
  const expectedSignature = 'sha256=' + hashObject.digest('hex');
  // hmac.compare_digest on two str: False on a length mismatch, constant time otherwise.
  const a = Buffer.from(expectedSignature, 'utf8');
  const b = Buffer.from(signatureHeader, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** JavaScript: WebCrypto importKey("raw") + verify over TextEncoder(payload), signature = hex after "=". */
export async function javascriptVerify(secret: string, header: string, payload: string): Promise<boolean> {
  const encoder = new TextEncoder();
  const parts = header.split('=');
  const sigHex = parts[1]!;
  const algorithm = { name: 'HMAC', hash: { name: 'SHA-256' } };
  const keyBytes = encoder.encode(secret);
  const extractable = false;
  const key = await webcrypto.subtle.importKey('raw', keyBytes, algorithm, extractable, ['sign', 'verify']);
  const sigBytes = hexToBytes(sigHex);
  const dataBytes = encoder.encode(payload);
  return webcrypto.subtle.verify(algorithm.name, key, sigBytes, dataBytes);
}

function hexToBytes(hex: string): Uint8Array {
  const len = hex.length / 2;
  const bytes = new Uint8Array(len);
  let index = 0;
  for (let i = 0; i < hex.length; i += 2) {
    const c = hex.slice(i, i + 2);
    bytes[index] = parseInt(c, 16);
    index += 1;
  }
  return bytes;
}

/** Ruby: 'sha256=' + OpenSSL::HMAC.hexdigest(sha256, SECRET_TOKEN, payload_body); Rack::Utils.secure_compare. */
export function rubyVerify(payloadBody: Buffer, secretToken: string, header: string | undefined): boolean {
  const signature = 'sha256=' + createHmac('sha256', secretToken).update(payloadBody).digest('hex');
  return rackSecureCompare(signature, header);
}

/** Rack::Utils.secure_compare: false unless both are strings of equal byte size, then XOR-accumulate. */
function rackSecureCompare(a: string, b: string | undefined): boolean {
  if (typeof b !== 'string') return false;
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  if (x.length !== y.length) return false;
  let r = 0;
  for (let i = 0; i < x.length; i++) r |= x[i]! ^ y[i]!;
  return r === 0;
}
