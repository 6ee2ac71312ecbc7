// Webhook settings and the delivery log (Atelier's own endpoints; the hosted service configures webhooks in
// its web console). Every route acts on the calling API key's own account; another account's deliveries read
// as missing.
import type { FastifyInstance } from 'fastify';
import { idParamSchema } from '../contract/schemas.js';
import { NotFoundError } from '../errors.js';
import type { AppServices } from '../server/services.js';
import { MAX_WEBHOOK_URL_LENGTH, webhookNotConfigured } from '../webhooks/service.js';
import { settingsView, WEBHOOK_EVENTS, type WebhookEvent } from '../webhooks/settings.js';

interface PutBody {
  url: string;
  events?: WebhookEvent[];
  secret?: string | null;
}

export const webhookSettingsSchema = {
  type: 'object',
  required: ['url'],
  properties: {
    url: { type: 'string', minLength: 1, maxLength: MAX_WEBHOOK_URL_LENGTH, format: 'uri' },
    events: {
      type: 'array',
      items: { type: 'string', enum: WEBHOOK_EVENTS },
      minItems: 1,
      uniqueItems: true,
    },
    // null removes the secret; leaving it out keeps the one already set.
    secret: { anyOf: [{ type: 'string', minLength: 1, maxLength: 1024 }, { type: 'null' }] },
  },
  additionalProperties: false,
} as const;

export const deliveryListQuerySchema = {
  type: 'object',
  properties: {
    task_id: { type: 'integer', minimum: 1 },
    before: { type: 'integer', minimum: 1 },
    limit: { type: 'integer', minimum: 1, maximum: 500 },
  },
  additionalProperties: false,
} as const;

const SCOPE = { scope: 'image_editing' } as const;

export async function webhookRoutes(app: FastifyInstance, { webhooks }: AppServices): Promise<void> {
  const notConfigured = () => new NotFoundError('No webhook is configured for this API key.', {}, 'webhook_not_configured');

  app.get('/v1/webhook', { config: SCOPE }, async (request) => {
    const settings = webhooks.get(request.apiKey!.id);
    if (!settings) throw notConfigured();
    return { data: settingsView(settings) };
  });

  app.put<{ Body: PutBody }>('/v1/webhook', { schema: { body: webhookSettingsSchema }, config: SCOPE }, async (request) => {
    const { url, events = [...WEBHOOK_EVENTS], secret } = request.body;
    const settings = await webhooks.configure(request.apiKey!.id, { url, events, secret });
    return { data: settingsView(settings) };
  });

  app.delete('/v1/webhook', { config: SCOPE }, async (request) => {
    const result = webhooks.disable(request.apiKey!.id);
    if (!result) throw notConfigured();
    return { data: { disabled: true, cancelled_deliveries: result.cancelled } };
  });

  app.get<{ Querystring: { task_id?: number; before?: number; limit?: number } }>(
    '/v1/webhook/deliveries',
    { schema: { querystring: deliveryListQuerySchema }, config: SCOPE },
    async (request) => {
      const { task_id, before, limit } = request.query;
      const list = webhooks.deliveries.list(request.apiKey!.id, { taskId: task_id, beforeId: before, limit });
      return { data: list.map((d) => webhooks.view(d)) };
    },
  );

  const deliveryNotFound = (id: number) =>
    new NotFoundError('Webhook delivery not found.', { delivery_id: id }, 'delivery_not_found');

  app.get<{ Params: { delivery_id: number } }>(
    '/v1/webhook/deliveries/:delivery_id',
    { schema: { params: idParamSchema('delivery_id') }, config: SCOPE },
    async (request) => {
      const id = request.params.delivery_id;
      const delivery = webhooks.deliveries.get(request.apiKey!.id, id);
      if (!delivery) throw deliveryNotFound(id);
      return { data: webhooks.view(delivery) };
    },
  );

  app.post<{ Params: { delivery_id: number } }>(
    '/v1/webhook/deliveries/:delivery_id/resend',
    { schema: { params: idParamSchema('delivery_id') }, config: SCOPE },
    async (request) => {
      const id = request.params.delivery_id;
      const account = request.apiKey!.id;
      if (!webhooks.deliveries.get(account, id)) throw deliveryNotFound(id);
      if (!webhooks.get(account)) throw webhookNotConfigured();
      const delivery = webhooks.resend(account, id)!;
      return { data: webhooks.view(delivery) };
    },
  );
}
