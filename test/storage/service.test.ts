// The storage service: the registry behind /v1/storage/storages (validation, ownership, PATCH merging,
// secrets at rest) and storage:// resolution for reading, writing and listing, against a real S3 server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Db } from '../../src/db/sqlite.js';
import { NotFoundError, StorageError, ValidationError, type AtelierError } from '../../src/errors.js';
import { loadStorageConfig } from '../../src/storage/config.js';
import { InputFetcher } from '../../src/storage/fetch.js';
import { OutboundGuard } from '../../src/storage/guard.js';
import { SecretBox } from '../../src/storage/secrets.js';
import { StorageService } from '../../src/storage/service.js';
import { startS3Server, type S3TestServer } from '../support/s3-server.js';

const ACCESS = 'AKIASERVICETEST01';
const SECRET = 'service-test-secret-Ja8f3kq0Zp9x';

let dir: string;
let s3: S3TestServer;
let db: Db;
let fetcher: InputFetcher;
let service: StorageService;

function makeService(database: Db, secrets = SecretBox.fromMaterial('test key material for storage service')): StorageService {
  return new StorageService({
    db: database,
    secrets,
    fetcher,
    config: loadStorageConfig(
      { ATELIER_S3_ENDPOINT: s3.endpoint, ATELIER_GCS_ENDPOINT: s3.endpoint, ATELIER_LOCAL_STORAGE_ROOT: join(dir, 'local') },
      dir,
    ),
    maxReadBytes: 1024 * 1024,
  });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'atelier-storage-service-'));
  s3 = await startS3Server({ buckets: ['media'], keys: [[ACCESS, SECRET]] });
  await s3.put('media', 'site/in/photo.jpg', 'photo bytes');
  await s3.put('media', 'site/in/more/deep.png', 'deep bytes');
  await s3.put('media', 'outside-prefix.jpg', 'not under the prefix');
  fetcher = new InputFetcher(
    { maxBytes: 1024 * 1024, connectTimeoutMs: 2000, totalTimeoutMs: 5000, maxRedirects: 3 },
    new OutboundGuard({ allowlist: ['127.0.0.1'] }),
  );
  db = openDatabase(join(dir, 'atelier.db'));
  service = makeService(db);
});

after(async () => {
  service?.close();
  db?.close();
  await fetcher?.close();
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
});

function s3Body(name: string, extra: Record<string, unknown> = {}) {
  return {
    name,
    type: 's3' as const,
    parameters: { bucket: 'media', path: 'site', credentials: { access_key: ACCESS, secret_access_key: SECRET }, ...extra },
  };
}

async function refusal(fn: () => unknown): Promise<AtelierError> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof StorageError || err instanceof ValidationError || err instanceof NotFoundError, String(err));
    return err;
  }
  assert.fail('expected a refusal');
}

