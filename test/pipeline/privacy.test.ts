import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { toRawImage, type RawImage } from '../../src/pipeline/raw-image.js';
import {
  blurCarPlates,
  blurRegions,
  faceCutLine,
  findPlates,
  identityCrop,
  isPlateLike,
  mergeTextLines,
  mouthCutLine,
  plateBlurBox,
  plateSearchRegion,
} from '../../src/pipeline/privacy.js';
import { detectFaces } from '../../src/models/faces.js';
import { detectText } from '../../src/models/text-detector.js';
import { ImageError } from '../../src/errors.js';
import { carWithPlate, context, loadPhoto, overlaps, PLATE_AT } from '../models/vision-fixtures.js';

type Box = { left: number; top: number; width: number; height: number };

function inside(x: number, y: number, boxes: readonly Box[]): boolean {
  return boxes.some((b) => x >= b.left && x < b.left + b.width && y >= b.top && y < b.top + b.height);
}

/** Pixels that differ between two same-sized images, as [x, y] pairs (at most `limit`). */
function changedPixels(a: RawImage, b: RawImage, limit = Infinity): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < a.width * a.height && out.length < limit; i++) {
    for (let c = 0; c < a.channels; c++) {
      if (a.data[i * a.channels + c] !== b.data[i * a.channels + c]) {
        out.push([i % a.width, Math.floor(i / a.width)]);
        break;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Plate geometry

test('plateSearchRegion is the lower part of the vehicle, a little wider, inside the image', () => {
  const r = plateSearchRegion({ left: 100, top: 100, width: 200, height: 100 }, 1000, 1000);
  assert.deepEqual(r, { left: 90, top: 135, width: 220, height: 70 });
  const edge = plateSearchRegion({ left: 0, top: 0, width: 100, height: 100 }, 100, 100);
  assert.deepEqual(edge, { left: 0, top: 35, width: 100, height: 65 });
});

test('mergeTextLines joins words of one line and leaves other lines alone', () => {
  const merged = mergeTextLines([
    { left: 0, top: 10, width: 30, height: 20, score: 0.9 },
    { left: 40, top: 12, width: 50, height: 20, score: 0.8 },
    { left: 100, top: 11, width: 30, height: 19, score: 0.7 },
    { left: 0, top: 80, width: 60, height: 20, score: 0.9 }, // another line
    { left: 300, top: 10, width: 30, height: 20, score: 0.9 }, // far away on the same line
  ]);
  assert.equal(merged.length, 3);
  const first = merged.find((b) => b.top <= 12 && b.left === 0);
  assert.ok(first);
  assert.equal(first.width, 130);
  assert.equal(first.height, 22);
});

test('isPlateLike wants plate proportions in the lower part of the vehicle', () => {
  const car = { left: 0, top: 0, width: 600, height: 450 };
  assert.ok(isPlateLike({ left: 220, top: 240, width: 150, height: 33 }, car));
  assert.ok(!isPlateLike({ left: 220, top: 240, width: 40, height: 33 }, car), 'too square');
  assert.ok(!isPlateLike({ left: 100, top: 240, width: 400, height: 30 }, car), 'too long');
  assert.ok(!isPlateLike({ left: 220, top: 40, width: 150, height: 33 }, car), 'too high on the vehicle');
  assert.ok(!isPlateLike({ left: 620, top: 240, width: 150, height: 33 }, car), 'beside the vehicle');
  assert.ok(!isPlateLike({ left: 0, top: 240, width: 420, height: 80 }, car), 'too big for a plate');
});

test('plateBlurBox grows the text box to the plate border and stays in the image', () => {
  const b = plateBlurBox({ left: 100, top: 50, width: 100, height: 20 }, 1000, 1000);
  assert.ok(b.left < 100 - 5 && b.top < 50 - 5 && b.left + b.width > 205 && b.top + b.height > 75, JSON.stringify(b));
  assert.deepEqual(plateBlurBox({ left: 0, top: 0, width: 100, height: 20 }, 100, 20), { left: 0, top: 0, width: 100, height: 20 });
});

test('blurRegions changes only the boxes, keeps alpha, and flattens the text inside', async () => {
  const img = await toRawImage(
    sharp({ create: { width: 200, height: 120, channels: 4, background: { r: 200, g: 200, b: 200, alpha: 0.8 } } }).composite([
      { input: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><text x="4" y="32" font-size="32" font-family="DejaVu Sans">AB12</text></svg>'), left: 40, top: 40 },
    ]),
  );
  const box = { left: 36, top: 36, width: 128, height: 48 };
  const out = await blurRegions(img, [box]);
  assert.equal(out.data.length, img.data.length);
  let changedInside = 0;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const o = (y * img.width + x) * 4;
      assert.equal(out.data[o + 3], img.data[o + 3], 'alpha kept');
      const same = out.data[o] === img.data[o] && out.data[o + 1] === img.data[o + 1] && out.data[o + 2] === img.data[o + 2];
      if (!inside(x, y, [box])) assert.ok(same, `pixel ${x},${y} outside changed`);
      else if (!same) changedInside++;
    }
  }
  assert.ok(changedInside > 1000);
  // Inside, the glyphs' edges are gone: the sum of horizontal steps across the text rows collapses.
  const edges = (im: RawImage) => {
    let sum = 0;
    for (let y = 44; y < 76; y++) {
      for (let x = 45; x < 155; x++) {
        const o = (y * im.width + x) * 4;
        sum += Math.abs((im.data[o + 4] as number) - (im.data[o] as number));
      }
    }
    return sum;
  };
  assert.ok(edges(out) < edges(img) / 5, `${edges(img)} → ${edges(out)}`);
});

// ---------------------------------------------------------------------------------------------------------
// Plates on a real photo

test('blurs the rendered plate on the car: text no longer detected there, nothing else changed', async () => {
  const ctx = context();
  const img = await carWithPlate();
  const before = await detectText(img, ctx);
  assert.ok(before.some((b) => overlaps(b, PLATE_AT)), 'the detector reads the plate before blurring');

  const { plates, vehicles } = await findPlates(img, ctx);
  assert.ok(vehicles.length >= 1);
  assert.equal(plates.length, 1);
  const [plate] = plates;
  assert.ok(plate);
  // The blurred box covers the plate's glyphs (the plate rectangle minus its border).
  assert.ok(plate.left <= PLATE_AT.left + 6 && plate.left + plate.width >= PLATE_AT.left + PLATE_AT.width - 6, JSON.stringify(plate));
  assert.ok(plate.top <= PLATE_AT.top + 8 && plate.top + plate.height >= PLATE_AT.top + PLATE_AT.height - 8, JSON.stringify(plate));

  const out = await blurCarPlates(img, ctx);
  assert.equal(out.width, img.width);
  assert.equal(out.height, img.height);
  const after = await detectText(out, ctx);
  assert.ok(!after.some((b) => overlaps(b, PLATE_AT)), `text still found on the plate: ${JSON.stringify(after)}`);
  const changed = changedPixels(img, out);
  assert.ok(changed.length > 0.5 * PLATE_AT.width * PLATE_AT.height);
  for (const [x, y] of changed) assert.ok(inside(x, y, plates), `pixel ${x},${y} changed outside the plate`);
  const prof = ctx.profiling.blur_car_plate as { vehicles: number; plates: number; method: string };
  assert.equal(prof.plates, 1);
  assert.ok(prof.vehicles >= 1);
});

test('text that is not on a vehicle is left alone (messi5.jpg: shirt and watermark text)', async () => {
  const ctx = context();
  const img = await loadPhoto('messi5.jpg');
  assert.ok((await detectText(img, ctx)).length > 0, 'the photo does contain text');
  const out = await blurCarPlates(img, ctx);
  assert.equal(changedPixels(img, out, 1).length, 0);
  assert.equal((ctx.profiling.blur_car_plate as { vehicles: number }).vehicles, 0);
});

// ---------------------------------------------------------------------------------------------------------
// Identity crop

function face(mouthTopY: number, opts: { eyeY?: number; noseY?: number } = {}) {
  const landmarks = Array.from({ length: 68 }, (_, i) => {
    if (i >= 48) return { x: 50 + i, y: mouthTopY + (i % 5) }; // mouth: top at mouthTopY
    if (i >= 36) return { x: 40 + i, y: opts.eyeY ?? mouthTopY - 40 }; // eyes
    if (i >= 27) return { x: 60, y: opts.noseY ?? mouthTopY - 10 }; // nose
    if (i >= 17) return { x: 30 + i, y: mouthTopY - 50 }; // brows
    return { x: i * 5, y: mouthTopY + 20 }; // jaw (below)
  });
  return { landmarks };
}

test('faceCutLine is the top of the mouth, moved down below any eye or nose point of a tilted face', () => {
  assert.equal(faceCutLine(face(100)), 100);
  assert.equal(faceCutLine(face(100.4)), 101);
  // A tilted head with one nostril lower than the upper lip's peak.
  assert.equal(faceCutLine(face(100, { noseY: 103 })), 104);
  assert.throws(() => faceCutLine({ landmarks: [] }));
});

test('mouthCutLine takes the lowest face line so no face above it survives', () => {
  assert.equal(mouthCutLine([face(80), face(140), face(120)]), 140);
  assert.equal(mouthCutLine([]), 0);
});

test('identity crop on messi5.jpg cuts below the mouth line and leaves no face', async () => {
  const ctx = context();
  const img = await loadPhoto('messi5.jpg');
  const faces = await detectFaces(img, ctx);
  assert.equal(faces.length, 1);
  const mouthTop = Math.min(...(faces[0]?.landmarks.slice(48, 68).map((p) => p.y) ?? []));
  const noseTip = faces[0]?.landmarks[30]?.y as number;

  const out = await identityCrop(img, ctx);
  const cut = img.height - out.height;
  assert.equal(out.width, img.width);
  assert.ok(cut >= mouthTop, `cut ${cut} is below the mouth top ${mouthTop}`);
  assert.ok(cut > noseTip);
  // Not much more than the mouth line: the rest of the photo stays.
  assert.ok(cut <= mouthTop + 8, `cut ${cut}, mouth ${mouthTop}`);
  // The kept rows are the original rows, byte for byte.
  const rowBytes = img.width * img.channels;
  assert.ok(out.data.equals(img.data.subarray(cut * rowBytes)));
  assert.equal((await detectFaces(out, ctx)).length, 0, 'a face survived the crop');
  assert.equal((ctx.profiling.identity_crop as { cut_line: number }).cut_line, cut);
});

test('identity crop without a face answers a 422 image error', async () => {
  const ctx = context();
  const img = await loadPhoto('fruits.jpg');
  await assert.rejects(identityCrop(img, ctx), (err: unknown) => {
    assert.ok(err instanceof ImageError);
    assert.equal(err.status, 422);
    assert.equal(err.type, 'image');
    assert.equal(err.code, 'no_face_found');
    return true;
  });
});
