// Scene placement geometry: the contract's bottom-left origin, scale relative to the scene, rotation bounds,
// original and padding placements, and the pixel raster derived from them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValidationError } from '../../../src/errors.js';
import {
  alphaBounds,
  drawnSize,
  parseScenePadding,
  placedBounds,
  planPlacement,
  rasterOrigin,
  rotatedBounds,
  type Box,
  type PlacementSpec,
} from '../../../src/pipeline/scene/placement.js';

const SCENE = { width: 1000, height: 800 };
const IMAGE = { width: 400, height: 600 };
/** A 100×200 object sitting inside the 400×600 image. */
const OBJECT: Box = { left: 50, top: 300, width: 100, height: 200 };

const absolute = (x: number, y: number, scale = 1, rotation = 0): PlacementSpec => ({ type: 'absolute', x, y, scale, rotation });

function close(actual: number, expected: number, what: string, eps = 1e-9): void {
  assert.ok(Math.abs(actual - expected) <= eps, `${what}: ${actual} vs ${expected}`);
}

describe('alphaBounds', () => {
  it('finds the box of the pixels above the threshold and ignores faint noise', () => {
    const w = 10;
    const h = 8;
    const data = new Uint8Array(w * h * 4);
    const set = (x: number, y: number, a: number) => (data[(y * w + x) * 4 + 3] = a);
    set(0, 0, 5); // matting noise at or below the threshold
    set(3, 2, 255);
    set(6, 5, 40);
    assert.deepEqual(alphaBounds(data, w, h, 4), { left: 3, top: 2, width: 4, height: 4 });
    assert.deepEqual(alphaBounds(data, w, h, 4, 0), { left: 0, top: 0, width: 7, height: 6 });
  });

  it('is null for a fully transparent image', () => {
    assert.equal(alphaBounds(new Uint8Array(4 * 4 * 4), 4, 4, 4), null);
  });
});

describe('rotatedBounds', () => {
  it('is exact at right angles', () => {
    assert.deepEqual(rotatedBounds(100, 200, 0), { width: 100, height: 200 });
    assert.deepEqual(rotatedBounds(100, 200, 90), { width: 200, height: 100 });
    assert.deepEqual(rotatedBounds(100, 200, 180), { width: 100, height: 200 });
    assert.deepEqual(rotatedBounds(100, 200, 270), { width: 200, height: 100 });
    assert.deepEqual(rotatedBounds(100, 200, 360), { width: 100, height: 200 });
  });

  it('grows to the diagonal box at 45 degrees', () => {
    const b = rotatedBounds(100, 100, 45);
    close(b.width, 100 * Math.SQRT2, 'width', 1e-9);
    close(b.height, 100 * Math.SQRT2, 'height', 1e-9);
    const r = rotatedBounds(100, 200, 30);
    close(r.width, 100 * Math.cos(Math.PI / 6) + 200 * 0.5, 'width 30°', 1e-9);
    close(r.height, 100 * 0.5 + 200 * Math.cos(Math.PI / 6), 'height 30°', 1e-9);
  });
});

describe('planPlacement: absolute', () => {
  it('puts the centre at the scene centre by default and fits the scene at scale 1', () => {
    const p = planPlacement(absolute(0.5, 0.5), IMAGE, OBJECT, SCENE);
    // 100×200 in 1000×800: the height limits, factor 4.
    assert.deepEqual([p.width, p.height, p.centreX, p.centreY], [400, 800, 500, 400]);
    assert.deepEqual(p.source, OBJECT);
  });

  it('measures y from the bottom edge: y = 0 is the bottom, y = 1 the top', () => {
    assert.equal(planPlacement(absolute(0.5, 0), IMAGE, OBJECT, SCENE).centreY, 800);
    assert.equal(planPlacement(absolute(0.5, 1), IMAGE, OBJECT, SCENE).centreY, 0);
    assert.equal(planPlacement(absolute(0.5, 0.25), IMAGE, OBJECT, SCENE).centreY, 600);
    assert.equal(planPlacement(absolute(0, 0.5), IMAGE, OBJECT, SCENE).centreX, 0);
    assert.equal(planPlacement(absolute(1, 0.5), IMAGE, OBJECT, SCENE).centreX, 1000);
    assert.equal(planPlacement(absolute(0.35, 0.5), IMAGE, OBJECT, SCENE).centreX, 350);
  });

  it('scales relative to the scene', () => {
    const p = planPlacement(absolute(0.5, 0.5, 0.5), IMAGE, OBJECT, SCENE);
    assert.deepEqual([p.width, p.height], [200, 400]);
    const wide = planPlacement(absolute(0.5, 0.5, 1), IMAGE, { left: 0, top: 0, width: 400, height: 100 }, SCENE);
    // 400×100 in 1000×800: the width limits, factor 2.5.
    assert.deepEqual([wide.width, wide.height], [1000, 250]);
  });

  it('fits the rotated bounding box, so a turned object still fits the scene at scale 1', () => {
    const p = planPlacement(absolute(0.5, 0.5, 1, 90), IMAGE, OBJECT, SCENE);
    // Turned, the 100×200 object is 200×100: factor min(1000/200, 800/100) = 5.
    assert.deepEqual([p.width, p.height, p.rotation], [500, 1000, 90]);
    const b = placedBounds(p);
    assert.deepEqual([b.width, b.height, b.left, b.top], [1000, 500, 0, 150]);
    for (const deg of [15, 45, 137.5, 300]) {
      const q = placedBounds(planPlacement(absolute(0.5, 0.5, 1, deg), IMAGE, OBJECT, SCENE));
      assert.ok(q.width <= SCENE.width + 1e-9 && q.height <= SCENE.height + 1e-9, `${deg}°: ${q.width}×${q.height}`);
      assert.ok(Math.abs(q.width - SCENE.width) < 1e-6 || Math.abs(q.height - SCENE.height) < 1e-6, `${deg}° touches two edges`);
    }
  });

  it('treats 360 degrees as no rotation', () => {
    assert.equal(planPlacement(absolute(0.5, 0.5, 1, 360), IMAGE, OBJECT, SCENE).rotation, 0);
  });
});

