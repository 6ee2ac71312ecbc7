import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { InputFetcher, fileNameFromUrl } from '../../src/storage/fetch.js';
import { StorageError } from '../../src/errors.js';
import { OutboundGuard } from '../../src/storage/guard.js';
import { BodyPool } from '../../src/storage/body-pool.js';
import { startImageServer, type ImageServer } from '../support/image-server.js';

let origin: ImageServer;
const limits = { maxBytes: 1000, connectTimeoutMs: 1000, totalTimeoutMs: 800, maxRedirects: 2 };
// The origin is a loopback server, which the guard refuses unless the operator allowlists it.
const guard = new OutboundGuard({ allowlist: ['127.0.0.1'] });
const fetcher = new InputFetcher(limits, guard);

before(async () => {
  origin = await startImageServer();
  origin.file('/ok.bin', Buffer.alloc(500, 7));
  origin.file('/big.bin', Buffer.alloc(5000, 1));
  origin.route('/chunked-big.bin', (_req, res) => {
    res.writeHead(200);
    const timer = setInterval(() => res.write(Buffer.alloc(400, 2)), 5);
    res.on('close', () => clearInterval(timer));
  });
  origin.route('/slow.bin', (_req, res) => {
    res.writeHead(200);
    res.write(Buffer.alloc(10));
    // never ends
  });
  origin.route('/r1', (_req, res) => res.writeHead(302, { location: '/r2' }).end());
  origin.route('/r2', (_req, res) => res.writeHead(302, { location: '/ok.bin' }).end());
  origin.route('/loop', (_req, res) => res.writeHead(302, { location: '/loop' }).end());
  origin.route('/gone', (_req, res) => res.writeHead(410).end('gone'));
  origin.route('/to-loopback', (_req, res) => res.writeHead(302, { location: `${origin.url}/ok.bin` }).end());
});

after(async () => {
  await fetcher.close();
  await guard.close();
  await origin.close();
});

const code = (c: string) => (err: unknown) => err instanceof StorageError && err.code === c && err.status === 422;

test('fetches a file and names it after the last path segment', async () => {
  const file = await fetcher.fetch(new URL(`${origin.url}/ok.bin?x=1`));
  assert.equal(file.data.length, 500);
  assert.equal(file.name, 'ok.bin');
  assert.equal(fileNameFromUrl(new URL('https://h.test/a%20b.jpg')), 'a b.jpg');
  assert.equal(fileNameFromUrl(new URL('https://h.test/')), 'image');
});

test('follows redirects up to the limit and refuses loops', async () => {
  assert.equal((await fetcher.fetch(new URL(`${origin.url}/r1`))).data.length, 500);
  await assert.rejects(fetcher.fetch(new URL(`${origin.url}/loop`)), code('too_many_redirects'));
});

test('refuses bodies over the byte limit, declared or streamed', async () => {
  await assert.rejects(fetcher.fetch(new URL(`${origin.url}/big.bin`)), code('input_too_large'));
  await assert.rejects(fetcher.fetch(new URL(`${origin.url}/chunked-big.bin`)), code('input_too_large'));
});

test('HTTP errors, timeouts, refused connections and other schemes are clear errors', async () => {
  await assert.rejects(fetcher.fetch(new URL(`${origin.url}/gone`)), code('input_fetch_failed'));
  await assert.rejects(fetcher.fetch(new URL(`${origin.url}/slow.bin`)), code('input_fetch_timeout'));
  await assert.rejects(fetcher.fetch(new URL('http://127.0.0.1:9/x')), code('input_unreachable'));
  await assert.rejects(fetcher.fetch(new URL('ftp://127.0.0.1/x')), code('unsupported_url_scheme'));
});

test('a cancelled fetch stops with its own error', async () => {
  const ac = new AbortController();
  const p = fetcher.fetch(new URL(`${origin.url}/slow.bin`), ac.signal);
  setTimeout(() => ac.abort(), 50);
  await assert.rejects(p, code('input_fetch_aborted'));
});

