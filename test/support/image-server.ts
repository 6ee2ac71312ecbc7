// A loopback HTTP server that serves test images and misbehaves on purpose (errors, redirects, slow or
// endless bodies, lies about types), as the origin of `input` URLs in end-to-end tests.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Route = (req: IncomingMessage, res: ServerResponse) => void;

export interface ImageServer {
  url: string;
  /** Serves `body` at `path` with an optional content type. */
  file(path: string, body: Buffer, contentType?: string): void;
  route(path: string, handler: Route): void;
  hits(path: string): number;
  close(): Promise<void>;
}

export async function startImageServer(): Promise<ImageServer> {
  const routes = new Map<string, Route>();
  const counts = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    const handler = routes.get(path);
    if (!handler) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    file(path, body, contentType = 'application/octet-stream') {
      routes.set(path, (_req, res) => {
        res.writeHead(200, { 'content-type': contentType, 'content-length': body.length });
        res.end(body);
      });
    },
    route(path, handler) {
      routes.set(path, handler);
    },
    hits: (path) => counts.get(path) ?? 0,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
