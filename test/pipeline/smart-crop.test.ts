import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { toRawImage } from '../../src/pipeline/raw-image.js';
import {
  addBoxMass,
  bestWindow,
  chooseWindow,
  cropWindowSize,
  headBox,
  importanceMap,
  saliencyMap,
  smartCropBox,
} from '../../src/pipeline/smart-crop.js';
import { detectFaceBoxes } from '../../src/models/faces.js';
import { ModelRegistry } from '../../src/models/registry.js';
import { FACE_DETECTOR } from '../../src/models/faces.js';
import { context, contains, loadPhoto } from '../models/vision-fixtures.js';

test('cropWindowSize is the largest box of the target aspect inside the image', () => {
  assert.deepEqual(cropWindowSize({ width: 548, height: 342 }, { width: 400, height: 100 }), { width: 548, height: 137 });
  assert.deepEqual(cropWindowSize({ width: 548, height: 342 }, { width: 100, height: 300 }), { width: 114, height: 342 });
  assert.deepEqual(cropWindowSize({ width: 548, height: 342 }, { width: 1, height: 1 }), { width: 342, height: 342 });
  assert.deepEqual(cropWindowSize({ width: 300, height: 200 }, { width: 600, height: 400 }), { width: 300, height: 200 });
});

test('bestWindow covers the most mass and prefers the centre on ties', () => {
  const profile = new Float64Array(100);
  for (let i = 10; i < 20; i++) profile[i] = 1;
  // Offsets 0..10 all cover the mass; 10 is nearest the centre (35).
  assert.equal(bestWindow(profile, 30), 10);
  for (let i = 0; i < 100; i++) profile[i] = 0;
  for (let i = 80; i < 90; i++) profile[i] = 1;
  assert.equal(bestWindow(profile, 30), 60);
  // Flat: centre.
  assert.equal(bestWindow(new Float64Array(100), 30), 35);
  assert.equal(bestWindow(new Float64Array(10), 30), 0);
});

test('addBoxMass spreads the mass over the box, fractional edges by area', () => {
  const map = new Float32Array(10 * 10);
  addBoxMass(map, 10, 10, { left: 2.5, top: 2, width: 4, height: 2 }, 8);
  let total = 0;
  for (const v of map) total += v;
  assert.ok(Math.abs(total - 8) < 1e-5);
  assert.ok(Math.abs((map[2 * 10 + 2] as number) - 0.5) < 1e-6, 'half-covered pixel gets half');
  assert.ok(Math.abs((map[2 * 10 + 3] as number) - 1) < 1e-6);
  // Clipped to the map.
  const clipped = new Float32Array(4);
  addBoxMass(clipped, 2, 2, { left: -2, top: -2, width: 4, height: 4 }, 4);
  assert.deepEqual(Array.from(clipped), [1, 1, 1, 1]);
});

test('headBox adds hair above and some space around the face box', () => {
  const h = headBox({ left: 100, top: 100, width: 40, height: 50 });
  assert.ok(h.left < 100 && h.top < 100 - 15 && h.left + h.width > 140 && h.top + h.height > 150);
});

test('saliency is higher on a saturated, textured object than on a flat grey background', async () => {
  const w = 120;
  const h = 60;
  const img = await sharp({ create: { width: w, height: h, channels: 3, background: '#808080' } })
    .composite([{ input: await sharp({ create: { width: 20, height: 20, channels: 3, background: '#e02020' } }).png().toBuffer(), left: 90, top: 20 }])
    .removeAlpha()
    .raw()
    .toBuffer();
  const map = saliencyMap(img, w, h, 3);
  let object = 0;
  let background = 0;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) (x >= 88 && x < 112 ? (object += map[y * w + x] as number) : (background += map[y * w + x] as number));
  assert.ok(object > 10 * background, `${object} vs ${background}`);
  const pos = chooseWindow(map, w, h, 'x', 40);
  assert.ok(pos.left <= 90 && pos.left + 40 >= 110, JSON.stringify(pos));
});

test('importance: a face outweighs any amount of texture', () => {
  const w = 100;
  const h = 20;
  const saliency = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < 40; x++) saliency[y * w + x] = 1; // busy left side
  const map = importanceMap({ saliency, width: w, height: h, faces: [{ box: { left: 80, top: 5, width: 8, height: 8 }, score: 0.9 }] });
  const pos = chooseWindow(map, w, h, 'x', 30);
  assert.ok(pos.left <= 78 && pos.left + 30 >= 90, JSON.stringify(pos));
});

test('smart crop keeps the face in messi5.jpg where a centre crop cuts it', async () => {
  const ctx = context();
  const img = await loadPhoto('messi5.jpg');
  const [face] = await detectFaceBoxes(img, ctx);
  assert.ok(face, 'the detector finds the face first');
  const target = { width: 400, height: 100 };
  const box = await smartCropBox(img, target, ctx);
  assert.deepEqual({ width: box.width, height: box.height }, cropWindowSize(img, target));
  const centre = { left: 0, top: Math.floor((img.height - box.height) / 2), width: box.width, height: box.height };
  assert.ok(!contains(centre, face.box), 'the centre crop would cut the face');
  assert.ok(contains(box, face.box), `face ${JSON.stringify(face.box)} not in ${JSON.stringify(box)}`);
  assert.ok(box.top >= 0 && box.top + box.height <= img.height);

  // A tall crop too: the window moves to the player.
  const tall = await smartCropBox(img, { width: 100, height: 300 }, ctx);
  assert.ok(contains(tall, face.box), JSON.stringify(tall));
  assert.equal((ctx.profiling.smart_crop as { faces: number }).faces, 1);
});

test('a featureless image is cropped in the centre; a full-size target returns the whole image', async () => {
  const ctx = context();
  const flat = await toRawImage(sharp({ create: { width: 400, height: 200, channels: 3, background: '#336699' } }));
  assert.deepEqual(await smartCropBox(flat, { width: 1, height: 1 }, ctx), { left: 100, top: 0, width: 200, height: 200 });
  assert.deepEqual(await smartCropBox(flat, { width: 800, height: 400 }, ctx), { left: 0, top: 0, width: 400, height: 200 });
});

test('without the face model, smart crop still follows saliency and says so', async () => {
  const registry = new ModelRegistry();
  registry.register({ ...FACE_DETECTOR, package: '@atelier/not-installed-anywhere' }, async () => {
    throw new Error('unreachable');
  });
  const ctx = { models: registry, profiling: {} as Record<string, unknown> };
  const img = await toRawImage(
    sharp({ create: { width: 300, height: 100, channels: 3, background: '#777777' } }).composite([
      { input: await sharp({ create: { width: 30, height: 30, channels: 3, background: '#10d010' } }).png().toBuffer(), left: 250, top: 35 },
    ]),
  );
  const box = await smartCropBox(img, { width: 1, height: 1 }, ctx);
  assert.ok(box.left + box.width >= 280, JSON.stringify(box));
  assert.equal((ctx.profiling.smart_crop as { faces: string }).faces, 'model_not_installed');
});
