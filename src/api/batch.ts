// POST /v1/image/edit/batch submits a batch of edits as one task; GET /v1/image/edit/batch/{task_id} reads it;
// POST /v1/image/edit/batch/{task_id}/cancel (an Atelier extension) cancels it.
import type { FastifyInstance } from 'fastify';
import { batchEditRequestSchema, idParamSchema } from '../contract/schemas.js';
import { NotFoundError } from '../errors.js';
import type { AppServices } from '../server/services.js';
import { BATCH_TASK, type BatchEditRequest } from '../services/batch.js';
import { cancelOwnedTask } from './tasks.js';

export async function batchRoutes(app: FastifyInstance, services: AppServices): Promise<void> {
  const { batches, queue } = services;

  app.post<{ Body: BatchEditRequest }>(
    '/v1/image/edit/batch',
    { schema: { body: batchEditRequestSchema }, config: { scope: 'image_editing', idempotent: true } },
    async (request) => {
      const owner = request.apiKey!.id;
      batches.precheck(owner, request.body);
      // Nothing is reserved here: each image is paid when it is made (see BatchService), so a full queue
      // refusing the task leaves nothing to give back.
      const task = await queue.submit(BATCH_TASK, request.body, owner);
      return { data: batches.view(task) };
    },
  );

  const notFound = (id: number) =>
    new NotFoundError('Batch image edit pipeline not found.', { task_id: id }, 'task_not_found');

  app.get<{ Params: { task_id: number } }>(
    '/v1/image/edit/batch/:task_id',
    { schema: { params: idParamSchema('task_id') }, config: { scope: 'image_editing' } },
    async (request) => {
      const task = await queue.get(request.params.task_id);
      // Another key's batch, or a task of another kind, is missing rather than forbidden: ids reveal nothing.
      if (!task || task.kind !== BATCH_TASK || task.owner !== request.apiKey!.id) throw notFound(request.params.task_id);
      return { data: batches.view(task) };
    },
  );

  // Images finished before the cancel stay in `results` (and paid); the rest are refunded by the 'settled'
  // listener, which sees the task CANCELLED.
  app.post<{ Params: { task_id: number } }>(
    '/v1/image/edit/batch/:task_id/cancel',
    { schema: { params: idParamSchema('task_id') }, config: { scope: 'image_editing' } },
    async (request) => {
      const id = request.params.task_id;
      const task = await cancelOwnedTask(queue, id, {
        kinds: [BATCH_TASK],
        owner: request.apiKey!.id,
        notFound: () => notFound(id),
      });
      return { data: batches.view(task) };
    },
  );
}
