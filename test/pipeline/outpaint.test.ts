import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { toRawImage, type RawImage } from '../../src/pipeline/raw-image.js';
import {
  mirrorWeight,
  outpaint,
  parseFeathering,
  parseOutpaintBy,
  planOutpaint,
  reflect,
  DEFAULT_FEATHERING,
} from '../../src/pipeline/outpaint.js';
import { ValidationError } from '../../src/errors.js';
import { context, loadPhoto } from '../models/vision-fixtures.js';

const LIMITS = { maxOutputSide: 16_384, maxOutputPixels: 100_000_000 };

test('parseFeathering: percentages as fractions, capped at the whole margin, 15% by default', () => {
  assert.equal(parseFeathering(undefined), DEFAULT_FEATHERING);
  assert.equal(parseFeathering('0%'), 0);
  assert.equal(parseFeathering('60%'), 0.6);
  assert.equal(parseFeathering('200%'), 1);
  for (const bad of ['15', '1.5%', '-5%', 15, 'abc']) {
    assert.throws(() => parseFeathering(bad), (e: unknown) => e instanceof ValidationError && e.details.field === 'operations.resizing.fit.feathering');
  }
});

test('parseOutpaintBy: one value for both axes or width then height, pixels or percentages', () => {
  assert.deepEqual(parseOutpaintBy('10%'), { x: { unit: 'percent', value: 10 }, y: { unit: 'percent', value: 10 } });
  assert.deepEqual(parseOutpaintBy('5% 15%'), { x: { unit: 'percent', value: 5 }, y: { unit: 'percent', value: 15 } });
  assert.deepEqual(parseOutpaintBy('1024px 512px'), { x: { unit: 'px', value: 1024 }, y: { unit: 'px', value: 512 } });
  assert.deepEqual(parseOutpaintBy('0px 1024px'), { x: { unit: 'px', value: 0 }, y: { unit: 'px', value: 1024 } });
  assert.deepEqual(parseOutpaintBy(' 5%  0% '), { x: { unit: 'percent', value: 5 }, y: { unit: 'percent', value: 0 } });
  for (const bad of ['', '10', '10% 10% 10%', '1.5px', '-10%', '10 %', 10]) {
    assert.throws(() => parseOutpaintBy(bad), (e: unknown) => e instanceof ValidationError && e.details.field === 'operations.resizing.fit.outpaint_by');
  }
});

test('planOutpaint: outpaint_by adds around the image, half on each side', () => {
  const p = planOutpaint({ width: 1000, height: 500 }, { fit: { type: 'outpaint', outpaint_by: '10%' } }, LIMITS);
  assert.deepEqual(p.canvas, { width: 1100, height: 550, left: 50, top: 25 });
  assert.deepEqual(p.output, { width: 1100, height: 550 });
  assert.equal(p.feathering, 0.15);
  const q = planOutpaint({ width: 1000, height: 500 }, { fit: { type: 'outpaint', outpaint_by: '1024px 0px', feathering: '40%' } });
  assert.deepEqual(q.canvas, { width: 2024, height: 500, left: 512, top: 0 });
  assert.equal(q.feathering, 0.4);
  const odd = planOutpaint({ width: 100, height: 100 }, { fit: { type: 'outpaint', outpaint_by: '5px' } });
  assert.deepEqual(odd.canvas, { width: 105, height: 105, left: 2, top: 2 });
});

test('planOutpaint: without outpaint_by, width and height extend in one direction only', () => {
  // Wider target: extend left and right.
  const wide = planOutpaint({ width: 800, height: 600 }, { width: 1600, height: 900, fit: 'outpaint' });
  assert.deepEqual(wide.canvas, { width: 1067, height: 600, left: 133, top: 0 });
  assert.deepEqual(wide.output, { width: 1600, height: 900 });
  // Taller target: extend top and bottom.
  const tall = planOutpaint({ width: 800, height: 600 }, { width: 400, height: 600, fit: { type: 'outpaint' } });
  assert.deepEqual(tall.canvas, { width: 800, height: 1200, left: 0, top: 300 });
  assert.deepEqual(tall.output, { width: 400, height: 600 });
  // Same aspect: nothing to add, only scaling.
  const same = planOutpaint({ width: 800, height: 600 }, { width: 400, height: 300, fit: 'outpaint' });
  assert.deepEqual(same.canvas, { width: 800, height: 600, left: 0, top: 0 });
});

