// POST /v1/image/generate: synchronous text-to-image, `{ data: { input: { text }, output: [...], profiling } }`.
import type { FastifyInstance } from 'fastify';
import { generateRequestSchema, type GenerateRequest } from '../contract/generative-schemas.js';
import { costOfGenerate } from '../accounts/credits.js';
import type { AppServices } from '../server/services.js';
import { parseSeedHeader, SEED_HEADER } from '../services/generate.js';
import { clientGone } from './edit.js';

export async function generateRoutes(
  app: FastifyInstance,
  services: AppServices,
): Promise<void> {
  const { generate, billing, admission } = services;

  app.post<{ Body: GenerateRequest }>(
    '/v1/image/generate',
    { schema: { body: generateRequestSchema }, config: { scope: 'image_editing', idempotent: true } },
    async (request, reply) => {
      const body = request.body;
      const owner = request.apiKey!.id;
      const seed = parseSeedHeader(request.headers[SEED_HEADER]);
      generate.precheck(owner, body);
      const signal = clientGone(reply);
      const data = await billing.charge(owner, costOfGenerate(body.options?.number_of_images), () =>
        admission.run(() => generate.generate(owner, body, { signal, seed })),
      );
      return { data };
    },
  );
}
