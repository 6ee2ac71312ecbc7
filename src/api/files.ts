// GET /tmp/:token/:name serves temporary outputs (`tmp_url`). Like the public temporary bucket it stands in
// for, it needs no key: the 192-bit token in the path is the capability.
import type { FastifyInstance } from 'fastify';
import { extname } from 'node:path';
import type { AppServices } from '../server/services.js';

const TYPES: Record<string, string> = {
  '.jpeg': 'image/jpeg',
  '.jpg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.tiff': 'image/tiff',
  '.tif': 'image/tiff',
};

export async function fileRoutes(app: FastifyInstance, { tmp, config }: AppServices): Promise<void> {
  app.get<{ Params: { token: string; name: string } }>('/tmp/:token/:name', async (request, reply) => {
    const { token, name } = request.params;
    const found = await tmp.open(token, name);
    if (!found) {
      return reply.code(404).send({
        error_code: 'file_not_found',
        error_type: 'storage',
        error_message: 'This temporary file does not exist or has expired.',
        error_details: {},
      });
    }
    const remaining = Math.max(0, Math.floor(config.tmpTtlSeconds - (Date.now() - found.mtime.getTime()) / 1000));
    return reply
      .type(TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream')
      .header('content-length', String(found.size))
      .header('cache-control', `private, max-age=${remaining}`)
      .header('last-modified', found.mtime.toUTCString())
      .header('x-content-type-options', 'nosniff')
      .send(found.stream);
  });
}
