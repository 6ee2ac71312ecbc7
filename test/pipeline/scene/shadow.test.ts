// Shadow geometry from the object's alpha: where the shadow lies for each view, how it fades, and how it
// ends up in a transparent PNG's alpha.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import type { Size } from '../../../src/pipeline/geometry.js';
import { applyShadow, compositeOver, emptyLayer, type ObjectLayer } from '../../../src/pipeline/scene/layers.js';
import type { Box } from '../../../src/pipeline/scene/placement.js';
import { chooseView, projectOnGround, renderShadow, shadowRegion, shadowStyle, shiftPlane } from '../../../src/pipeline/scene/shadow.js';

const SIZE: Size = { width: 600, height: 600 };

/** An opaque rectangle (a box or bottle seen from the front) as an alpha plane. */
function rectangle(box: Box, size = SIZE): Uint8Array {
  const a = new Uint8Array(size.width * size.height);
  for (let y = box.top; y < box.top + box.height; y++) a.fill(255, y * size.width + box.left, y * size.width + box.left + box.width);
  return a;
}

function disk(cx: number, cy: number, r: number, size = SIZE): Uint8Array {
  const a = new Uint8Array(size.width * size.height);
  for (let y = 0; y < size.height; y++) {
    for (let x = 0; x < size.width; x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) a[y * size.width + x] = 255;
  }
  return a;
}

/** Centroid of the shadow where it is visible (outside the object). */
function visibleCentroid(mask: Uint8Array, alpha: Uint8Array, size = SIZE): { x: number; y: number; mass: number } {
  let sx = 0;
  let sy = 0;
  let m = 0;
  for (let y = 0; y < size.height; y++) {
    for (let x = 0; x < size.width; x++) {
      const p = y * size.width + x;
      if (alpha[p]) continue;
      const v = mask[p] as number;
      sx += x * v;
      sy += y * v;
      m += v;
    }
  }
  return { x: sx / m, y: sy / m, mass: m };
}

const at = (plane: Uint8Array, x: number, y: number, size = SIZE) => plane[y * size.width + x] as number;

const BOX: Box = { left: 250, top: 150, width: 100, height: 300 };
const BASE = BOX.top + BOX.height - 1;

describe('front view', () => {
  it('lies on the ground below the base line, fades out, and casts nothing above the object', async () => {
    const alpha = rectangle(BOX);
    for (let variant = 0; variant < 4; variant++) {
      const mask = await renderShadow(alpha, SIZE, BOX, shadowStyle('front', variant));
      const c = visibleCentroid(mask, alpha);
      assert.ok(c.mass > 0, 'there is a shadow');
      assert.ok(c.y > BASE, `variant ${variant}: centroid ${c.y.toFixed(1)} below the base ${BASE}`);
      for (let y = 0; y < BOX.top - 10; y++) for (let x = 0; x < SIZE.width; x++) assert.equal(at(mask, x, y), 0, `nothing above the object at ${x},${y}`);
      assert.ok(at(mask, 300, BASE + 3) > 80, `dark contact just under the base: ${at(mask, 300, BASE + 3)}`);
      // The cast shadow is at most ~0.3 of the object's height long, plus its blur.
      for (let x = 0; x < SIZE.width; x++) assert.equal(at(mask, x, BASE + 140), 0, `faded out far below at x ${x}`);
    }
  });

  it('leans with the light: right for variant 0, left for variant 1', async () => {
    const alpha = rectangle(BOX);
    const right = visibleCentroid(await renderShadow(alpha, SIZE, BOX, shadowStyle('front', 0)), alpha);
    const left = visibleCentroid(await renderShadow(alpha, SIZE, BOX, shadowStyle('front', 1)), alpha);
    const centre = BOX.left + BOX.width / 2;
    assert.ok(right.x > centre + 2, `${right.x} right of ${centre}`);
    assert.ok(left.x < centre - 2, `${left.x} left of ${centre}`);
  });

  it('projects the flipped silhouette, squashed, strongest at the base', () => {
    // One 1-pixel column 100 high; reach 100 rows into 20 ground rows, no fade.
    const size = { width: 10, height: 200 };
    const alpha = rectangle({ left: 5, top: 50, width: 1, height: 100 }, size);
    const out = projectOnGround(alpha, size, { left: 5, top: 50, width: 1, height: 100 }, 100, 20, 0, () => 1);
    for (let d = 0; d < 20; d++) assert.equal(at(out, 5, 149 + d, size), 255, `row ${d}`);
    assert.equal(at(out, 5, 169, size), 0);
    const faded = projectOnGround(alpha, size, { left: 5, top: 50, width: 1, height: 100 }, 100, 20, 0, (t) => 1 - t);
    assert.ok(at(faded, 5, 149, size) > at(faded, 5, 159, size) && at(faded, 5, 159, size) > at(faded, 5, 168, size));
    // A skew of 0.5 moves the far end of the shadow 0.5 px per row.
    const skewed = projectOnGround(alpha, size, { left: 5, top: 50, width: 1, height: 100 }, 100, 8, 0.5, () => 1);
    assert.equal(at(skewed, 5 + 4, 149 + 7, size), 255);
  });

  it('gives no contact shadow under parts that do not reach the ground', async () => {
    // Two legs at the ends touch the ground; the body between them floats 60 px above it.
    const alpha = rectangle({ left: 200, top: 200, width: 200, height: 140 });
    alpha.set(rectangle({ left: 200, top: 340, width: 20, height: 60 }).subarray(340 * 600, 400 * 600), 340 * 600);
    for (let y = 340; y < 400; y++) alpha.fill(255, y * 600 + 380, y * 600 + 400);
    const bounds = { left: 200, top: 200, width: 200, height: 200 };
    const mask = await renderShadow(alpha, SIZE, bounds, shadowStyle('front', 2));
    assert.ok(at(mask, 210, 401) > 2 * at(mask, 300, 401), `under a leg ${at(mask, 210, 401)} vs between ${at(mask, 300, 401)}`);
  });
});

