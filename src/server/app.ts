// The Fastify application: cross-cutting plugins first (request id, errors, auth, metrics), then one
// route module per endpoint family.
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import multipart from '@fastify/multipart';
import { pino, type Logger } from 'pino';
import { fastifySchemaErrorFormatter, fastifyValidatorCompiler } from '../contract/validation.js';
import { installAuth } from './auth.js';
import { installErrorHandling } from './errors.js';
import { installIdempotency } from './idempotency.js';
import { installMetrics } from './metrics.js';
import type { AppServices } from './services.js';
import { asyncRoutes } from '../api/async.js';
import { aiEditRoutes } from '../api/ai-edit.js';
import { generateRoutes } from '../api/generate.js';
import { sceneRoutes } from '../api/scene.js';
import { batchRoutes } from '../api/batch.js';
import { installQueueFullRetryAfter } from '../api/tasks.js';
import { editRoutes } from '../api/edit.js';
import { fileRoutes } from '../api/files.js';
import { storageRoutes } from '../api/storages.js';
import { systemRoutes } from '../api/system.js';
import { webhookRoutes } from '../api/webhooks.js';

const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

export async function buildApp(services: AppServices, opts: { logger?: Logger } = {}): Promise<FastifyInstance> {
  const app = Fastify({
    // Our pino and Fastify's bundled one differ in minor typings only.
    loggerInstance: (opts.logger ?? pino({ level: services.config.logLevel })) as unknown as FastifyBaseLogger,
    // A caller's own request id is kept when it is sane, so logs on both sides line up.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID_RE.test(given) ? given : randomUUID();
    },
    requestIdHeader: false,
    bodyLimit: 1024 * 1024,
    schemaErrorFormatter: fastifySchemaErrorFormatter,
    forceCloseConnections: true,
  });
  // The contract's schemas are validated by our own configured Ajv: formats, all errors, no coercion of
  // bodies, no defaults written into them (the request is echoed back as sent).
  app.setValidatorCompiler(fastifyValidatorCompiler);

  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  installErrorHandling(app);
  installAuth(app, services.keys, services.limiter);
  // After auth: idempotency keys are scoped per API key.
  installIdempotency(app, services.idempotency);
  installQueueFullRetryAfter(app);
  installMetrics(app, {
    queuedTasks: () => services.queue.queuedCount(),
    runningTasks: () => services.queue.activeCount,
    syncEdits: () => services.admission.stats,
  });
  await app.register(multipart, {
    limits: { fileSize: services.config.limits.maxInputBytes, files: 1, fields: 4, fieldSize: 1024 * 1024, parts: 6 },
  });

  await app.register(async (scope) => editRoutes(scope, services));
  await app.register(async (scope) => asyncRoutes(scope, services));
  await app.register(async (scope) => generateRoutes(scope, services));
  await app.register(async (scope) => aiEditRoutes(scope, services));
  await app.register(async (scope) => sceneRoutes(scope, services));
  await app.register(async (scope) => batchRoutes(scope, services));
  await app.register(async (scope) => fileRoutes(scope, services));
  await app.register(async (scope) => storageRoutes(scope, services));
  await app.register(async (scope) => systemRoutes(scope, services));
  await app.register(async (scope) => webhookRoutes(scope, services));
  return app;
}
