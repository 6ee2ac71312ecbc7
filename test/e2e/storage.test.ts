// End to end: storages created over HTTP, then used as `storage://` inputs and destinations by sync, upload
// and async edits against a real S3-compatible server on loopback (and GCS, local and web folder storages).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { startServer, type RunningServer } from '../support/server.js';
import { startImageServer, type ImageServer } from '../support/image-server.js';
import { startS3Server, type S3TestServer } from '../support/s3-server.js';
import { createKey } from '../support/cli.js';
import { photo } from '../support/images.js';

const ACCESS = 'AKIAE2ESTORAGE001';
const SECRET = 'e2e-Secret-Never-Returned-9f8e7d6c';
const GCS_ACCESS = 'GOOGE2EHMACKEY001';
const GCS_SECRET = 'e2e-gcs-hmac-secret-0123456789';

let api: RunningServer;
let s3: S3TestServer;
let origin: ImageServer;
let localRoot: string;

before(async () => {
  s3 = await startS3Server({ buckets: ['photos'], keys: [[ACCESS, SECRET], [GCS_ACCESS, GCS_SECRET]] });
  await s3.put('photos', 'shop/in/building.jpg', photo('building.jpg'));
  await s3.put('photos', 'shop/in/batch/fruits.jpg', photo('fruits.jpg'));
  origin = await startImageServer();
  origin.file('/images/home.jpg', photo('home.jpg'), 'image/jpeg');
  localRoot = await mkdtemp(join(tmpdir(), 'atelier-e2e-local-'));
  api = await startServer({
    env: {
      ATELIER_RATE_LIMIT_PER_MINUTE: '0',
      ATELIER_RATE_LIMIT_PER_SECOND: '0',
      ATELIER_S3_ENDPOINT: s3.endpoint,
      ATELIER_GCS_ENDPOINT: s3.endpoint,
      ATELIER_LOCAL_STORAGE_ROOT: localRoot,
      ATELIER_SECRET_KEY: 'e2e-storage-secret-key-0123456789abcdef',
    },
  });
});

after(async () => {
  await api?.dispose();
  await s3?.stop();
  await origin?.close();
  if (localRoot) await rm(localRoot, { recursive: true, force: true });
});

function s3Storage(name: string, secret = SECRET) {
  return {
    name,
    type: 's3',
    parameters: { bucket: 'photos', path: 'shop', credentials: { access_key: ACCESS, secret_access_key: secret } },
  };
}

async function create(body: unknown, key?: string): Promise<any> {
  const res = await api.json('/v1/storage/storages', body, key ? { key } : {});
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.data;
}

