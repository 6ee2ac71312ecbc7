import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { toRawImage } from '../../src/pipeline/raw-image.js';
import { clampBox, detectFaceBoxes, detectFaces, fitLongSide, readWeightMap, FACE_DETECTOR } from '../../src/models/faces.js';
import { models } from '../../src/models/registry.js';
import { context, loadPhoto } from './vision-fixtures.js';

test('fitLongSide scales the long side down to the limit and never up', () => {
  assert.deepEqual(fitLongSide({ width: 1024, height: 512 }, 512), { width: 512, height: 256, scale: 0.5 });
  assert.deepEqual(fitLongSide({ width: 300, height: 400 }, 512), { width: 300, height: 400, scale: 1 });
});

test('clampBox rounds outwards and clips to the image', () => {
  assert.deepEqual(clampBox({ left: -3.5, top: 2.2, width: 10, height: 5.1 }, 100, 100), { left: 0, top: 2, width: 7, height: 6 });
  assert.equal(clampBox({ left: 120, top: 0, width: 10, height: 10 }, 100, 100), null);
});

test('the SSD weights decode to the shapes their manifest declares', async () => {
  const files = models.files(FACE_DETECTOR.id);
  const map = await readWeightMap(files.files[0] as string);
  const w = map['Prediction/BoxPredictor_0/ClassPredictor/weights'];
  assert.ok(w);
  assert.deepEqual(w.shape, [1, 1, 512, 9]);
  for (const t of Object.values(map)) t.dispose();
});

test('finds the face in messi5.jpg with 68 landmarks in anatomical order', async () => {
  const img = await loadPhoto('messi5.jpg');
  const faces = await detectFaces(img, context());
  assert.equal(faces.length, 1);
  const [face] = faces;
  assert.ok(face);
  // The player's head is at about x 225–258, y 83–132 in this 548×342 photo.
  assert.ok(Math.abs(face.box.left - 225) <= 8 && Math.abs(face.box.top - 83) <= 8, JSON.stringify(face.box));
  assert.ok(face.box.width > 20 && face.box.width < 50 && face.box.height > 30 && face.box.height < 70, JSON.stringify(face.box));
  assert.ok(face.score > 0.6);
  assert.equal(face.landmarks.length, 68);
  const meanY = (from: number, to: number) => face.landmarks.slice(from, to + 1).reduce((s, p) => s + p.y, 0) / (to - from + 1);
  // Brows above eyes above the nose tip above the mouth above the chin.
  assert.ok(meanY(17, 26) < meanY(36, 47));
  assert.ok(meanY(36, 47) < meanY(30, 30));
  assert.ok(meanY(30, 30) < meanY(48, 67));
  assert.ok(meanY(48, 67) < (face.landmarks[8] as { y: number }).y);
  for (const p of face.landmarks) {
    assert.ok(p.x > face.box.left - 10 && p.x < face.box.left + face.box.width + 10);
    assert.ok(p.y > face.box.top - 10 && p.y < face.box.top + face.box.height + 10);
  }
});

test('face boxes come back in the coordinates of a large input', async () => {
  const small = await loadPhoto('messi5.jpg');
  const big = await loadPhoto('messi5.jpg', (s) => s.resize(548 * 3, 342 * 3));
  const ctx = context();
  const [a] = await detectFaceBoxes(small, ctx);
  const [b] = await detectFaceBoxes(big, ctx);
  assert.ok(a && b);
  assert.ok(Math.abs(b.box.left - a.box.left * 3) <= 9, `${b.box.left} vs ${a.box.left * 3}`);
  assert.ok(Math.abs(b.box.top - a.box.top * 3) <= 9, `${b.box.top} vs ${a.box.top * 3}`);
  assert.ok(Math.abs(b.box.width - a.box.width * 3) <= 12);
});

test('no face on a photo of fruit or on a flat image, and alpha inputs are accepted', async () => {
  const ctx = context();
  assert.equal((await detectFaces(await loadPhoto('fruits.jpg'), ctx)).length, 0);
  const flat = await toRawImage(sharp({ create: { width: 300, height: 200, channels: 4, background: { r: 90, g: 120, b: 200, alpha: 0.5 } } }));
  assert.equal(flat.channels, 4);
  assert.equal((await detectFaces(flat, ctx)).length, 0);
});
