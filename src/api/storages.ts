// The storage endpoints, as published: storage types, and create/list/get/patch/delete of the storages that
// belong to the calling API key. Every route needs the `storage` scope. Secret access keys go in and never
// come out.
import type { FastifyInstance } from 'fastify';
import { idParamSchema } from '../contract/schemas.js';
import {
  storageCreateRequestSchema,
  storageUpdateRequestSchema,
  type StorageCreateRequest,
  type StorageUpdateRequest,
} from '../contract/storage-schemas.js';
import type { AppServices } from '../server/services.js';

export async function storageRoutes(app: FastifyInstance, { storages }: AppServices): Promise<void> {
  const config = { scope: 'storage' } as const;
  const params = idParamSchema('storage_id');

  app.get('/v1/storage/storage-types', { config }, async () => ({ data: [...storages.types()] }));

  app.get('/v1/storage/storages', { config }, async (request) => ({ data: storages.list(request.apiKey!.id) }));

  app.post<{ Body: StorageCreateRequest }>(
    '/v1/storage/storages',
    { schema: { body: storageCreateRequestSchema }, config },
    async (request) => ({ data: await storages.create(request.apiKey!.id, request.body) }),
  );

  app.get<{ Params: { storage_id: number } }>(
    '/v1/storage/storages/:storage_id',
    { schema: { params }, config },
    async (request) => ({ data: storages.get(request.apiKey!.id, request.params.storage_id) }),
  );

  app.patch<{ Params: { storage_id: number }; Body: StorageUpdateRequest }>(
    '/v1/storage/storages/:storage_id',
    { schema: { params, body: storageUpdateRequestSchema }, config },
    async (request) => ({ data: await storages.update(request.apiKey!.id, request.params.storage_id, request.body) }),
  );

  // The contract's answer is a bare `Response` (`data` of any shape): Atelier puts the disconnected storage
  // there (without credentials), which tells the client what was removed.
  app.delete<{ Params: { storage_id: number } }>(
    '/v1/storage/storages/:storage_id',
    { schema: { params }, config },
    async (request) => ({ data: storages.delete(request.apiKey!.id, request.params.storage_id) }),
  );
}