test('planOutpaint: outpaint_by then the target aspect; single sides and percentages scale the canvas', () => {
  const both = planOutpaint({ width: 1000, height: 1000 }, { width: 2000, height: 1000, fit: { type: 'outpaint', outpaint_by: '10%' } });
  assert.deepEqual(both.canvas, { width: 2200, height: 1100, left: 600, top: 50 });
  assert.deepEqual(both.output, { width: 2000, height: 1000 });
  const w = planOutpaint({ width: 1000, height: 500 }, { width: 550, fit: { type: 'outpaint', outpaint_by: '10%' } });
  assert.deepEqual(w.output, { width: 550, height: 275 });
  const pct = planOutpaint({ width: 1000, height: 500 }, { width: '50%', height: '50%', fit: { type: 'outpaint', outpaint_by: '0% 100%' } });
  assert.deepEqual(pct.canvas, { width: 1000, height: 1000, left: 0, top: 250 });
  assert.deepEqual(pct.output, { width: 500, height: 500 });
  const none = planOutpaint({ width: 640, height: 480 }, { fit: 'outpaint' });
  assert.deepEqual(none.canvas, { width: 640, height: 480, left: 0, top: 0 });
});

test('planOutpaint enforces the output limits', () => {
  assert.throws(
    () => planOutpaint({ width: 10_000, height: 10_000 }, { fit: { type: 'outpaint', outpaint_by: '10000px' } }, LIMITS),
    (e: unknown) => e instanceof ValidationError && e.code === 'output_too_large',
  );
});

test('reflect and mirrorWeight', () => {
  assert.equal(reflect(9, 10, 19), 10);
  assert.equal(reflect(5, 10, 19), 14);
  assert.equal(reflect(20, 10, 19), 19);
  assert.equal(reflect(25, 10, 19), 14);
  assert.equal(reflect(-100, 10, 19), 19, 'clamped when the margin is wider than the image');
  assert.equal(reflect(15, 10, 19), 15);
  assert.equal(mirrorWeight(0, 0, 10, 10), 1);
  assert.equal(mirrorWeight(5, 0, 10, 10), 0.5);
  assert.equal(mirrorWeight(10, 0, 10, 10), 0);
  assert.equal(mirrorWeight(5, 5, 10, 10), 0.25);
  assert.equal(mirrorWeight(1, 0, 0, 10), 0, 'no feathering: fill only');
});

function meanColour(img: RawImage, x0: number, y0: number, x1: number, y1: number): number[] {
  const sum = [0, 0, 0];
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) for (let c = 0; c < 3; c++) sum[c] = (sum[c] as number) + (img.data[(y * img.width + x) * img.channels + c] as number);
  const n = (x1 - x0) * (y1 - y0);
  return sum.map((s) => s / n);
}

function colourDistance(a: number[], b: number[]): number {
  return Math.hypot(...a.map((v, i) => v - (b[i] as number)));
}

/** Mean absolute step between neighbouring columns x-1 and x over rows y0..y1 (luminance-ish, channel 1). */
function columnStep(img: RawImage, x: number, y0: number, y1: number): number {
  let s = 0;
  for (let y = y0; y < y1; y++) s += Math.abs((img.data[(y * img.width + x) * img.channels + 1] as number) - (img.data[(y * img.width + x - 1) * img.channels + 1] as number));
  return s / (y1 - y0);
}