describe('registry', () => {
  test('create answers the detailed shape: access key, never the secret', async () => {
    const created = await service.create('owner-a', s3Body('registry-main'));
    assert.equal(typeof created.id, 'number');
    assert.match(created.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/);
    assert.deepEqual(created.parameters, { path: 'site', bucket: 'media', credentials: { access_key: ACCESS } });
    assert.ok(!JSON.stringify(created).includes(SECRET));
    assert.deepEqual(service.get('owner-a', created.id).parameters, created.parameters);
    const listed = service.list('owner-a').find((s) => s.id === created.id)!;
    assert.deepEqual(listed.parameters, { path: 'site', bucket: 'media' });
    const gcs = await service.create('owner-a', { ...s3Body('registry-gcs'), type: 'gcs', parameters: { bucket: 'b', credentials: { access_key: 'k', secret_access_key: 's' } } });
    assert.deepEqual(gcs.parameters, { path: '', bucket: 'b', credentials: { access_key: 'k' } });
  });

  test('storages belong to their owner: others see 404 and cannot use them by name', async () => {
    const mine = await service.create('owner-a', s3Body('private-one'));
    const err = await refusal(() => service.get('owner-b', mine.id));
    assert.equal(err.status, 404);
    assert.equal(err.message, 'Storage not found.');
    assert.equal((await refusal(() => service.delete('owner-b', mine.id))).status, 404);
    assert.equal((await refusal(() => service.update('owner-b', mine.id, { name: 'x' }))).status, 404);
    assert.ok(!service.list('owner-b').some((s) => s.id === mine.id));
    const use = await refusal(() => service.readObject('owner-b', 'storage://private-one/in/photo.jpg'));
    assert.equal(use.code, 'storage_not_found');
    assert.match(use.message, /"private-one"/);
  });

  test('names are unique per owner: a duplicate is a 422 on `name`', async () => {
    await service.create('owner-a', s3Body('dup'));
    const err = await refusal(() => service.create('owner-a', s3Body('dup')));
    assert.equal(err.status, 422);
    assert.deepEqual((err.details.errors as { loc: string[] }[])[0]!.loc, ['body', 'name']);
    await service.create('owner-b', s3Body('dup'));
    const other = await service.create('owner-a', s3Body('dup-2'));
    assert.deepEqual((await refusal(() => service.update('owner-a', other.id, { name: 'dup' }))).details.field, 'name');
  });

  test('parameters are checked against the declared type, and for what schemas cannot say', async () => {
    const cases: [Record<string, unknown>, string[]][] = [
      [{ name: 'p1', type: 's3', parameters: { base_url: 'https://x/' } }, ['body', 'parameters', 'bucket']],
      [{ name: 'p2', type: 'web_folder', parameters: { bucket: 'b', credentials: { access_key: 'a', secret_access_key: 's' } } }, ['body', 'parameters', 'base_url']],
      [{ name: 'p3', type: 'web_folder', parameters: { base_url: 'ftp://files.example.com/' } }, ['body', 'parameters', 'base_url']],
      [{ name: 'p4', type: 's3', parameters: { bucket: 'b', path: 'a/../b', credentials: { access_key: 'a', secret_access_key: 's' } } }, ['body', 'parameters', 'path']],
      [{ name: 'p5', type: 'local', parameters: { path: '/etc' } }, ['body', 'parameters', 'path']],
      [{ name: 'p6', type: 'local', parameters: { path: '../x' } }, ['body', 'parameters', 'path']],
    ];
    for (const [body, loc] of cases) {
      const err = await refusal(() => service.create('owner-a', body as never));
      assert.equal(err.status, 422, JSON.stringify(body));
      const locs = (err.details.errors as { loc: string[] }[]).map((e) => e.loc.join('.'));
      assert.ok(locs.includes(loc.join('.')), `${JSON.stringify(body)} → ${locs.join(', ')}`);
    }
  });

  test('PATCH merges parameters and credentials, keeping the sealed secret unless a new one is sent', async () => {
    const created = await service.create('owner-a', s3Body('patched'));
    const sealed = () => service.registry.get('owner-a', created.id)!.sealedSecret;
    const before = sealed();
    const moved = await service.update('owner-a', created.id, { parameters: { path: 'site/in' } });
    assert.deepEqual(moved.parameters, { path: 'site/in', bucket: 'media', credentials: { access_key: ACCESS } });
    assert.equal(sealed(), before);
    // The kept secret still works against the bucket.
    assert.equal((await service.readObject('owner-a', 'storage://patched/photo.jpg')).data.toString(), 'photo bytes');
    await service.update('owner-a', created.id, { parameters: { credentials: { secret_access_key: 'wrong-now' } } });
    assert.notEqual(sealed(), before);
    const denied = await refusal(() => service.readObject('owner-a', 'storage://patched/photo.jpg'));
    assert.equal(denied.code, 'storage_access_denied');
    await service.update('owner-a', created.id, { parameters: { credentials: { secret_access_key: SECRET } } });
    assert.equal((await service.readObject('owner-a', 'storage://patched/photo.jpg')).data.toString(), 'photo bytes');
    // s3 → gcs keeps everything; a change to another family needs complete parameters.
    const gcs = await service.update('owner-a', created.id, { type: 'gcs', name: 'patched-gcs' });
    assert.equal(gcs.type, 'gcs');
    assert.equal(gcs.name, 'patched-gcs');
    assert.equal((await service.readObject('owner-a', 'storage://patched-gcs/photo.jpg')).data.toString(), 'photo bytes');
    assert.equal((await refusal(() => service.update('owner-a', created.id, { type: 'web_folder' }))).status, 422);
    const web = await service.update('owner-a', created.id, { type: 'web_folder', parameters: { base_url: 'https://cdn.example.com/x' } });
    assert.deepEqual(web.parameters, { base_url: 'https://cdn.example.com/x' });
    assert.equal(service.registry.get('owner-a', created.id)!.sealedSecret, null);
  });

  test('delete answers the removed storage and forgets it', async () => {
    const created = await service.create('owner-a', s3Body('to-delete'));
    const removed = service.delete('owner-a', created.id);
    assert.deepEqual(removed, { ...created, parameters: { path: 'site', bucket: 'media' } });
    assert.equal((await refusal(() => service.get('owner-a', created.id))).status, 404);
    assert.equal((await refusal(() => service.readObject('owner-a', 'storage://to-delete/in/photo.jpg'))).code, 'storage_not_found');
  });
});

