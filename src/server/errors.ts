// Every error leaves through here, in the contract's shape. Library errors (Fastify's parser, multipart,
// body limits) are translated to what a Claid client expects; anything unexpected becomes a 500 with no
// internals in the body and the full error in the log, tied to the request id.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HttpErrorDetails } from '../contract/types.js';
import { AtelierError, ValidationError } from '../errors.js';

/** Maps any thrown value to a status and a contract error body. */
export function toErrorAnswer(err: unknown): { status: number; body: HttpErrorDetails; internal: boolean } {
  if (err instanceof AtelierError) return { status: err.status, body: err.toBody(), internal: false };
  const e = err as FastifyError & { part?: unknown };
  switch (e?.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return {
        status: 422,
        body: new ValidationError('The request body is not valid JSON.', {
          errors: [{ loc: ['body'], msg: e.message, type: 'json_invalid' }],
        }, 'invalid_json').toBody(),
        internal: false,
      };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return {
        status: 415,
        body: {
          error_code: 'unsupported_media_type',
          error_type: 'validation',
          error_message:
            'Unsupported Content-Type: send application/json, or multipart/form-data for /v1/image/edit/upload.',
          error_details: {},
        },
        internal: false,
      };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_FILES_LIMIT':
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return {
        status: 413,
        body: {
          error_code: 'payload_too_large',
          error_type: 'validation',
          error_message: 'The request body is larger than allowed.',
          error_details: {},
        },
        internal: false,
      };
    case 'FST_PROTO_VIOLATION':
      return {
        status: 422,
        body: new ValidationError('The request body contains a forbidden property name.').toBody(),
        internal: false,
      };
  }
  const status = typeof e?.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) {
    return {
      status,
      body: {
        error_code: 'bad_request',
        error_type: 'validation',
        error_message: e.message || 'Bad request.',
        error_details: {},
      },
      internal: false,
    };
  }
  return {
    status: 500,
    body: {
      error_code: 'internal_error',
      error_type: 'general',
      error_message: 'Internal server error. The request id in x-request-id identifies it in the server log.',
      error_details: {},
    },
    internal: true,
  };
}

export function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const { status, body } = toErrorAnswer(err);
  return reply.code(status).type('application/json; charset=utf-8').send(body);
}

/** Installs the error handler and the 404/405 answers. */
export function installErrorHandling(app: FastifyInstance): void {
  // Route patterns per method, to tell "no such path" (404) from "path exists, wrong method" (405).
  const routes: { re: RegExp; methods: Set<string> }[] = [];
  app.addHook('onRoute', (route) => {
    const pattern = new RegExp(
      '^' + route.url.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\\?:[A-Za-z_]+/g, '[^/]+').replace(/\*/g, '.*') + '/?$',
    );
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const existing = routes.find((r) => r.re.source === pattern.source);
    if (existing) methods.forEach((m) => existing.methods.add(m));
    else routes.push({ re: pattern, methods: new Set(methods) });
  });

  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const answer = toErrorAnswer(err);
    if (answer.internal) request.log.error({ err }, 'unhandled error');
    else if (answer.status >= 500) request.log.warn({ err: (err as Error)?.message }, 'request failed');
    return reply.code(answer.status).type('application/json; charset=utf-8').send(answer.body);
  });

  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0] ?? '/';
    const match = routes.find((r) => r.re.test(path));
    if (match && !match.methods.has(request.method)) {
      const allowed = [...match.methods].filter((m) => m !== 'HEAD').sort();
      return reply
        .code(405)
        .header('allow', allowed.join(', '))
        .send({
          error_code: 'method_not_allowed',
          error_type: 'web',
          error_message: `Method ${request.method} is not allowed for ${path}. Allowed: ${allowed.join(', ')}.`,
          error_details: { allowed },
        } satisfies HttpErrorDetails);
    }
    return reply.code(404).send({
      error_code: 'not_found',
      error_type: 'web',
      error_message: `No endpoint ${request.method} ${path}.`,
      error_details: {},
    } satisfies HttpErrorDetails);
  });
}
