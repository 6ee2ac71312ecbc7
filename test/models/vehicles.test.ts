import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeCenternet, detectObjects, detectVehicles, iou, nms, COCO_LABELS } from '../../src/models/vehicles.js';
import { context, loadPhoto } from './vision-fixtures.js';

test('COCO label table has the 80 classes in the network order', () => {
  assert.equal(COCO_LABELS.length, 80);
  assert.equal(COCO_LABELS[2], 'car');
  assert.equal(COCO_LABELS[7], 'truck');
  assert.equal(COCO_LABELS[79], 'toothbrush');
});

test('iou and per-label nms', () => {
  const a = { left: 0, top: 0, width: 10, height: 10 };
  assert.equal(iou(a, a), 1);
  assert.equal(iou(a, { left: 20, top: 0, width: 10, height: 10 }), 0);
  assert.ok(Math.abs(iou(a, { left: 5, top: 0, width: 10, height: 10 }) - 50 / 150) < 1e-12);
  const kept = nms(
    [
      { label: 'car', score: 0.5, box: { left: 1, top: 0, width: 10, height: 10 } },
      { label: 'car', score: 0.9, box: a },
      { label: 'truck', score: 0.4, box: a },
      { label: 'car', score: 0.3, box: { left: 50, top: 50, width: 10, height: 10 } },
    ],
    0.4,
  );
  assert.deepEqual(
    kept.map((k) => [k.label, k.score]),
    [['car', 0.9], ['truck', 0.4], ['car', 0.3]],
  );
});

test('decodeCenternet maps input-pixel corners to the image and drops low scores', () => {
  const rows = [
    [128, 256, 384, 512, 0.8, 2],
    [0, 0, 10, 10, 0.1, 2],
    [-5, 0, 600, 100, 0.5, 0],
  ];
  const dets = decodeCenternet(rows, 1024, 256, 0.2);
  assert.equal(dets.length, 2);
  assert.deepEqual(dets[0], { label: 'car', score: 0.8, box: { left: 256, top: 128, width: 512, height: 128 } });
  // Clipped to the image.
  assert.deepEqual(dets[1]?.box, { left: 0, top: 0, width: 1024, height: 50 });
});

test('finds the car in licenseplate_motion.jpg and none in messi5.jpg', async () => {
  const ctx = context();
  const car = await loadPhoto('licenseplate_motion.jpg');
  const vehicles = await detectVehicles(car, ctx);
  assert.ok(vehicles.length >= 1);
  const best = vehicles[0];
  assert.ok(best);
  assert.equal(best.label, 'car');
  // The car fills most of the frame; its (blurred) plate is at about (295, 260).
  assert.ok(best.box.width > 0.6 * car.width && best.box.height > 0.5 * car.height, JSON.stringify(best.box));
  assert.ok(best.box.left < 295 && best.box.left + best.box.width > 295 && best.box.top < 260 && best.box.top + best.box.height > 260);

  const messi = await loadPhoto('messi5.jpg');
  assert.equal((await detectVehicles(messi, ctx)).length, 0);
  // The same photo has a person and a ball: the detector does see objects there.
  const labels = (await detectObjects(messi, ctx, { minScore: 0.4 })).map((d) => d.label);
  assert.ok(labels.includes('person'), labels.join(','));
  assert.ok(labels.includes('sports ball'), labels.join(','));
});
