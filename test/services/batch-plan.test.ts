// Batch planning: how `input` is read, which listed files are images, and how outputs are named and placed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  batchDestinationFolder,
  batchSource,
  checkItemCount,
  foundFromAddress,
  foundFromListing,
  isBatchImage,
  outputExtension,
  planItems,
  subFolder,
} from '../../src/services/batch-plan.js';
import { ValidationError } from '../../src/errors.js';

describe('batchSource', () => {
  test('an options object is always a folder, recursive only when asked', () => {
    assert.deepEqual(batchSource({ source: 'storage://disk/in' }), { kind: 'folder', uri: 'storage://disk/in', recursive: false });
    assert.deepEqual(batchSource({ source: 'storage://disk/in/', recursive: true }), {
      kind: 'folder',
      uri: 'storage://disk/in/',
      recursive: true,
    });
  });

  test('a string is a folder when it is a storage URI ending in "/" or naming only the storage, else one file', () => {
    assert.deepEqual(batchSource('storage://disk/in/'), { kind: 'folder', uri: 'storage://disk/in/', recursive: false });
    assert.deepEqual(batchSource('storage://disk'), { kind: 'folder', uri: 'storage://disk', recursive: false });
    assert.deepEqual(batchSource('storage://disk/in/a.jpg'), { kind: 'list', inputs: ['storage://disk/in/a.jpg'] });
    assert.deepEqual(batchSource('https://cdn.example/a/'), { kind: 'list', inputs: ['https://cdn.example/a/'] });
  });

  test('a list is a list of files', () => {
    assert.deepEqual(batchSource(['https://x.example/a.jpg', 'storage://d/b.png']), {
      kind: 'list',
      inputs: ['https://x.example/a.jpg', 'storage://d/b.png'],
    });
  });
});

describe('found inputs', () => {
  test('addresses give their last segment, decoded, as the file name', () => {
    assert.deepEqual(foundFromAddress('https://x.example/shop/red%20shoe.jpg?v=2'), {
      input: 'https://x.example/shop/red%20shoe.jpg?v=2',
      name: 'red shoe.jpg',
      folders: [],
    });
    assert.equal(foundFromAddress('https://x.example/').name, 'image');
    assert.equal(foundFromAddress('storage://disk/a/b%20c.png').name, 'b c.png');
  });

  test('listed files keep their sub-folders below the listed folder', () => {
    assert.deepEqual(foundFromListing('storage://disk/in/a/b/c.jpg', 'a/b/c.jpg'), {
      input: 'storage://disk/in/a/b/c.jpg',
      name: 'c.jpg',
      folders: ['a', 'b'],
    });
    assert.deepEqual(foundFromListing('storage://disk/in/c.jpg', 'c.jpg').folders, []);
  });

  test('only image files are taken from folders, hidden files and folders never', () => {
    const file = (relative: string) => foundFromListing(`storage://disk/in/${relative}`, relative);
    for (const name of ['a.jpg', 'B.JPEG', 'c.png', 'd.webp', 'e.tif', 'f.tiff', 'g.bmp', 'h.gif', 'i.avif', 'j.heic', 'sub/k.jpg']) {
      assert.equal(isBatchImage(file(name)), true, name);
    }
    for (const name of ['notes.txt', 'README', '.DS_Store', '._a.jpg', '.hidden.png', 'manifest.json', 'jpg', '.thumbnails/a.jpg', 'sub/.cache/b.png']) {
      assert.equal(isBatchImage(file(name)), false, name);
    }
  });
});

describe('destinations', () => {
  test('a batch destination is a folder, with or without its trailing slash', () => {
    assert.equal(batchDestinationFolder(undefined), undefined);
    assert.equal(batchDestinationFolder('storage://disk/out'), 'storage://disk/out/');
    assert.equal(batchDestinationFolder('storage://disk/out/'), 'storage://disk/out/');
    assert.equal(batchDestinationFolder('storage://disk'), 'storage://disk/');
    assert.equal(batchDestinationFolder('storage://disk/my%20out'), 'storage://disk/my%20out/');
  });

  test('sub-folders are appended percent-encoded', () => {
    assert.equal(subFolder('storage://disk/out/', []), 'storage://disk/out/');
    assert.equal(subFolder('storage://disk/out/', ['a b', 'c']), 'storage://disk/out/a%20b/c/');
    assert.equal(subFolder('storage://disk/', ['x']), 'storage://disk/x/');
  });

  test('the output extension is the output format', () => {
    assert.equal(outputExtension({}), 'jpeg');
    assert.equal(outputExtension({ format: 'png' }), 'png');
    assert.equal(outputExtension({ format: { type: 'webp' } }), 'webp');
  });
});

describe('planItems', () => {
  const found = (input: string, name: string, folders: string[] = []) => ({ input, name, folders });

  test('without a destination, names are kept and nothing is renamed (every item has its own tmp URL)', () => {
    const plan = planItems([found('u1', 'photo.jpg'), found('u2', 'photo.jpg')], undefined, 'jpeg');
    assert.deepEqual(plan, [
      { index: 0, input: 'u1', name: 'photo.jpg', destination: null },
      { index: 1, input: 'u2', name: 'photo.jpg', destination: null },
    ]);
  });

  test('with a destination, sub-folders are kept and names stay as they are when they do not collide', () => {
    const plan = planItems(
      [found('a', 'a.jpg'), found('b', 'a.png'), found('c', 'c.jpg', ['sub']), found('d', 'd.webp', ['sub', 'deep'])],
      'storage://disk/out/',
      'jpeg',
    );
    assert.deepEqual(
      plan.map((p) => [p.name, p.destination]),
      [
        ['a.jpg', 'storage://disk/out/'],
        // a.png becomes a.jpeg, a.jpg stays a.jpg: different files, no rename.
        ['a.png', 'storage://disk/out/'],
        ['c.jpg', 'storage://disk/out/sub/'],
        ['d.webp', 'storage://disk/out/sub/deep/'],
      ],
    );
  });

  test('outputs that would be the same file are told apart in input order, deterministically', () => {
    const inputs = [
      found('1', 'a.png'),
      found('2', 'a.webp'),
      found('3', 'A.tiff'),
      found('4', 'a_2.png'),
      found('5', 'a.png', ['sub']),
    ];
    const plan = planItems(inputs, 'storage://disk/out/', 'jpeg');
    // a.png → a.jpeg; a.webp → a_2.jpeg; A.tiff → A_3.jpeg (case-insensitive clash with a.jpeg); a_2.png would be
    // a_2.jpeg, taken by the second item, so it becomes a_2_2.jpeg; another folder is another name space.
    assert.deepEqual(
      plan.map((p) => p.name),
      ['a.png', 'a_2.webp', 'A_3.tiff', 'a_2_2.png', 'a.png'],
    );
    assert.deepEqual(planItems(inputs, 'storage://disk/out/', 'jpeg'), plan);
    // With PNG output, a.png and a.webp both become a.png as well.
    assert.deepEqual(
      planItems([found('1', 'a.png'), found('2', 'a.webp')], 'storage://disk/out/', 'png').map((p) => p.name),
      ['a.png', 'a_2.webp'],
    );
  });

  test('the item limit is a 422 naming the count and the limit', () => {
    checkItemCount(1000, 1000, 'the list holds');
    assert.throws(
      () => checkItemCount(1001, 1000, 'the list holds'),
      (err: unknown) =>
        err instanceof ValidationError &&
        err.code === 'too_many_batch_items' &&
        err.status === 422 &&
        /1001 images; a batch takes at most 1000/.test(err.message),
    );
  });
});