describe('secrets at rest', () => {
  test('the database file never holds the secret access key', async () => {
    const secret = 'Zx9-UNIQUE-SECRET-never-on-disk-4c7d';
    const file = join(dir, 'secrets-only.db');
    const own = openDatabase(file);
    const svc = makeService(own);
    await svc.create('owner-a', { ...s3Body('sealed'), parameters: { bucket: 'media', credentials: { access_key: ACCESS, secret_access_key: secret } } });
    svc.close();
    own.close();
    const names = (await readdir(dir)).filter((n) => n.startsWith('secrets-only.db'));
    assert.ok(names.includes('secrets-only.db'));
    for (const name of names) {
      const bytes = await readFile(join(dir, name));
      for (const form of [secret, Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('hex')]) {
        assert.equal(bytes.includes(form), false, `${name} contains the secret (${form.slice(0, 12)}...)`);
      }
      assert.equal(bytes.includes(Buffer.from(secret, 'utf16le')), false);
    }
    // And it is there, sealed: the same key opens it.
    const again = openDatabase(file);
    const reopened = makeService(again);
    const record = reopened.registry.getByName('owner-a', 'sealed')!;
    assert.match(record.sealedSecret!, /^v1\./);
    assert.equal(SecretBox.fromMaterial('test key material for storage service').open(record.sealedSecret!, 'atelier/storage-secret/owner-a'), secret);
    reopened.close();
    again.close();
  });

  test('with another key, using the storage fails cleanly, naming it', async () => {
    await service.create('owner-a', s3Body('under-old-key'));
    const other = makeService(db, SecretBox.fromMaterial('a completely different key'));
    const err = await refusal(() => other.readObject('owner-a', 'storage://under-old-key/in/photo.jpg'));
    assert.equal(err.code, 'storage_secret_unreadable');
    assert.equal(err.status, 422);
    assert.match(err.message, /storage "under-old-key"/);
    assert.match(err.message, /ATELIER_SECRET_KEY/);
    assert.ok(!err.message.includes(SECRET));
    other.close();
  });
});

