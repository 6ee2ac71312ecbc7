// Bearer-key authentication, scopes and per-key rate limits, run at onRequest so an unauthenticated or
// throttled request is answered before its body is even read. Routes opt in with `config.scope`; routes
// without it (health, metrics, temporary files) are public.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HttpErrorDetails } from '../contract/types.js';
import type { ApiKey, KeyStore, Scope } from '../accounts/keys.js';
import type { RateLimiter } from '../accounts/rate-limiter.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a key needs for this route; absent on public routes. */
    scope?: Scope;
  }
  interface FastifyRequest {
    apiKey?: ApiKey;
  }
}

function deny(reply: FastifyReply, status: number, body: HttpErrorDetails): FastifyReply {
  return reply.code(status).send(body);
}

export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

export function installAuth(app: FastifyInstance, keys: KeyStore, limiter: RateLimiter): void {
  app.decorateRequest('apiKey', undefined);
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const scope = request.routeOptions.config?.scope;
    if (!scope) return;
    const token = bearerToken(request.headers.authorization);
    if (!token) {
      reply.header('www-authenticate', 'Bearer');
      return deny(reply, 401, {
        error_code: 'authorization_required',
        error_type: 'auth',
        error_message: 'Authorization is required: send "Authorization: Bearer <API key>".',
        error_details: {},
      });
    }
    const key = keys.authenticate(token);
    if (!key) {
      reply.header('www-authenticate', 'Bearer error="invalid_token"');
      return deny(reply, 401, {
        error_code: 'invalid_api_key',
        error_type: 'auth',
        error_message: 'The API key is not valid or has been revoked.',
        error_details: {},
      });
    }
    request.apiKey = key;
    if (limiter.enabled) {
      const rate = limiter.hit(key.id);
      reply.header('ratelimit-limit', rate.policy);
      reply.header('ratelimit-remaining', String(rate.remaining));
      reply.header('ratelimit-reset', String(rate.resetSeconds));
      if (!rate.allowed) {
        reply.header('retry-after', String(Math.max(1, rate.resetSeconds)));
        return deny(reply, 429, {
          error_code: 'rate_limit_exceeded',
          error_type: 'general',
          error_message: `Too many requests. Limits for this key: ${rate.policy}. Retry in ${Math.max(1, rate.resetSeconds)} s.`,
          error_details: { limit: rate.policy, reset_seconds: rate.resetSeconds },
        });
      }
    }
    if (!key.scopes.includes(scope)) {
      return deny(reply, 403, {
        error_code: 'insufficient_scope',
        error_type: 'auth',
        error_message: `Not enough permissions: this API key lacks the "${scope}" scope.`,
        error_details: { required_scope: scope, key_scopes: key.scopes },
      });
    }
  });
}
