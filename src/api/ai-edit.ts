// POST /v1/image/ai-edit submits an AI edit task; GET /v1/image/ai-edit/{ai_edit_id} reads it;
// POST /v1/image/ai-edit/{ai_edit_id}/cancel (an Atelier extension, like the edit tasks') cancels it.
import type { FastifyInstance } from 'fastify';
import { aiEditRequestSchema, type AiEditRequest } from '../contract/generative-schemas.js';
import { idParamSchema } from '../contract/schemas.js';
import { NotFoundError } from '../errors.js';
import { costOfAiEdit } from '../accounts/credits.js';
import type { AppServices } from '../server/services.js';
import {
  AI_EDIT_TASK,
  aiEditResultUrl,
  aiEditTaskView,
  normaliseAiEditOutput,
} from '../services/ai-edit.js';
import { cancelOwnedTask, submitPaidTask } from './tasks.js';

export async function aiEditRoutes(
  app: FastifyInstance,
  services: AppServices,
): Promise<void> {
  const { aiEdit, queue, config } = services;

  app.post<{ Body: AiEditRequest }>(
    '/v1/image/ai-edit',
    { schema: { body: aiEditRequestSchema }, config: { scope: 'image_editing', idempotent: true } },
    async (request) => {
      const body = request.body;
      const owner = request.apiKey!.id;
      aiEdit.precheck(owner, body);
      const data = await submitPaidTask(services, {
        kind: AI_EDIT_TASK,
        request: body,
        owner,
        cost: costOfAiEdit(normaliseAiEditOutput(body.output).count),
        resultUrl: (id) => aiEditResultUrl(config.publicUrl, id),
      });
      return { data };
    },
  );

  const notFound = (id: number) => new NotFoundError('AI edit not found.', { ai_edit_id: id }, 'task_not_found');

  app.get<{ Params: { ai_edit_id: number } }>(
    '/v1/image/ai-edit/:ai_edit_id',
    { schema: { params: idParamSchema('ai_edit_id') }, config: { scope: 'image_editing' } },
    async (request) => {
      const id = request.params.ai_edit_id;
      const task = await queue.get(id);
      // Another key's task, or a task of another kind, is missing: ids reveal nothing.
      if (!task || task.kind !== AI_EDIT_TASK || task.owner !== request.apiKey!.id) throw notFound(id);
      return { data: aiEditTaskView(task) };
    },
  );

  app.post<{ Params: { ai_edit_id: number } }>(
    '/v1/image/ai-edit/:ai_edit_id/cancel',
    { schema: { params: idParamSchema('ai_edit_id') }, config: { scope: 'image_editing' } },
    async (request) => {
      const id = request.params.ai_edit_id;
      const task = await cancelOwnedTask(queue, id, {
        kinds: [AI_EDIT_TASK],
        owner: request.apiKey!.id,
        notFound: () => notFound(id),
      });
      return { data: aiEditTaskView(task) };
    },
  );
}
