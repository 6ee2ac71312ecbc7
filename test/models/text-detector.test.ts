import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { toRawImage } from '../../src/pipeline/raw-image.js';
import { dbBoxes, detInputSize, detectText, toDetTensor, DB_DEFAULTS } from '../../src/models/text-detector.js';
import { context, contains, plateSvg } from './vision-fixtures.js';

test('detInputSize limits the long side and rounds both sides to multiples of 32', () => {
  assert.deepEqual(detInputSize(1920, 1080), { width: 960, height: 544 });
  assert.deepEqual(detInputSize(600, 482), { width: 608, height: 480 });
  assert.deepEqual(detInputSize(10, 10), { width: 32, height: 32 });
  // Enlarging small regions on request, still capped by the limit.
  assert.deepEqual(detInputSize(200, 100, 960, 480), { width: 480, height: 256 });
  assert.deepEqual(detInputSize(200, 100, 300, 480), { width: 288, height: 160 });
});

test('toDetTensor writes planar BGR normalised with the ImageNet mean and std', () => {
  const rgb = Buffer.from([255, 0, 128]);
  const t = toDetTensor(rgb, 1, 1, 3);
  assert.ok(Math.abs((t[0] as number) - (128 / 255 - 0.485) / 0.229) < 1e-6, 'B first');
  assert.ok(Math.abs((t[1] as number) - (0 - 0.456) / 0.224) < 1e-6, 'G second');
  assert.ok(Math.abs((t[2] as number) - (1 - 0.406) / 0.225) < 1e-6, 'R third');
});

function probMap(width: number, height: number, rects: { x: number; y: number; w: number; h: number; p: number }[]): Float32Array {
  const m = new Float32Array(width * height);
  for (const r of rects) for (let y = r.y; y < r.y + r.h; y++) for (let x = r.x; x < r.x + r.w; x++) m[y * width + x] = r.p;
  return m;
}

test('dbBoxes grows each confident region by the unclip distance and drops weak or tiny ones', () => {
  const map = probMap(200, 100, [
    { x: 20, y: 40, w: 100, h: 10, p: 0.9 }, // a text line
    { x: 150, y: 10, w: 20, h: 20, p: 0.45 }, // above the pixel threshold, below the box threshold
    { x: 150, y: 70, w: 2, h: 2, p: 0.95 }, // too small
  ]);
  const boxes = dbBoxes(map, 200, 100);
  assert.equal(boxes.length, 1);
  const [b] = boxes;
  assert.ok(b);
  const d = (100 * 10 * DB_DEFAULTS.unclipRatio) / (2 * 110);
  assert.ok(Math.abs(b.left - (20 - d)) < 1e-9 && Math.abs(b.top - (40 - d)) < 1e-9);
  assert.ok(Math.abs(b.width - (100 + 2 * d)) < 1e-9 && Math.abs(b.height - (10 + 2 * d)) < 1e-9);
  assert.ok(Math.abs(b.score - 0.9) < 1e-6);
});

test('dbBoxes keeps separate regions apart and clips growth at the map edge', () => {
  const map = probMap(100, 40, [
    { x: 0, y: 0, w: 30, h: 8, p: 0.8 },
    { x: 50, y: 20, w: 30, h: 8, p: 0.7 },
  ]);
  const boxes = dbBoxes(map, 100, 40).sort((a, b) => a.left - b.left);
  assert.equal(boxes.length, 2);
  assert.equal(boxes[0]?.left, 0);
  assert.equal(boxes[0]?.top, 0);
  assert.ok((boxes[1]?.left as number) > 40);
});

test('finds a rendered plate line and nothing on a blank image', async () => {
  const ctx = context();
  const at = { left: 140, top: 120, width: 180, height: 52 };
  const img = await toRawImage(
    sharp({ create: { width: 480, height: 320, channels: 3, background: '#7a8a99' } }).composite([{ input: plateSvg(at.width, at.height), left: at.left, top: at.top }]),
  );
  const boxes = await detectText(img, ctx);
  assert.ok(boxes.length >= 1, 'text found');
  // Every box lies on the plate, and together they span most of its width.
  for (const b of boxes) assert.ok(contains({ left: at.left - 8, top: at.top - 8, width: at.width + 16, height: at.height + 16 }, b), JSON.stringify(b));
  const span = Math.max(...boxes.map((b) => b.left + b.width)) - Math.min(...boxes.map((b) => b.left));
  assert.ok(span > at.width * 0.7, `span ${span}`);

  const blank = await toRawImage(sharp({ create: { width: 480, height: 320, channels: 3, background: '#7a8a99' } }));
  assert.equal((await detectText(blank, ctx)).length, 0);
});

test('a region search reports boxes in whole-image coordinates', async () => {
  const ctx = context();
  const img = await toRawImage(
    sharp({ create: { width: 900, height: 600, channels: 3, background: '#dddddd' } }).composite([{ input: plateSvg(150, 44), left: 600, top: 450 }]),
  );
  const region = { left: 500, top: 400, width: 400, height: 200 };
  const boxes = await detectText(img, ctx, { region, minSide: 480 });
  assert.ok(boxes.length >= 1);
  for (const b of boxes) assert.ok(contains({ left: 590, top: 440, width: 170, height: 64 }, b), JSON.stringify(b));
});