describe('planPlacement: original', () => {
  it('keeps the object where it was in the input frame, the frame fitted into the scene', () => {
    // 400×600 into 1000×800: factor 4/3, the frame 533.3 wide, centred (left margin 233.3).
    const p = planPlacement({ type: 'original' }, IMAGE, OBJECT, SCENE);
    const f = 800 / 600;
    close(p.width, 100 * f, 'width');
    close(p.height, 200 * f, 'height');
    close(p.centreX, (1000 - 400 * f) / 2 + 100 * f, 'centre x');
    close(p.centreY, 400 * f, 'centre y');
  });

  it('is the identity when the input has the scene size', () => {
    const p = planPlacement({ type: 'original' }, SCENE, { left: 10, top: 20, width: 30, height: 40 }, SCENE);
    assert.deepEqual([p.width, p.height, p.centreX, p.centreY], [30, 40, 25, 40]);
    assert.deepEqual(rasterOrigin(p, drawnSize(p)), { left: 10, top: 20 });
  });
});

describe('planPlacement: padding', () => {
  it('fits the object into the scene minus the padding, centred', () => {
    // "10% 20%": 80 px top and bottom, 200 px left and right → inner 600×640; 100×200 fits at factor 3.2.
    const p = planPlacement({ type: 'padding', padding: parseScenePadding('10% 20%'), raw: '10% 20%' }, IMAGE, OBJECT, SCENE);
    close(p.width, 320, 'width');
    close(p.height, 640, 'height');
    assert.deepEqual([p.centreX, p.centreY], [500, 400]);
    const px = planPlacement({ type: 'padding', padding: parseScenePadding('100px'), raw: '100px' }, IMAGE, OBJECT, SCENE);
    close(px.height, 600, 'pixel padding: 800 - 2×100');
  });

  it('refuses padding of half a side or more, and a bad grammar, naming object.padding', () => {
    const spec = (raw: string): PlacementSpec => ({ type: 'padding', padding: parseScenePadding(raw), raw });
    assert.throws(() => planPlacement(spec('50%'), IMAGE, OBJECT, SCENE), (e: unknown) => e instanceof ValidationError && e.details.field === 'object.padding');
    assert.throws(() => planPlacement(spec('10px 500px'), IMAGE, OBJECT, SCENE), ValidationError);
    assert.throws(() => parseScenePadding('ten'), (e: unknown) => e instanceof ValidationError && /object\.padding/.test(e.message));
    assert.throws(() => parseScenePadding('1% 2% 3%'), ValidationError);
  });
});

describe('raster helpers', () => {
  it('rounds the drawn size and centres the raster on the placement', () => {
    const p = planPlacement(absolute(0.5, 0.5, 0.333), IMAGE, OBJECT, SCENE);
    assert.deepEqual(drawnSize(p), { width: Math.round(p.width), height: Math.round(p.height) });
    assert.deepEqual(rasterOrigin(p, { width: 101, height: 201 }), { left: Math.round(500 - 50.5), top: Math.round(400 - 100.5) });
  });

  it('never draws less than one pixel', () => {
    const p = planPlacement(absolute(0.5, 0.5, 0.01), IMAGE, { left: 0, top: 0, width: 1, height: 400 }, SCENE);
    assert.equal(drawnSize(p).width, 1);
  });
});