describe('storage:// reading, writing and listing', () => {
  before(async () => {
    await service.create('owner-s', s3Body('site'));
  });

  test('reads through the storage path prefix', async () => {
    const obj = await service.readObject('owner-s', 'storage://site/in/photo.jpg');
    assert.deepEqual(obj, { data: Buffer.from('photo bytes'), name: 'photo.jpg' });
    assert.equal((await refusal(() => service.readObject('owner-s', 'storage://site/outside-prefix.jpg'))).code, 'object_not_found');
    assert.equal((await refusal(() => service.readObject('owner-s', 'storage://site/in/'))).code, 'invalid_storage_uri');
    assert.equal((await refusal(() => service.readObject('owner-s', 'storage://nobody/in/photo.jpg'))).code, 'storage_not_found');
  });

  test('writes outputs named by the destination, answering the PipelineOutputObject locations', async () => {
    const png = Buffer.from('png output');
    const intoFolder = await service.writeOutput('owner-s', 'storage://site/out/', { inputName: 'photo.jpg', ext: 'png', mime: 'image/png', data: png });
    assert.deepEqual(intoFolder, {
      object_uri: 's3://media/site/out/photo.png',
      object_key: 'site/out/photo.png',
      object_bucket: 'media',
      claid_storage_uri: 'storage://site/out/photo.png',
    });
    assert.deepEqual(await s3.get('media', 'site/out/photo.png'), png);
    const named = await service.writeOutput('owner-s', 'storage://site/out/final%20one.png', { inputName: 'photo.jpg', ext: 'jpeg', mime: 'image/jpeg', data: png });
    assert.equal(named.object_key, 'site/out/final one.jpeg');
    assert.equal(named.claid_storage_uri, 'storage://site/out/final%20one.jpeg');
    assert.deepEqual(await s3.get('media', 'site/out/final one.jpeg'), png);
  });

  test('lists folders as storage URIs relative to the storage', async () => {
    const flat = await service.listFolder('owner-s', 'storage://site/in', { recursive: false });
    assert.deepEqual(flat, [{ uri: 'storage://site/in/photo.jpg', path: 'in/photo.jpg', relative: 'photo.jpg' }]);
    const deep = await service.listFolder('owner-s', 'storage://site/in/', { recursive: true });
    assert.deepEqual(deep.map((o) => o.relative), ['more/deep.png', 'photo.jpg']);
    for (const item of deep) {
      assert.ok((await service.readObject('owner-s', item.uri)).data.length > 0, item.uri);
    }
  });

  test('destinations are checked before any work', async () => {
    await service.create('owner-s', { name: 'cdn', type: 'web_folder', parameters: { base_url: 'https://cdn.example.com/' } });
    assert.equal((await refusal(() => service.checkDestination('owner-s', 'storage://cdn/out/'))).code, 'storage_read_only');
    assert.equal((await refusal(() => service.checkDestination('owner-s', 'storage://none/out/'))).code, 'storage_not_found');
    service.checkDestination('owner-s', 'storage://site/out/');
    assert.equal((await refusal(() => service.checkSource('owner-s', 'storage://site/out/'))).code, 'invalid_storage_uri');
  });

  test('local storages read, write and list through the same addresses', async () => {
    const local = await service.create('owner-s', { name: 'disk', type: 'local', parameters: { path: 'team/photos' } });
    assert.deepEqual(local.parameters, { path: 'team/photos' });
    const written = await service.writeOutput('owner-s', 'storage://disk/2024/', { inputName: 'a.png', ext: 'webp', mime: 'image/webp', data: Buffer.from('webp!') });
    assert.equal(written.object_key, '2024/a.webp');
    assert.equal(written.object_uri, `file://${join(dir, 'local', 'team', 'photos', '2024', 'a.webp')}`);
    assert.equal(written.object_bucket, undefined);
    assert.equal((await service.readObject('owner-s', 'storage://disk/2024/a.webp')).data.toString(), 'webp!');
    assert.deepEqual((await service.listFolder('owner-s', 'storage://disk/', { recursive: true })).map((o) => o.uri), ['storage://disk/2024/a.webp']);
  });
});
