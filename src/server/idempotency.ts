// `Idempotency-Key` for POSTs that create work. A route opts in with `config: { idempotent: true }` (JSON bodies:
// the fingerprint is the SHA-256 of the raw body bytes, hashed while the body streams in, so nothing is buffered
// twice) or `config: { idempotent: 'manual' }` (multipart: the route hashes what it parsed and calls
// beginIdempotent itself, since a multipart body's raw bytes change with every boundary a client draws).
//
// The first request with a key runs; its answer is recorded unless it is a 5xx or a refusal that depends on the
// moment (see isReplayableStatus). A later request with the same key and fingerprint gets that answer again,
// with `idempotent-replayed: true`, without running. The same key with another body or endpoint is a 409, and so
// is a request whose twin is still running: it is answered at once rather than held open, like Stripe does.
import { createHash, type Hash } from 'node:crypto';
import { pipeline, Transform } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AtelierError, ValidationError } from '../errors.js';
import type { IdempotencyStore } from './idempotency-store.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Accept `Idempotency-Key` on this route. true: the fingerprint is the SHA-256 of the raw body. 'manual': the
     * handler computes it from what it parsed and calls beginIdempotent() before doing any work.
     */
    idempotent?: boolean | 'manual';
  }
  interface FastifyRequest {
    idempotency?: IdempotencyState;
  }
}

export const IDEMPOTENCY_HEADER = 'idempotency-key';
export const REPLAYED_HEADER = 'idempotent-replayed';

/** 1 to 255 printable ASCII characters (space to tilde), as most APIs that take such keys accept. */
const KEY_RE = /^[\x20-\x7e]{1,255}$/;

/** Headers that describe the body and are replayed with it; per-request ones (request id, rate limits) are not. */
export const REPLAYED_HEADERS = [
  'content-type',
  'content-disposition',
  'content-language',
  'location',
  'cache-control',
  'etag',
  'last-modified',
] as const;

interface IdempotencyState {
  key: string;
  owner: string;
  endpoint: string;
  store: IdempotencyStore;
  /** Running SHA-256 of the raw body, for `idempotent: true` routes. */
  bodyHash?: Hash;
  phase: 'pending' | 'started' | 'replayed' | 'settled';
  token?: string;
}

/**
 * Whether an answer is recorded for replay. Recorded: successes and client errors that the same request would
 * get again (422 for an unusable input, 404, ...). Not recorded, so that retrying with the same key is useful:
 * 5xx, and refusals that depend on the moment rather than the request: 402 (credits can be topped up), 408, 409
 * (a conflict of the moment), 425 and 429 (rate limit, busy server, full queue).
 */
export function isReplayableStatus(status: number): boolean {
  if (status >= 200 && status < 300) return true;
  return status >= 400 && status < 500 && ![402, 408, 409, 425, 429].includes(status);
}

/**
 * A fingerprint for requests a route parses itself: SHA-256 over the parts, each prefixed with its length so
 * that moving bytes from one part to the next changes the digest.
 */
export function fingerprintOf(...parts: (string | Buffer)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) {
    const bytes = typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
    hash.update(`${bytes.length}:`);
    hash.update(bytes);
  }
  return hash.digest('hex');
}

const EMPTY_BODY_SHA256 = createHash('sha256').digest('hex');

/** Validates the header; undefined when absent. */
export function parseIdempotencyKey(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && KEY_RE.test(value)) return value;
  const msg = 'Idempotency-Key must be 1 to 255 printable ASCII characters.';
  throw new ValidationError(msg, {
    errors: [{ loc: ['header', 'Idempotency-Key'], msg, type: 'value_error' }],
  }, 'invalid_idempotency_key');
}

/**
 * Claims the request's key before any work. Resolves false to go on (also when the request has no key), or true
 * once the recorded answer has been sent instead, in which case the handler returns `reply` and does nothing
 * else. Throws a 409 when the key belongs to another request or its twin is still running.
 * (A boolean, not the reply: a FastifyReply is a thenable, so an async function cannot hand it back.)
 */
