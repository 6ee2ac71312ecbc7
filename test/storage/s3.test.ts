// The S3 connector (and GCS through the same code) against a real S3-compatible server on loopback.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { S3Connector, classifyS3Error, type S3ConnectorOptions } from '../../src/storage/connectors/s3.js';
import { gcsConnector } from '../../src/storage/connectors/gcs.js';
import { StorageError } from '../../src/errors.js';
import { startS3Server, type S3TestServer } from '../support/s3-server.js';

const ACCESS = 'AKIAATELIERTEST01';
const SECRET = 'wJalrXUtnFEMI-atelier-test-secret-01';
const OTHER_ACCESS = 'GOOGATELIERHMAC01';
const OTHER_SECRET = 'hmac-secret-for-the-gcs-test-0001';

let s3: S3TestServer;

before(async () => {
  s3 = await startS3Server({ buckets: ['photos', 'empty'], keys: [[ACCESS, SECRET], [OTHER_ACCESS, OTHER_SECRET]] });
  // A small tree: two files at the top of `tree/`, nested folders below, a console-made folder marker.
  for (const key of ['tree/a.jpg', 'tree/b.png', 'tree/sub/c.jpg', 'tree/sub/deeper/d.webp', 'tree/sub2/e.png', 'treetop.png']) {
    await s3.put('photos', key, `bytes of ${key}`);
  }
  await s3.put('photos', 'tree/marker/', '');
});

after(async () => {
  await s3?.stop();
});

function connector(overrides: Partial<S3ConnectorOptions> = {}): S3Connector {
  return new S3Connector({
    storage: 'main',
    bucket: 'photos',
    accessKeyId: ACCESS,
    secretAccessKey: SECRET,
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    uriScheme: 's3',
    connectTimeoutMs: 2000,
    requestTimeoutMs: 10000,
    ...overrides,
  });
}

const read = { maxBytes: 1024 * 1024, field: 'input' };

async function refusal(promise: Promise<unknown>): Promise<StorageError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof StorageError, `expected a StorageError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a refusal');
}

describe('S3 connector', () => {
  test('reads an object with its exact bytes and its file name', async () => {
    const c = connector();
    const obj = await c.read('tree/sub/c.jpg', read);
    assert.equal(obj.data.toString(), 'bytes of tree/sub/c.jpg');
    assert.equal(obj.name, 'c.jpg');
    c.close();
  });

  test('writes an object (binary, with odd characters in the key) and answers where it landed', async () => {
    const c = connector();
    const data = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 37) % 256));
    const key = 'out/dir with space/résumé+1.png';
    const location = await c.write(key, data, 'image/png', { field: 'output.destination' });
    assert.deepEqual(location, { uri: `s3://photos/${key}`, key, bucket: 'photos' });
    assert.deepEqual(await s3.get('photos', key), data);
    const back = await c.read(key, read);
    assert.deepEqual(back.data, data);
    c.close();
  });

  test('lists a folder: only its own files, or recursively every nested file; folder markers skipped', async () => {
    const c = connector();
    assert.deepEqual(await c.list('tree/', { recursive: false, limit: 100, field: 'input' }), ['tree/a.jpg', 'tree/b.png']);
    assert.deepEqual(await c.list('tree/', { recursive: true, limit: 100, field: 'input' }), [
      'tree/a.jpg',
      'tree/b.png',
      'tree/sub/c.jpg',
      'tree/sub/deeper/d.webp',
      'tree/sub2/e.png',
    ]);
    assert.deepEqual(await c.list('tree/sub/', { recursive: true, limit: 100, field: 'input' }), [
      'tree/sub/c.jpg',
      'tree/sub/deeper/d.webp',
    ]);
    assert.deepEqual(await c.list('nothing-here/', { recursive: true, limit: 100, field: 'input' }), []);
    c.close();
  });

  test('follows continuation tokens across pages and stops past the file limit', async () => {
    const c = connector({ listPageSize: 2 });
    const all = await c.list('tree/', { recursive: true, limit: 100, field: 'input' });
    assert.equal(all.length, 5);
    assert.deepEqual(all, [...all].sort());
    const err = await refusal(c.list('tree/', { recursive: true, limit: 3, field: 'input' }));
    assert.equal(err.code, 'folder_too_large');
    c.close();
  });

  test('a missing object is a 422 naming the storage and the key', async () => {
    const c = connector();
    const err = await refusal(c.read('tree/nope.jpg', read));
    assert.equal(err.status, 422);
    assert.equal(err.code, 'object_not_found');
    assert.match(err.message, /storage "main"/);
    assert.match(err.message, /tree\/nope\.jpg/);
    c.close();
  });

  test('a wrong secret, an unknown access key and a missing bucket are told apart', async () => {
    const wrongSecret = connector({ secretAccessKey: 'not-the-secret' });
    const e1 = await refusal(wrongSecret.read('tree/a.jpg', read));
    assert.equal(e1.code, 'storage_access_denied');
    assert.equal(e1.details.cause, 'SignatureDoesNotMatch');
    const e2 = await refusal(wrongSecret.write('x.png', Buffer.from('x'), 'image/png', { field: 'output.destination' }));
    assert.equal(e2.code, 'storage_access_denied');
    assert.equal(await s3.get('photos', 'x.png'), undefined);
    const e3 = await refusal(wrongSecret.list('tree/', { recursive: true, limit: 10, field: 'input' }));
    assert.equal(e3.code, 'storage_access_denied');

    const unknownKey = connector({ accessKeyId: 'AKIANOBODY', secretAccessKey: 'x' });
    const e4 = await refusal(unknownKey.read('tree/a.jpg', read));
    assert.equal(e4.code, 'storage_access_denied');
    assert.equal(e4.details.cause, 'InvalidAccessKeyId');

    const noBucket = connector({ bucket: 'no-such-bucket' });
    const e5 = await refusal(noBucket.read('a.jpg', read));
    assert.equal(e5.code, 'bucket_not_found');
    assert.match(e5.message, /no-such-bucket/);
    for (const c of [wrongSecret, unknownKey, noBucket]) c.close();
  });

  test('an object larger than allowed is refused without being kept', async () => {
    const c = connector();
    await s3.put('photos', 'big.bin', Buffer.alloc(50_000, 7));
    const err = await refusal(c.read('big.bin', { maxBytes: 10_000, field: 'input' }));
    assert.equal(err.code, 'input_too_large');
    assert.equal(err.details.max_bytes, 10_000);
    c.close();
  });

  test('an unreachable endpoint is a clear 422, not a crash', async () => {
    const c = connector({ endpoint: 'http://127.0.0.1:9', connectTimeoutMs: 500 });
    const err = await refusal(c.read('a.jpg', read));
    assert.equal(err.code, 'storage_unreachable');
    c.close();
  });

  test('a cancelled read stops with its own code', async () => {
    const c = connector();
    const controller = new AbortController();
    controller.abort();
    const err = await refusal(c.read('tree/a.jpg', { ...read, signal: controller.signal }));
    assert.equal(err.code, 'storage_request_aborted');
    c.close();
  });
});

