// A loopback stand-in for the Hugging Face hub, enough for `atelier models pull`: the tree API with sizes and
// checksums (LFS sha256 for weights, git blob sha1 for small files), resolve URLs with HTTP Range support and
// a CDN-style redirect for LFS files, and faults on demand (a connection cut mid-file, corrupted bytes,
// Range ignored).
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

export interface HubRequest {
  path: string;
  range: string | undefined;
  status: number;
  bytes: number;
}

export interface FakeHub {
  url: string;
  /** Publishes every file under `dir` as repository `repo` at `revision`. */
  publish(repo: string, revision: string, dir: string): void;
  /** The next request for this file sends `bytes` bytes and then drops the connection (`times` times). */
  cutAfter(path: string, bytes: number, times?: number): void;
  /** Serves this file with its bytes altered (same size), so its checksum fails (`on` false restores it). */
  corrupt(path: string, on?: boolean): void;
  /** Answers Range requests with the whole file (200), as a server without range support does. */
  ignoreRange(on: boolean): void;
  readonly requests: HubRequest[];
  close(): Promise<void>;
}

const LFS_MIN = 1024;

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

export async function startFakeHub(): Promise<FakeHub> {
  const repos = new Map<string, Map<string, Buffer>>();
  const cuts = new Map<string, { bytes: number; times: number }>();
  const corrupted = new Set<string>();
  let noRange = false;
  const requests: HubRequest[] = [];

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://hub');
    const path = decodeURIComponent(url.pathname);
    const log = (status: number, bytes: number): void => void requests.push({ path, range: req.headers.range, status, bytes });

    const tree = /^\/api\/models\/(.+)\/tree\/([^/]+)$/.exec(path);
    if (tree) {
      const files = repos.get(`${tree[1]}@${tree[2]}`);
      if (!files) {
        log(404, 0);
        res.writeHead(404).end('{"error":"Repository not found"}');
        return;
      }
      const list = [...files].map(([p, data]) => {
        const gitOid = createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
        return data.length >= LFS_MIN
          ? { type: 'file', path: p, size: 134, oid: gitOid, lfs: { oid: createHash('sha256').update(data).digest('hex'), size: data.length, pointerSize: 134 } }
          : { type: 'file', path: p, size: data.length, oid: gitOid };
      });
      const body = JSON.stringify([{ type: 'directory', path: 'unet', size: 0, oid: '0' }, ...list]);
      log(200, body.length);
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      return;
    }

    // /<repo>/resolve/<revision>/<file>; LFS files redirect once to /cdn/... as the real hub does.
    const cdn = path.startsWith('/cdn/');
    const m = /^\/(?:cdn\/)?(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const data = m ? repos.get(`${m[1]}@${m[2]}`)?.get(m[3] as string) : undefined;
    if (!m || !data) {
      log(404, 0);
      res.writeHead(404).end('Entry not found');
      return;
    }
    if (!cdn && data.length >= LFS_MIN) {
      log(302, 0);
      res.writeHead(302, { location: `/cdn${path}` }).end();
      return;
    }
    const file = m[3] as string;
    let body = data;
    if (corrupted.has(file)) {
      body = Buffer.from(data);
      body[body.length >> 1] = (body[body.length >> 1] as number) ^ 0xff;
    }
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range && !noRange) {
      start = Number(range[1]);
      if (start >= body.length) {
        log(416, 0);
        res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}`, 'accept-ranges': 'bytes' });
    } else {
      res.writeHead(200, { 'content-length': body.length, 'accept-ranges': 'bytes' });
    }
    const rest = body.subarray(start);
    const cut = cuts.get(file);
    if (cut && cut.times > 0 && cut.bytes < rest.length) {
      cut.times--;
      log(res.statusCode, cut.bytes);
      res.write(rest.subarray(0, cut.bytes), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    log(res.statusCode, rest.length);
    res.end(rest);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    publish(repo, revision, dir) {
      const files = new Map<string, Buffer>();
      for (const p of walk(dir)) files.set(relative(dir, p).split(sep).join('/'), readFileSync(p));
      repos.set(`${repo}@${revision}`, files);
    },
    cutAfter(path, bytes, times = 1) {
      cuts.set(path, { bytes, times });
    },
    corrupt(path, on = true) {
      if (on) corrupted.add(path);
      else corrupted.delete(path);
    },
    ignoreRange(on) {
      noRange = on;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Total size of a folder's files. */
export function folderSize(dir: string): number {
  return walk(dir).reduce((s, p) => s + statSync(p).size, 0);
}