test('without an allowlist the fetcher refuses the loopback origin in every spelling, before connecting', async () => {
  const strict = new InputFetcher(limits);
  const before = origin.hits('/ok.bin');
  const port = new URL(origin.url).port;
  try {
    for (const host of ['127.0.0.1', '2130706433', '0x7f000001', '127.1', '[::ffff:127.0.0.1]', '[::1]', 'localhost']) {
      await assert.rejects(
        strict.fetch(new URL(`http://${host}:${port}/ok.bin`), undefined, 'style_reference'),
        (err: unknown) =>
          code('url_not_allowed')(err) &&
          (err as StorageError).details.field === 'style_reference' &&
          /loopback/.test((err as StorageError).message),
        host,
      );
    }
    assert.equal(origin.hits('/ok.bin'), before, 'no request reached the origin');
  } finally {
    await strict.close();
  }
});

test('an allowlisted origin may not redirect the fetcher to a refused address', async () => {
  const port = new URL(origin.url).port;
  const named = new OutboundGuard({
    allowlist: ['images.test'],
    lookup: async (host) => (host === 'images.test' ? [{ address: '127.0.0.1', family: 4 }] : []),
  });
  const viaName = new InputFetcher(limits, named);
  try {
    // /r1 redirects (relatively) to /r2 and then /ok.bin on the same allowed name: fine.
    assert.equal((await viaName.fetch(new URL(`http://images.test:${port}/r1`))).data.length, 500);
    // /to-loopback redirects to the same server by address, which is not on the allowlist.
    const before = origin.hits('/ok.bin');
    await assert.rejects(viaName.fetch(new URL(`http://images.test:${port}/to-loopback`)), code('url_not_allowed'));
    assert.equal(origin.hits('/to-loopback'), 1);
    assert.equal(origin.hits('/ok.bin'), before, 'the redirect target was never requested');
  } finally {
    await viaName.close();
    await named.close();
  }
});

test('pooled fetches read declared bodies into borrowed slabs that come back on release', async () => {
  const pool = new BodyPool({ minBytes: 256 });
  const pooled = new InputFetcher(limits, guard, pool);
  origin.file('/a.bin', Buffer.alloc(600, 0xaa));
  origin.file('/b.bin', Buffer.alloc(600, 0xbb));
  origin.route('/chunked.bin', (_req, res) => {
    res.writeHead(200);
    res.end(Buffer.alloc(600, 0xcc));
  });
  try {
    const a = await pooled.fetch(new URL(`${origin.url}/a.bin`), undefined, 'input', { pooled: true });
    assert.equal(a.data.length, 600);
    assert.ok(a.data.every((v) => v === 0xaa));
    assert.equal(pool.idleBytes, 0);
    a.release();
    assert.equal(pool.idleBytes, 1024);
    // The next body of the same size class lands in the same memory, holding only its own bytes.
    const b = await pooled.fetch(new URL(`${origin.url}/b.bin`), undefined, 'input', { pooled: true });
    assert.equal(b.data.buffer, a.data.buffer);
    assert.ok(b.data.every((v) => v === 0xbb));
    b.release();
    // Without a Content-Length the body is collected from chunks: nothing borrowed stays out.
    const c = await pooled.fetch(new URL(`${origin.url}/chunked.bin`), undefined, 'input', { pooled: true });
    assert.ok(c.data.every((v) => v === 0xcc));
    assert.notEqual(c.data.buffer, a.data.buffer);
    c.release();
    assert.equal(pool.idleBytes, 1024);
    // Failures give the slab back too; an unpooled fetch never borrows.
    await assert.rejects(pooled.fetch(new URL(`${origin.url}/gone`), undefined, 'input', { pooled: true }), code('input_fetch_failed'));
    const plain = await pooled.fetch(new URL(`${origin.url}/a.bin`));
    assert.notEqual(plain.data.buffer, a.data.buffer);
    assert.equal(pool.idleBytes, 1024);
  } finally {
    pool.trim();
    await pooled.close();
  }
});