async function waitFor(id: number, timeoutMs = 20_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api.json(`/v1/image/edit/async/${id}`);
    assert.equal(res.status, 200);
    if (['DONE', 'ERROR'].includes(res.body.data.status)) return res.body.data;
    if (Date.now() > deadline) throw new Error(`task ${id} still ${res.body.data.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('storage API', () => {
  test('lists the storage types, local included', async () => {
    const res = await api.json('/v1/storage/storage-types');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { data: ['web_folder', 's3', 'gcs', 'local'] });
  });

  test('create, get, list, patch and delete answer the published shapes and never the secret', async () => {
    const created = await create(s3Storage('crud'));
    assert.deepEqual(Object.keys(created).sort(), ['created_at', 'id', 'name', 'parameters', 'type']);
    assert.deepEqual(created.parameters, { path: 'shop', bucket: 'photos', credentials: { access_key: ACCESS } });
    assert.equal(created.type, 's3');

    const got = await api.json(`/v1/storage/storages/${created.id}`);
    assert.deepEqual(got.body.data, created);
    const list = await api.json('/v1/storage/storages');
    assert.deepEqual(
      list.body.data.find((s: any) => s.id === created.id),
      { ...created, parameters: { path: 'shop', bucket: 'photos' } },
    );

    const patch = await api.json(`/v1/storage/storages/${created.id}`, { name: 'crud-renamed', parameters: { path: 'shop/in' } }, { method: 'PATCH' });
    assert.equal(patch.status, 200, JSON.stringify(patch.body));
    assert.equal(patch.body.data.name, 'crud-renamed');
    assert.deepEqual(patch.body.data.parameters, { path: 'shop/in', bucket: 'photos', credentials: { access_key: ACCESS } });

    for (const body of [created, got.body, list.body, patch.body]) assert.ok(!JSON.stringify(body).includes(SECRET));

    const del = await api.json(`/v1/storage/storages/${created.id}`, undefined, { method: 'DELETE' });
    assert.equal(del.status, 200);
    assert.equal(del.body.data.id, created.id);
    const gone = await api.json(`/v1/storage/storages/${created.id}`);
    assert.equal(gone.status, 404);
    assert.deepEqual(gone.body, {
      error_code: 'storage_not_found',
      error_type: 'general',
      error_message: 'Storage not found.',
      error_details: { storage_id: created.id },
    });
  });

  test('validation: names of 1..50 characters, unique per key; parameters must fit the type', async () => {
    const long = await api.json('/v1/storage/storages', s3Storage('x'.repeat(51)));
    assert.equal(long.status, 422);
    assert.deepEqual(long.body.error_details.errors[0].loc, ['body', 'name']);
    await create(s3Storage('taken'));
    const dup = await api.json('/v1/storage/storages', s3Storage('taken'));
    assert.equal(dup.status, 422);
    assert.deepEqual(dup.body.error_details.errors[0].loc, ['body', 'name']);
    const mismatch = await api.json('/v1/storage/storages', { name: 'mismatch', type: 's3', parameters: { base_url: 'https://x/' } });
    assert.equal(mismatch.status, 422);
    assert.ok(mismatch.body.error_details.errors.some((e: any) => e.loc.join('.') === 'body.parameters.bucket'));
    const badId = await api.json('/v1/storage/storages/abc');
    assert.equal(badId.status, 422);
  });

  test('storages belong to their key: another key sees 404; a key without the storage scope gets 403', async () => {
    const mine = await create(s3Storage('owned'));
    const other = await createKey(api.dataDir, 'image_editing,storage');
    const res = await api.json(`/v1/storage/storages/${mine.id}`, undefined, { key: other.token });
    assert.equal(res.status, 404);
    assert.equal(res.body.error_message, 'Storage not found.');
    const list = await api.json('/v1/storage/storages', undefined, { key: other.token });
    assert.deepEqual(list.body.data, []);
    // Nor can it use the storage by name.
    const edit = await api.json(
      '/v1/image/edit',
      { input: 'storage://owned/in/building.jpg', operations: {} },
      { key: other.token },
    );
    assert.equal(edit.status, 422);
    assert.equal(edit.body.error_code, 'storage_not_found');
    const noScope = await createKey(api.dataDir, 'image_editing');
    const forbidden = await api.json('/v1/storage/storage-types', undefined, { key: noScope.token });
    assert.equal(forbidden.status, 403);
  });
});

describe('storage:// in edits', () => {
  before(async () => {
    await create(s3Storage('main'));
  });

  test('sync edit reads from the bucket and writes into a destination folder, keeping the input name', async () => {
    const res = await api.json('/v1/image/edit', {
      input: 'storage://main/in/building.jpg',
      operations: { resizing: { width: 300 } },
      output: { destination: 'storage://main/out/', format: 'png' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const { output } = res.body.data;
    assert.equal(output.tmp_url, undefined);
    assert.equal(output.object_uri, 's3://photos/shop/out/building.png');
    assert.equal(output.object_key, 'shop/out/building.png');
    assert.equal(output.object_bucket, 'photos');
    assert.equal(output.claid_storage_uri, 'storage://main/out/building.png');
    const stored = await s3.get('photos', 'shop/out/building.png');
    assert.ok(stored, 'the output is in the bucket');
    const meta = await sharp(stored).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 300, 207]);
    const { data } = await sharp(stored).raw().toBuffer({ resolveWithObject: true });
    assert.equal(data.length, 300 * 207 * meta.channels!);
  });

  test('a bare-string output names the file; its extension is fixed to the output format', async () => {
    const res = await api.json('/v1/image/edit', {
      input: 'storage://main/in/building.jpg',
      operations: { resizing: { width: 100 } },
      output: 'storage://main/out/named.png',
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    // The default output format is JPEG: named.png becomes named.jpeg.
    assert.equal(res.body.data.output.object_key, 'shop/out/named.jpeg');
    const stored = await s3.get('photos', 'shop/out/named.jpeg');
    assert.equal((await sharp(stored!).metadata()).format, 'jpeg');
    assert.equal(await s3.get('photos', 'shop/out/named.png'), undefined);
  });

  test('upload edits write to a storage destination under the uploaded name', async () => {
    const form = new FormData();
    form.append('file', new Blob([photo('messi5.jpg')]), 'messi.jpg');
    form.append('data', JSON.stringify({ operations: { resizing: { width: 200 } }, output: { destination: 'storage://main/uploads/', format: 'webp' } }));
    const res = await api.fetch('/v1/image/edit/upload', { method: 'POST', body: form });
    const body = (await res.json()) as any;
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.data.output.claid_storage_uri, 'storage://main/uploads/messi.webp');
    const meta = await sharp((await s3.get('photos', 'shop/uploads/messi.webp'))!).metadata();
    assert.deepEqual([meta.format, meta.width], ['webp', 200]);
  });

  test('async edits use the same storages, as the key that submitted them', async () => {
    const res = await api.json('/v1/image/edit/async', {
      input: 'storage://main/in/batch/fruits.jpg',
      operations: { resizing: { width: 128, height: 128, fit: 'crop' } },
      output: { destination: 'storage://main/async/result.jpg', format: 'jpeg' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const task = await waitFor(res.body.data.id);
    assert.equal(task.status, 'DONE', JSON.stringify(task.errors));
    assert.equal(task.result.output_object.claid_storage_uri, 'storage://main/async/result.jpg');
    assert.equal(task.result.output_object.tmp_url, undefined);
    const meta = await sharp((await s3.get('photos', 'shop/async/result.jpg'))!).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 128, 128]);
  });

  test('unknown storages, missing objects, wrong credentials and unusable destinations are clear 422s', async () => {
    await create(s3Storage('wrong-secret', 'not-the-secret'));
    await create({ name: 'cdn', type: 'web_folder', parameters: { base_url: `${origin.url}/images` } });
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ input: 'storage://nobody/in/building.jpg', operations: {} }, 'storage_not_found', /"nobody"/],
      [{ input: 'storage://main/in/missing.jpg', operations: {} }, 'object_not_found', /storage "main".*shop\/in\/missing\.jpg/],
      [{ input: 'storage://wrong-secret/in/building.jpg', operations: {} }, 'storage_access_denied', /refused the credentials of storage "wrong-secret"/],
      [{ input: 'storage://main/in/', operations: {} }, 'invalid_storage_uri', /names a folder/],
      [{ input: 'storage://main/../x.jpg', operations: {} }, 'invalid_storage_uri', /not allowed/],
      [{ input: 'storage://main/in/building.jpg', operations: {}, output: 'https://example.com/out/' }, 'unsupported_destination', /storage:\/\//],
      [{ input: 'storage://main/in/building.jpg', operations: {}, output: 'storage://cdn/out/' }, 'storage_read_only', /read-only/],
      [{ input: 'storage://main/in/building.jpg', operations: {}, output: 'storage://nobody/out/' }, 'storage_not_found', /"nobody"/],
    ];
    for (const [body, code, message] of cases) {
      const res = await api.json('/v1/image/edit', body);
      assert.equal(res.status, 422, `${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error_code, code, JSON.stringify(res.body));
      assert.equal(res.body.error_type, 'storage');
      assert.match(res.body.error_message, message);
    }
    // Refused at submission too, before a task is queued.
    const res = await api.json('/v1/image/edit/async', { input: 'storage://nobody/a.jpg', operations: {} });
    assert.equal(res.status, 422);
    assert.equal(res.body.error_code, 'storage_not_found');
  });

  test('a gcs storage works through the S3-interoperable endpoint and answers gs:// URIs', async () => {
    await create({
      name: 'gcs',
      type: 'gcs',
      parameters: { bucket: 'photos', credentials: { access_key: GCS_ACCESS, secret_access_key: GCS_SECRET } },
    });
    const res = await api.json('/v1/image/edit', {
      input: 'storage://gcs/shop/in/building.jpg',
      operations: { resizing: { width: 64 } },
      output: { destination: 'storage://gcs/gcs-out/', format: 'png' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.data.output.object_uri, 'gs://photos/gcs-out/building.png');
    const meta = await sharp((await s3.get('photos', 'gcs-out/building.png'))!).metadata();
    assert.deepEqual([meta.format, meta.width], ['png', 64]);
  });

  test('a local storage reads and writes a folder under the configured root, and nothing outside it', async () => {
    const local = await create({ name: 'disk', type: 'local', parameters: { path: 'studio' } });
    assert.deepEqual(local.parameters, { path: 'studio' });
    const outside = await api.json('/v1/storage/storages', { name: 'etc', type: 'local', parameters: { path: '/etc' } });
    assert.equal(outside.status, 422);
    assert.deepEqual(outside.body.error_details.errors[0].loc, ['body', 'parameters', 'path']);

    const res = await api.json('/v1/image/edit', {
      input: 'storage://main/in/building.jpg',
      operations: { resizing: { width: 50 } },
      output: { destination: 'storage://disk/thumbs/', format: 'avif' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const file = join(localRoot, 'studio', 'thumbs', 'building.avif');
    assert.equal(res.body.data.output.object_uri, `file://${file}`);
    assert.equal(res.body.data.output.object_bucket, undefined);
    const meta = await sharp(await readFile(file)).metadata();
    assert.deepEqual([meta.format, meta.width], ['heif', 50]);

    // And back in as an input.
    const again = await api.json('/v1/image/edit', {
      input: 'storage://disk/thumbs/building.avif',
      operations: {},
      output: { format: 'png' },
    });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(again.body.data.input.width, 50);
  });

  test('a web_folder storage reads by HTTP GET from its base URL', async () => {
    const res = await api.json('/v1/image/edit', {
      input: 'storage://cdn/home.jpg',
      operations: { resizing: { width: 256 } },
      output: { destination: 'storage://main/from-web/', format: 'png' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual([res.body.data.input.width, res.body.data.input.height], [512, 384]);
    const meta = await sharp((await s3.get('photos', 'shop/from-web/home.png'))!).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 256, 192]);
    assert.equal(origin.hits('/images/home.jpg'), 1);
  });
});

describe('secrets at rest', () => {
  test('the server\'s database files never hold a secret access key', async () => {
    await create(s3Storage('at-rest'));
    const names = (await readdir(api.dataDir)).filter((n) => n.startsWith('atelier.db'));
    assert.ok(names.length > 0);
    for (const name of names) {
      const bytes = await readFile(join(api.dataDir, name));
      for (const secret of [SECRET, GCS_SECRET]) assert.equal(bytes.includes(secret), false, `${name} holds a secret`);
    }
  });
});