test('outpaint: exact size, original in place, the new strips continue the edge colours without a seam', async () => {
  const ctx = context();
  const img = await loadPhoto('messi5.jpg');
  const plan = planOutpaint(img, { width: 1000, height: 400, fit: { type: 'outpaint', feathering: '30%' } });
  const { image, method } = await outpaint(img, plan.canvas, plan.feathering, ctx);
  assert.equal(method, 'opencv-telea');
  assert.equal(image.width, plan.canvas.width);
  assert.equal(image.height, plan.canvas.height);
  assert.equal(image.channels, img.channels);
  const { left, top } = plan.canvas;
  assert.ok(left > 50 && top === 0);
  for (let y = 0; y < img.height; y++) {
    const a = img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3);
    const b = image.data.subarray(((y + top) * image.width + left) * 3, ((y + top) * image.width + left + img.width) * 3);
    assert.ok(a.equals(b), `row ${y} changed`);
  }
  // Each band of rows: the new strip's mean colour is close to the original strip beside it.
  const band = 40;
  for (let y = 0; y + band <= img.height; y += band) {
    const strip = Math.min(30, left);
    const newLeft = meanColour(image, left - strip, y, left, y + band);
    const oldLeft = meanColour(image, left, y, left + strip, y + band);
    assert.ok(colourDistance(newLeft, oldLeft) < 40, `left rows ${y}: ${newLeft} vs ${oldLeft}`);
    const x1 = left + img.width;
    const newRight = meanColour(image, x1, y, x1 + strip, y + band);
    const oldRight = meanColour(image, x1 - strip, y, x1, y + band);
    assert.ok(colourDistance(newRight, oldRight) < 40, `right rows ${y}: ${newRight} vs ${oldRight}`);
  }
  // No hard seam: the step across the seam is no larger than the image's own column-to-column steps nearby.
  const inner = (columnStep(image, left + 5, 0, img.height) + columnStep(image, left + 6, 0, img.height)) / 2;
  assert.ok(columnStep(image, left, 0, img.height) <= inner * 1.5 + 2, `seam ${columnStep(image, left, 0, img.height)} vs ${inner}`);
  const x1 = left + img.width;
  const innerRight = (columnStep(image, x1 - 5, 0, img.height) + columnStep(image, x1 - 6, 0, img.height)) / 2;
  assert.ok(columnStep(image, x1, 0, img.height) <= innerRight * 1.5 + 2);
  assert.equal((ctx.profiling.outpaint as { method: string }).method, 'opencv-telea');
});

test('outpaint on all four sides of a gradient keeps alpha and extends the gradient', async () => {
  const ctx = context();
  // A horizontal red gradient, half-transparent.
  const w = 200;
  const h = 100;
  const data = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set([Math.round((x * 255) / (w - 1)), 60, 90, 128], (y * w + x) * 4);
  const img: RawImage = { data, width: w, height: h, channels: 4 };
  const plan = planOutpaint(img, { fit: { type: 'outpaint', outpaint_by: '50%' } });
  assert.deepEqual(plan.canvas, { width: 300, height: 150, left: 50, top: 25 });
  const { image } = await outpaint(img, plan.canvas, plan.feathering, ctx);
  assert.equal(image.channels, 4);
  assert.equal(image.width, 300);
  assert.equal(image.height, 150);
  // Left margin is dark red like the left edge, right margin bright like the right edge; alpha continues.
  const px = (x: number, y: number) => Array.from(image.data.subarray((y * 300 + x) * 4, (y * 300 + x) * 4 + 4));
  assert.ok((px(10, 75)[0] as number) < 60, `left ${px(10, 75)}`);
  assert.ok((px(290, 75)[0] as number) > 195, `right ${px(290, 75)}`);
  assert.ok(Math.abs((px(150, 5)[0] as number) - 128) < 40, `top middle ${px(150, 5)}`);
  for (const [x, y] of [[5, 5], [150, 145], [295, 75]] as const) assert.ok(Math.abs((px(x, y)[3] as number) - 128) <= 3, `alpha at ${x},${y}: ${px(x, y)}`);
  // The original is in place.
  assert.deepEqual(px(50, 25), [0, 60, 90, 128]);
  assert.deepEqual(px(249, 124), [255, 60, 90, 128]);
});

test('outpaint with nothing to add returns the image unchanged', async () => {
  const img = await toRawImage(sharp({ create: { width: 20, height: 10, channels: 3, background: '#123456' } }));
  const res = await outpaint(img, { width: 20, height: 10, left: 0, top: 0 }, 0.15, context());
  assert.equal(res.method, 'none');
  assert.equal(res.image, img);
  await assert.rejects(outpaint(img, { width: 20, height: 10, left: 1, top: 0 }, 0.15, context()));
});
