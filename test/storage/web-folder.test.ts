// The web_folder storage type: read-only HTTP GET of base_url + path through the guarded input fetcher.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WebFolderConnector, webFolderObjectUrl } from '../../src/storage/connectors/web-folder.js';
import { InputFetcher } from '../../src/storage/fetch.js';
import { OutboundGuard } from '../../src/storage/guard.js';
import { StorageError } from '../../src/errors.js';
import { startImageServer, type ImageServer } from '../support/image-server.js';

let origin: ImageServer;
let fetcher: InputFetcher;
let guarded: InputFetcher;

before(async () => {
  origin = await startImageServer();
  origin.file('/images/a%20b/photo.jpg', Buffer.from('web bytes'), 'image/jpeg');
  origin.route('/images/private.jpg', (_req, res) => res.writeHead(403).end('no'));
  const limits = { maxBytes: 1024, connectTimeoutMs: 2000, totalTimeoutMs: 5000, maxRedirects: 3 };
  fetcher = new InputFetcher(limits, new OutboundGuard({ allowlist: ['127.0.0.1'] }));
  // Without the allowlist the loopback origin is refused: a web folder gets no way around the guard.
  guarded = new InputFetcher(limits, new OutboundGuard({ allowlist: [] }));
});

after(async () => {
  await fetcher?.close();
  await guarded?.close();
  await origin?.close();
});

async function refusal(promise: Promise<unknown>): Promise<StorageError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof StorageError, String(err));
    return err;
  }
  assert.fail('expected a refusal');
}

describe('webFolderObjectUrl', () => {
  test('joins base URL and key with one slash, encoding segments and keeping the query', () => {
    assert.equal(webFolderObjectUrl('https://cdn.example.com/images', 'a b/c.png').href, 'https://cdn.example.com/images/a%20b/c.png');
    assert.equal(webFolderObjectUrl('https://cdn.example.com/images/', 'c.png').href, 'https://cdn.example.com/images/c.png');
    assert.equal(webFolderObjectUrl('https://cdn.example.com', 'x/#y?.png').href, 'https://cdn.example.com/x/%23y%3F.png');
    assert.equal(webFolderObjectUrl('https://cdn.example.com/i?sig=1', 'c.png').href, 'https://cdn.example.com/i/c.png?sig=1');
  });
});

describe('WebFolderConnector', () => {
  const connector = (f = fetcher) => new WebFolderConnector({ storage: 'web', baseUrl: `${origin.url}/images`, fetcher: f });

  test('reads an object from the web folder', async () => {
    const obj = await connector().read('a b/photo.jpg', { maxBytes: 1024, field: 'input' });
    assert.equal(obj.data.toString(), 'web bytes');
    assert.equal(obj.name, 'photo.jpg');
  });

  test('404 is object_not_found, 403 is storage_access_denied', async () => {
    const missing = await refusal(connector().read('nope.jpg', { maxBytes: 1024, field: 'input' }));
    assert.equal(missing.code, 'object_not_found');
    assert.match(missing.message, /storage "web"/);
    const denied = await refusal(connector().read('private.jpg', { maxBytes: 1024, field: 'input' }));
    assert.equal(denied.code, 'storage_access_denied');
  });

  test('the outbound guard applies: loopback is refused unless allowlisted', async () => {
    const err = await refusal(connector(guarded).read('a b/photo.jpg', { maxBytes: 1024, field: 'input' }));
    assert.equal(err.status, 422);
    assert.notEqual(err.code, 'object_not_found');
  });

  test('cannot be written or listed', async () => {
    const w = await refusal(connector().write('x.png', Buffer.from('x'), 'image/png', { field: 'output.destination' }));
    assert.equal(w.code, 'storage_read_only');
    assert.match(w.message, /web_folder storages are read-only/);
    const l = await refusal(connector().list('', { recursive: true, limit: 10, field: 'input' }));
    assert.equal(l.code, 'storage_not_listable');
    assert.match(l.message, /cannot be listed/);
  });
});
