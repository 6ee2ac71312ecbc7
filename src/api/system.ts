// GET /health for load balancers and orchestrators: answers when the process can serve requests.
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../server/services.js';

export async function systemRoutes(app: FastifyInstance, { admission }: AppServices): Promise<void> {
  app.get('/health', async () => ({ status: 'ok', sync_edits: admission.stats }));
}
