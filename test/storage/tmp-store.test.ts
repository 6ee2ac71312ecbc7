import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, utimes, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TmpStore, safeFileName, withExtension } from '../../src/storage/tmp-store.js';

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test('file names are made safe and take the output extension', () => {
  assert.equal(withExtension('photo.png', 'jpeg'), 'photo.jpeg');
  assert.equal(withExtension('archive.tar.gz', 'png'), 'archive.tar.png');
  assert.equal(withExtension('noext', 'webp'), 'noext.webp');
  assert.equal(safeFileName('../../etc/passwd'), 'passwd');
  assert.equal(safeFileName('a/b\\c d?.jpg'), 'c d_.jpg');
  assert.equal(safeFileName('...'), 'image');
  assert.equal(safeFileName('café.jpg'), 'cafe_.jpg');
});

test('objects round-trip under unguessable tokens; stable ids give stable tokens', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tmpstore-'));
  try {
    const store = new TmpStore(dir, 3600, 'secret');
    await store.init();
    const a = await store.put('x.jpeg', Buffer.from('one'));
    const b = await store.put('x.jpeg', Buffer.from('two'));
    assert.notEqual(a.token, b.token);
    assert.ok(a.token.length >= 32);
    const s1 = await store.put('y.png', Buffer.from('first'), 'task:7');
    const s2 = await store.put('y.png', Buffer.from('second'), 'task:7');
    assert.equal(s1.key, s2.key);
    const opened = await store.open(s2.token, s2.name);
    assert.equal((await readAll(opened!.stream)).toString(), 'second');
    assert.equal(await store.open(s2.token, '../secret'), undefined);
    assert.equal(await store.open('short', 'y.png'), undefined);
    const other = new TmpStore(dir, 3600, 'other-secret');
    assert.notEqual((await other.put('y.png', Buffer.from('z'), 'task:7')).token, s1.token);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('expired objects are not served and are swept', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tmpstore-'));
  try {
    const store = new TmpStore(dir, 60, 'secret');
    await store.init();
    const old = await store.put('old.jpeg', Buffer.from('old'));
    const fresh = await store.put('new.jpeg', Buffer.from('new'));
    const past = new Date(Date.now() - 120_000);
    await utimes(join(dir, old.token, old.name), past, past);
    assert.equal(await store.open(old.token, old.name), undefined);
    assert.ok(await store.open(fresh.token, fresh.name));
    assert.equal(await store.sweep(), 1);
    assert.deepEqual(await readdir(dir), [fresh.token]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