export async function beginIdempotent(request: FastifyRequest, reply: FastifyReply, fingerprint: string): Promise<boolean> {
  const state = request.idempotency;
  if (!state || state.phase !== 'pending') return false;
  const result = await state.store.begin({
    owner: state.owner,
    key: state.key,
    endpoint: state.endpoint,
    fingerprint,
  });
  switch (result.kind) {
    case 'started':
      state.phase = 'started';
      state.token = result.token;
      return false;
    case 'replay': {
      state.phase = 'replayed';
      request.log.debug({ idempotencyKey: state.key }, 'idempotent request replayed');
      const { answer } = result;
      reply.code(answer.status).headers(answer.headers).header(REPLAYED_HEADER, 'true').send(answer.body);
      return true;
    }
    case 'in-progress':
      reply.header('retry-after', '1');
      throw new AtelierError(
        409,
        'general',
        'idempotency_key_in_progress',
        'A request with this Idempotency-Key is still being processed; retry when it has finished to get its answer.',
        { idempotency_key: state.key },
      );
    case 'mismatch':
      throw new AtelierError(
        409,
        'general',
        'idempotency_key_reused',
        result.what === 'body'
          ? 'This Idempotency-Key was already used with a different request body. Use a new key for a new request.'
          : `This Idempotency-Key was already used for ${result.endpoint}. Use a new key for a new request.`,
        { idempotency_key: state.key, first_endpoint: result.endpoint },
      );
  }
}

function replayedHeaders(reply: FastifyReply): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of REPLAYED_HEADERS) {
    const value = reply.getHeader(name);
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return headers;
}

async function settle(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<void> {
  const state = request.idempotency;
  if (!state || state.phase !== 'started' || !state.token) return;
  state.phase = 'settled';
  const { owner, key, token, store } = state;
  const status = reply.statusCode;
  const body = typeof payload === 'string' ? Buffer.from(payload) : Buffer.isBuffer(payload) ? payload : payload == null ? Buffer.alloc(0) : undefined;
  try {
    if (isReplayableStatus(status) && body) {
      const stored = await store.complete(owner, key, token, { status, headers: replayedHeaders(reply), body });
      if (!stored) request.log.warn({ idempotencyKey: key }, 'idempotency lock lost before the answer was recorded');
    } else {
      // A streamed body cannot be recorded; like a 5xx, the key is freed so a retry runs the request again.
      await store.release(owner, key, token);
    }
  } catch (err) {
    request.log.error({ err, idempotencyKey: key }, 'recording an idempotent answer failed');
  }
}

/** Installs the hooks. Register after authentication: keys are scoped per API key. */
export function installIdempotency(app: FastifyInstance, store: IdempotencyStore): void {
  app.decorateRequest('idempotency', undefined);

  app.addHook('onRequest', async (request) => {
    const mode = request.routeOptions.config?.idempotent;
    if (!mode || !request.apiKey) return;
    const key = parseIdempotencyKey(request.headers[IDEMPOTENCY_HEADER]);
    if (key === undefined) return;
    request.idempotency = {
      key,
      owner: request.apiKey.id,
      endpoint: `${request.method} ${request.routeOptions.url}`,
      store,
      phase: 'pending',
    };
  });

  // Hash the body bytes as the parser reads them. Multipart routes ('manual') read the raw request themselves.
  app.addHook('preParsing', async (request, _reply, payload) => {
    const state = request.idempotency;
    if (!state || request.routeOptions.config?.idempotent !== true) return payload;
    const hash = createHash('sha256');
    state.bodyHash = hash;
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        callback(null, chunk);
      },
    });
    // pipeline() carries a client abort on the request over to `tap`, where the body parser sees it.
    return pipeline(payload, tap, () => {});
  });

  app.addHook('preHandler', async (request, reply) => {
    const state = request.idempotency;
    if (!state || request.routeOptions.config?.idempotent !== true) return;
    const fingerprint = state.bodyHash ? state.bodyHash.digest('hex') : EMPTY_BODY_SHA256;
    if (await beginIdempotent(request, reply, fingerprint)) return reply;
  });

  app.addHook('onSend', async (request, reply, payload) => {
    await settle(request, reply, payload);
    return payload;
  });

  // Nothing was sent through onSend (the connection died first, or the reply was hijacked): free the key.
  app.addHook('onResponse', async (request) => {
    const state = request.idempotency;
    if (state?.phase === 'started' && state.token) {
      state.phase = 'settled';
      await state.store.release(state.owner, state.key, state.token).catch((err: unknown) => {
        request.log.error({ err, idempotencyKey: state.key }, 'freeing an idempotency key failed');
      });
    }
  });
}
