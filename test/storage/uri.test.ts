import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  destinationSegments,
  folderKey,
  formatStorageUri,
  isStorageUri,
  joinKey,
  nameForFormat,
  outputFileName,
  parseStorageUri,
} from '../../src/storage/uri.js';
import { StorageError } from '../../src/errors.js';

function refused(fn: () => unknown, code = 'invalid_storage_uri'): void {
  assert.throws(fn, (err: unknown) => err instanceof StorageError && err.code === code && err.status === 422);
}

describe('parseStorageUri', () => {
  test('splits the name from the path, percent-decoding both', () => {
    assert.deepEqual(parseStorageUri('storage://my-storage/input-path/input.png'), {
      name: 'my-storage',
      segments: ['input-path', 'input.png'],
      folder: false,
    });
    assert.deepEqual(parseStorageUri('storage://my%20store/a%20b/c%2Bd.png'), {
      name: 'my store',
      segments: ['a b', 'c+d.png'],
      folder: false,
    });
  });

  test('a trailing slash, or no path, names a folder; empty segments are dropped', () => {
    assert.deepEqual(parseStorageUri('storage://s/out/'), { name: 's', segments: ['out'], folder: true });
    assert.deepEqual(parseStorageUri('storage://s'), { name: 's', segments: [], folder: true });
    assert.deepEqual(parseStorageUri('storage://s/'), { name: 's', segments: [], folder: true });
    assert.deepEqual(parseStorageUri('storage://s//a//b.png'), { name: 's', segments: ['a', 'b.png'], folder: false });
  });

  test('the scheme is case-insensitive; ? and # are part of the key', () => {
    assert.ok(isStorageUri('STORAGE://s/a.png'));
    assert.ok(!isStorageUri('https://s/a.png'));
    assert.deepEqual(parseStorageUri('Storage://s/a?b#c.png').segments, ['a?b#c.png']);
  });

  test('refuses climbing segments, encoded or not, encoded slashes, control characters, bad escapes', () => {
    for (const raw of [
      'storage://s/../etc/passwd',
      'storage://s/a/./b.png',
      'storage://s/%2E%2E/x.png',
      'storage://s/a%2Fb.png',
      'storage://s/a%00b.png',
      'storage://s/a%zzb.png',
      'storage:///a.png',
      'https://s/a.png',
    ]) {
      refused(() => parseStorageUri(raw), 'invalid_storage_uri');
    }
  });

  test('errors name the request field', () => {
    try {
      parseStorageUri('storage://s/../x', 'output.destination');
      assert.fail('should throw');
    } catch (err) {
      assert.ok(err instanceof StorageError);
      assert.match(err.message, /^output\.destination: /);
      assert.equal(err.details.field, 'output.destination');
    }
  });
});

describe('keys and URIs', () => {
  test('formatStorageUri is the inverse of parseStorageUri', () => {
    for (const [name, segments] of [
      ['s', ['a', 'b.png']],
      ['my store', ['a b', 'ünï#?.png']],
    ] as const) {
      const uri = formatStorageUri(name, segments);
      assert.deepEqual(parseStorageUri(uri), { name, segments: [...segments], folder: false });
    }
    assert.equal(formatStorageUri('s', ['out'], true), 'storage://s/out/');
  });

  test('the storage path prefix joins the request path', () => {
    assert.equal(joinKey(['images', '2024'], ['a', 'b.png']), 'images/2024/a/b.png');
    assert.equal(joinKey([], ['b.png']), 'b.png');
    assert.equal(folderKey(['images'], ['a']), 'images/a/');
    assert.equal(folderKey([], []), '');
  });
});

describe('output names', () => {
  test('the extension is fixed to the output format, keeping equivalent spellings', () => {
    assert.equal(nameForFormat('photo.png', 'jpeg'), 'photo.jpeg');
    assert.equal(nameForFormat('photo.jpg', 'jpeg'), 'photo.jpg');
    assert.equal(nameForFormat('photo.JPG', 'jpeg'), 'photo.JPG');
    assert.equal(nameForFormat('scan.tif', 'tiff'), 'scan.tif');
    assert.equal(nameForFormat('photo', 'webp'), 'photo.webp');
    assert.equal(nameForFormat('archive.tar.gz', 'png'), 'archive.tar.png');
    assert.equal(nameForFormat('.hidden', 'png'), '.hidden.png');
  });

  test('a folder destination keeps the input name; a file destination names the file', () => {
    const folder = parseStorageUri('storage://s/out/');
    assert.deepEqual(destinationSegments(folder, 'photo.png', 'jpeg'), ['out', 'photo.jpeg']);
    assert.deepEqual(destinationSegments(parseStorageUri('storage://s'), 'a.webp', 'png'), ['a.png']);
    const file = parseStorageUri('storage://s/result-path/image-name.jpg');
    assert.deepEqual(destinationSegments(file, 'whatever.png', 'png'), ['result-path', 'image-name.png']);
    assert.deepEqual(destinationSegments(file, 'whatever.png', 'jpeg'), ['result-path', 'image-name.jpg']);
  });

  test('input names become one safe segment', () => {
    assert.equal(outputFileName('dir/sub/photo.png'), 'photo.png');
    assert.equal(outputFileName('c:\\x\\photo.png'), 'photo.png');
    assert.equal(outputFileName('..'), 'image');
    assert.equal(outputFileName(''), 'image');
    assert.equal(outputFileName('a\u0001b.png'), 'a_b.png');
  });
});
