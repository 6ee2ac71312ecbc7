// POST /v1/scene/create (JSON): answers `{ data: { input, output: [...], profiling } }` synchronously.
import type { FastifyInstance } from 'fastify';
import { costOfScene } from '../accounts/credits.js';
import { sceneCreateRequestSchema, type SceneCreateRequest } from '../contract/scene-schemas.js';
import type { AppServices } from '../server/services.js';
import { SceneService } from '../services/scene.js';
import { clientGone } from './edit.js';

export async function sceneRoutes(app: FastifyInstance, services: AppServices): Promise<void> {
  const { billing, admission, config } = services;
  // Stateless over the edit service (inputs, storing outputs), so it is built here rather than held globally.
  const scene = new SceneService({ edit: services.edit, limits: config.limits });

  app.post<{ Body: SceneCreateRequest }>(
    '/v1/scene/create',
    { schema: { body: sceneCreateRequestSchema }, config: { scope: 'image_generation', idempotent: true } },
    async (request, reply) => {
      const owner = request.apiKey!.id;
      const plan = scene.precheck(owner, request.body);
      const signal = clientGone(reply);
      // All images are made before any is answered, so the charge is for exactly the images delivered; any
      // failure refunds it whole.
      const data = await billing.charge(owner, costOfScene(plan), () =>
        admission.run(() => scene.create(owner, plan, { signal })),
      );
      return { data };
    },
  );
}