describe('top view', () => {
  it('surrounds the object on all sides, offset away from the light, and is 0 far away', async () => {
    const alpha = rectangle(BOX);
    const mask = await renderShadow(alpha, SIZE, BOX, shadowStyle('top', 0));
    const midY = BOX.top + BOX.height / 2;
    const midX = BOX.left + BOX.width / 2;
    for (const [x, y, side] of [
      [BOX.left - 2, midY, 'left'],
      [BOX.left + BOX.width + 1, midY, 'right'],
      [midX, BOX.top - 2, 'top'],
      [midX, BASE + 2, 'bottom'],
    ] as const) {
      assert.ok(at(mask, x, y) > 20, `${side}: ${at(mask, x, y)}`);
    }
    for (const [x, y] of [
      [5, 5],
      [595, 595],
      [BOX.left - 120, midY],
      [BOX.left + BOX.width + 120, midY],
    ] as const) {
      assert.equal(at(mask, x, y), 0, `far away at ${x},${y}`);
    }
    const c = visibleCentroid(mask, alpha);
    assert.ok(c.x > midX && c.y > midY, `offset down-right: ${c.x.toFixed(1)},${c.y.toFixed(1)}`);
  });

  it('shiftPlane moves content and fills with 0', () => {
    const size = { width: 4, height: 3 };
    const plane = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    assert.deepEqual([...shiftPlane(plane, size, 1, 1)], [0, 0, 0, 0, 0, 1, 2, 3, 0, 5, 6, 7]);
    assert.deepEqual([...shiftPlane(plane, size, -2, 0)], [3, 4, 0, 0, 7, 8, 0, 0, 11, 12, 0, 0]);
  });
});

describe('shadow region', () => {
  it('holds the whole shadow: the mask has died out before the edges of the region', async () => {
    const alpha = rectangle(BOX);
    for (const view of ['front', 'top'] as const) {
      for (let variant = 0; variant < 4; variant++) {
        const style = shadowStyle(view, variant);
        const region = shadowRegion(BOX, SIZE, style);
        const mask = await renderShadow(alpha, SIZE, BOX, style);
        for (let x = region.left; x < region.left + region.width; x++) {
          if (region.top > 0) assert.equal(at(mask, x, region.top), 0, `${view} ${variant}: top edge`);
          if (region.top + region.height < SIZE.height) assert.equal(at(mask, x, region.top + region.height - 1), 0, `${view} ${variant}: bottom edge`);
        }
        for (let y = region.top; y < region.top + region.height; y++) {
          assert.equal(at(mask, region.left, y), 0, `${view} ${variant}: left edge`);
          assert.equal(at(mask, region.left + region.width - 1, y), 0, `${view} ${variant}: right edge`);
        }
      }
    }
  });
});

describe('auto view', () => {
  it('picks front for an object standing on a flat base and top for a round outline', () => {
    assert.equal(chooseView(rectangle(BOX), SIZE, BOX), 'front');
    assert.equal(chooseView(disk(300, 300, 150), SIZE, { left: 150, top: 150, width: 301, height: 301 }), 'top');
  });
});

describe('transparent background', () => {
  it('keeps the shadow as soft alpha in the PNG: between 0 and 255 below the object, 0 far away', async () => {
    const alpha = rectangle(BOX);
    const object: ObjectLayer = { ...emptyLayer(SIZE), bounds: BOX };
    for (let p = 0; p < alpha.length; p++) {
      if (!alpha[p]) continue;
      object.data[p * 4] = 200;
      object.data[p * 4 + 1] = 40;
      object.data[p * 4 + 2] = 40;
      object.data[p * 4 + 3] = 255;
    }
    const canvas = emptyLayer(SIZE);
    applyShadow(canvas, await renderShadow(alpha, SIZE, BOX, shadowStyle('front', 0)));
    compositeOver(canvas, object);
    const png = await sharp(canvas.data, { raw: { width: SIZE.width, height: SIZE.height, channels: 4 } }).png().toBuffer();
    const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    const a = (x: number, y: number) => data[(y * SIZE.width + x) * 4 + 3] as number;
    const rgb = (x: number, y: number) => Array.from(data.subarray((y * SIZE.width + x) * 4, (y * SIZE.width + x) * 4 + 3));
    for (const d of [2, 10, 30]) {
      const v = a(300, BASE + d);
      assert.ok(v > 0 && v < 255, `alpha ${d} px below the base: ${v}`);
      assert.deepEqual(rgb(300, BASE + d), [0, 0, 0], 'the shadow is black');
    }
    assert.equal(a(300, 300), 255);
    assert.deepEqual(rgb(300, 300), [200, 40, 40], 'object pixels untouched');
    assert.equal(a(10, 10), 0);
    assert.equal(a(300, 590), 0);
  });
});
