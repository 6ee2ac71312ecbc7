// The `local` storage type: a folder under the configured root, never a way out of it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LocalConnector, isWithin, resolveLocalFolder } from '../../src/storage/connectors/local.js';
import { StorageError, ValidationError } from '../../src/errors.js';

let sandbox: string;
let root: string;
let outside: string;

before(async () => {
  sandbox = await mkdtemp(join(tmpdir(), 'atelier-local-'));
  root = join(sandbox, 'root');
  outside = join(sandbox, 'outside');
  await mkdir(join(root, 'photos', 'sub', 'deeper'), { recursive: true });
  await mkdir(outside, { recursive: true });
  await writeFile(join(outside, 'secret.txt'), 'outside the root');
  await writeFile(join(root, 'photos', 'a.jpg'), 'A');
  await writeFile(join(root, 'photos', 'b.png'), 'B');
  await writeFile(join(root, 'photos', 'sub', 'c.jpg'), 'C');
  await writeFile(join(root, 'photos', 'sub', 'deeper', 'd.webp'), 'D');
  // Links that lead out of the storage: a file and a folder.
  await symlink(join(outside, 'secret.txt'), join(root, 'photos', 'leak.txt'));
  await symlink(outside, join(root, 'photos', 'escape'));
  await symlink(outside, join(root, 'to-outside'));
});

after(async () => {
  await rm(sandbox, { recursive: true, force: true });
});

const read = { maxBytes: 1000, field: 'input' };

async function refusal(promise: Promise<unknown>): Promise<StorageError | ValidationError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof StorageError || err instanceof ValidationError, `unexpected ${String(err)}`);
    return err;
  }
  assert.fail('expected a refusal');
}

describe('resolveLocalFolder', () => {
  test('accepts folders under the root (relative or absolute) and creates missing ones', async () => {
    assert.equal(await resolveLocalFolder(root, 'photos'), join(root, 'photos'));
    assert.equal(await resolveLocalFolder(root, join(root, 'new', 'folder')), join(root, 'new', 'folder'));
    assert.deepEqual(await readdir(join(root, 'new')), ['folder']);
  });

  test('refuses "..", folders outside the root, and symlinks leading outside (creating nothing there)', async () => {
    for (const path of ['../outside', 'photos/../../outside', '/etc', outside, 'to-outside', 'to-outside/created']) {
      const err = await refusal(resolveLocalFolder(root, path));
      assert.equal(err.status, 422, path);
      assert.equal(err.details.field, 'parameters.path', path);
    }
    assert.deepEqual(await readdir(outside), ['secret.txt']);
  });

  test('refuses folders that contain the data directory, even when the root does', async () => {
    const dataDir = join(root, 'atelier-data');
    await mkdir(dataDir, { recursive: true });
    for (const path of ['.', root]) {
      const err = await refusal(resolveLocalFolder(root, path, [dataDir]));
      assert.match(err.message, /data directory/);
    }
    assert.equal(await resolveLocalFolder(root, 'photos', [dataDir]), join(root, 'photos'));
    const c = new LocalConnector({ storage: 'all', root, folder: root, protectedDirs: [dataDir] });
    assert.equal((await refusal(c.read('atelier-data/secret', read))).code, 'storage_outside_root');
  });

  test('isWithin compares whole path segments', () => {
    assert.ok(isWithin('/a/b', '/a/b'));
    assert.ok(isWithin('/a/b', '/a/b/c'));
    assert.ok(!isWithin('/a/b', '/a/bc'));
    assert.ok(!isWithin('/a/b', '/a'));
  });
});

describe('LocalConnector', () => {
  const connector = () => new LocalConnector({ storage: 'disk', root, folder: join(root, 'photos') });

  test('reads files and writes new ones atomically, creating folders', async () => {
    const c = connector();
    assert.equal((await c.read('sub/c.jpg', read)).data.toString(), 'C');
    const data = Buffer.from([0, 1, 2, 255]);
    const location = await c.write('out/2024/r.png', data, 'image/png', { field: 'output.destination' });
    const file = join(root, 'photos', 'out', '2024', 'r.png');
    assert.deepEqual(location, { uri: pathToFileURL(file).href, key: 'out/2024/r.png' });
    assert.deepEqual(await readFile(file), data);
    assert.deepEqual(await readdir(join(root, 'photos', 'out', '2024')), ['r.png']);
    // Overwriting replaces the content.
    await c.write('out/2024/r.png', Buffer.from('again'), 'image/png', { field: 'output.destination' });
    assert.equal((await readFile(file)).toString(), 'again');
  });

  test('lists its own files, or recursively; symlinks are not followed', async () => {
    const c = connector();
    assert.deepEqual(await c.list('', { recursive: false, limit: 100, field: 'input' }), ['a.jpg', 'b.png']);
    const all = await c.list('', { recursive: true, limit: 100, field: 'input' });
    assert.deepEqual(
      all.filter((k) => !k.startsWith('out/')),
      ['a.jpg', 'b.png', 'sub/c.jpg', 'sub/deeper/d.webp'],
    );
    assert.deepEqual(await c.list('sub/', { recursive: false, limit: 100, field: 'input' }), ['sub/c.jpg']);
    assert.deepEqual(await c.list('missing/', { recursive: true, limit: 100, field: 'input' }), []);
    assert.equal((await refusal(c.list('', { recursive: true, limit: 2, field: 'input' }))).code, 'folder_too_large');
  });

  test('missing files are object_not_found; too large files are refused', async () => {
    const c = connector();
    const err = await refusal(c.read('nope.jpg', read));
    assert.equal(err.code, 'object_not_found');
    assert.match(err.message, /storage "disk"/);
    assert.equal((await refusal(c.read('sub', read))).code, 'object_not_found');
    assert.equal((await refusal(c.read('a.jpg/x', read))).code, 'object_not_found');
    assert.equal((await refusal(c.read('sub/c.jpg', { ...read, maxBytes: 0 }))).code, 'input_too_large');
  });

  test('symlinks inside the folder cannot be used to read or write outside it', async () => {
    const c = connector();
    assert.equal((await refusal(c.read('leak.txt', read))).code, 'storage_path_outside');
    assert.equal((await refusal(c.read('escape/secret.txt', read))).code, 'storage_path_outside');
    const w = await refusal(c.write('escape/planted.png', Buffer.from('x'), 'image/png', { field: 'output.destination' }));
    assert.equal(w.code, 'storage_path_outside');
    const deep = await refusal(c.write('escape/new/planted.png', Buffer.from('x'), 'image/png', { field: 'output.destination' }));
    assert.equal(deep.code, 'storage_path_outside');
    assert.deepEqual(await readdir(outside), ['secret.txt']);
    assert.equal((await refusal(c.list('escape/', { recursive: true, limit: 10, field: 'input' }))).code, 'storage_path_outside');
  });

  test('a storage folder that was replaced by a link outside the root is refused at use', async () => {
    const c = new LocalConnector({ storage: 'moved', root, folder: join(root, 'to-outside') });
    const err = await refusal(c.read('secret.txt', read));
    assert.equal(err.code, 'storage_outside_root');
    const gone = new LocalConnector({ storage: 'gone', root, folder: join(root, 'never-created') });
    assert.equal((await refusal(gone.read('a.jpg', read))).code, 'storage_folder_missing');
  });
});