describe('GCS connector (S3-interoperable XML API with HMAC keys)', () => {
  test('reads, writes and lists through the configured endpoint, answering gs:// URIs', async () => {
    const c = gcsConnector({
      storage: 'gcs-store',
      bucket: 'photos',
      accessKeyId: OTHER_ACCESS,
      secretAccessKey: OTHER_SECRET,
      endpoint: s3.endpoint,
      connectTimeoutMs: 2000,
      requestTimeoutMs: 10000,
    });
    assert.equal((await c.read('tree/a.jpg', read)).data.toString(), 'bytes of tree/a.jpg');
    const location = await c.write('gcs/out.png', Buffer.from('gcs bytes'), 'image/png', { field: 'output.destination' });
    assert.deepEqual(location, { uri: 'gs://photos/gcs/out.png', key: 'gcs/out.png', bucket: 'photos' });
    assert.equal((await s3.get('photos', 'gcs/out.png'))?.toString(), 'gcs bytes');
    assert.deepEqual(await c.list('tree/sub/', { recursive: false, limit: 10, field: 'input' }), ['tree/sub/c.jpg']);
    c.close();
  });
});

describe('classifyS3Error', () => {
  test('maps service and network errors', () => {
    const svc = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
    assert.equal(classifyS3Error(svc('NoSuchKey', 404)), 'not_found');
    assert.equal(classifyS3Error(svc('NotFound', 404)), 'not_found');
    assert.equal(classifyS3Error(svc('NoSuchBucket', 404)), 'no_bucket');
    assert.equal(classifyS3Error(svc('SignatureDoesNotMatch', 403)), 'denied');
    assert.equal(classifyS3Error(svc('Forbidden', 403)), 'denied');
    assert.equal(classifyS3Error(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), 'unreachable');
    assert.equal(classifyS3Error(Object.assign(new Error('x'), { name: 'AbortError' })), 'aborted');
    assert.equal(classifyS3Error(svc('SlowDown', 503)), 'other');
  });
});
