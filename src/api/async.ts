// POST /v1/image/edit/async submits an edit as a task; GET /v1/image/edit/async/{task_id} reads it;
// POST /v1/image/edit/async/{task_id}/cancel (an Atelier extension) cancels it.
import type { FastifyInstance } from 'fastify';
import type { EditRequest } from '../contract/types.js';
import { asyncEditRequestSchema, idParamSchema } from '../contract/schemas.js';
import { NotFoundError } from '../errors.js';
import { costOfEdit } from '../accounts/credits.js';
import type { AppServices } from '../server/services.js';
import { cancelOwnedTask, submitPaidTask } from './tasks.js';
import { normaliseOutput } from '../services/edit.js';
import { EDIT_TASK, editTaskView, taskResultUrl } from '../services/async-edit.js';

export async function asyncRoutes(app: FastifyInstance, services: AppServices): Promise<void> {
  const { edit, queue, config } = services;

  app.post<{ Body: EditRequest }>(
    '/v1/image/edit/async',
    { schema: { body: asyncEditRequestSchema }, config: { scope: 'image_editing', idempotent: true } },
    async (request) => {
      const body = request.body;
      const owner = request.apiKey!.id;
      edit.precheck(owner, body.operations, normaliseOutput(body.output), body.input);
      const data = await submitPaidTask(services, {
        kind: EDIT_TASK,
        request: body,
        owner,
        cost: costOfEdit(body.operations),
        resultUrl: (id) => taskResultUrl(config.publicUrl, id),
      });
      return { data };
    },
  );

  const notFound = (id: number) => new NotFoundError('Image edit pipeline not found.', { task_id: id }, 'task_not_found');

  app.get<{ Params: { task_id: number } }>(
    '/v1/image/edit/async/:task_id',
    { schema: { params: idParamSchema('task_id') }, config: { scope: 'image_editing' } },
    async (request) => {
      const task = await queue.get(request.params.task_id);
      // Another key's task is reported as missing, not forbidden, so ids reveal nothing.
      if (!task || task.kind !== EDIT_TASK || task.owner !== request.apiKey!.id) throw notFound(request.params.task_id);
      return { data: editTaskView(task) };
    },
  );

  // Credits come back through the queue's 'settled' listener, which sees the task CANCELLED.
  app.post<{ Params: { task_id: number } }>(
    '/v1/image/edit/async/:task_id/cancel',
    { schema: { params: idParamSchema('task_id') }, config: { scope: 'image_editing' } },
    async (request) => {
      const id = request.params.task_id;
      const task = await cancelOwnedTask(queue, id, {
        kinds: [EDIT_TASK],
        owner: request.apiKey!.id,
        notFound: () => notFound(id),
      });
      return { data: editTaskView(task) };
    },
  );
}
