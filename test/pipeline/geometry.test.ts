import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValidationError } from '../../src/errors.js';
import {
  containSize,
  coverSize,
  parsePadding,
  parseSize,
  planPadding,
  planResize,
  type ResizePlan,
} from '../../src/pipeline/geometry.js';

const LIMITS = { maxOutputSide: 16_384, maxOutputPixels: 100_000_000 };
const LANDSCAPE = { width: 1200, height: 800 };
const PORTRAIT = { width: 800, height: 1200 };

function plan(src: { width: number; height: number }, resizing: Parameters<typeof planResize>[1]): ResizePlan {
  const p = planResize(src, resizing, LIMITS);
  assert.ok(p, 'expected a resize plan');
  return p;
}

function validationAt(field: string, pattern?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof ValidationError, `expected ValidationError, got ${String(err)}`);
    assert.equal(err.status, 422);
    assert.equal(err.details.field, field);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

describe('parseSize', () => {
  it('accepts pixels, auto and percentages', () => {
    assert.deepEqual(parseSize(640, 'f'), { kind: 'px', value: 640 });
    assert.deepEqual(parseSize('auto', 'f'), { kind: 'auto' });
    assert.deepEqual(parseSize(undefined, 'f'), { kind: 'auto' });
    assert.deepEqual(parseSize('50%', 'f'), { kind: 'percent', value: 50 });
    assert.deepEqual(parseSize('12.5%', 'f'), { kind: 'percent', value: 12.5 });
    assert.deepEqual(parseSize('150%', 'f'), { kind: 'percent', value: 150 });
  });

  it('refuses zero, negative, fractional pixels and malformed strings, naming the field', () => {
    for (const bad of [0, -5, 10.5, '0%', '-10%', '10', '10px', 'abc', '%', true]) {
      assert.throws(() => parseSize(bad, 'operations.resizing.width'), validationAt('operations.resizing.width'), String(bad));
    }
  });
});

describe('planResize: pairing rule', () => {
  it('refuses pixels mixed with a percentage, naming the pixel side', () => {
    assert.throws(
      () => planResize(LANDSCAPE, { width: '50%', height: 300 }, LIMITS),
      validationAt('operations.resizing.height', /percentage/),
    );
    assert.throws(
      () => planResize(LANDSCAPE, { width: 300, height: '50%' }, LIMITS),
      validationAt('operations.resizing.width', /percentage/),
    );
  });

  it('refuses two different percentages', () => {
    assert.throws(() => planResize(LANDSCAPE, { width: '50%', height: '60%' }, LIMITS), ValidationError);
  });

  it('refuses unknown fit modes and crop modes', () => {
    assert.throws(
      () => planResize(LANDSCAPE, { width: 10, height: 10, fit: 'stretch' as never }, LIMITS),
      validationAt('operations.resizing.fit'),
    );
    assert.throws(
      () => planResize(LANDSCAPE, { width: 10, height: 10, fit: { type: 'crop', crop: 'left' as never } }, LIMITS),
      validationAt('operations.resizing.fit.crop'),
    );
  });

  it('accepts the same percentage on both sides or with auto', () => {
    assert.deepEqual(plan(LANDSCAPE, { width: '50%', height: '50%' }).output, { width: 600, height: 400 });
    assert.deepEqual(plan(LANDSCAPE, { width: 'auto', height: '50%' }).output, { width: 600, height: 400 });
    assert.deepEqual(plan(LANDSCAPE, { width: '50%' }).output, { width: 600, height: 400 });
  });
});

describe('planResize: sizes', () => {
  it('returns null when nothing changes', () => {
    assert.equal(planResize(LANDSCAPE, undefined, LIMITS), null);
    assert.equal(planResize(LANDSCAPE, {}, LIMITS), null);
    assert.equal(planResize(LANDSCAPE, { width: 'auto', height: 'auto', fit: 'canvas' }, LIMITS), null);
    assert.equal(planResize(LANDSCAPE, { width: '100%' }, LIMITS), null);
    assert.equal(planResize(LANDSCAPE, { width: 1200, height: 800, fit: 'crop' }, LIMITS), null);
  });

  it('scales percentages up and down, rounding each side', () => {
    assert.deepEqual(plan(LANDSCAPE, { width: '150%', height: '150%' }).output, { width: 1800, height: 1200 });
    assert.deepEqual(plan({ width: 333, height: 101 }, { width: '50%' }).output, { width: 167, height: 51 });
    assert.deepEqual(plan({ width: 10, height: 10 }, { width: '1%' }).output, { width: 1, height: 1 });
  });

  it('keeps aspect with one side auto, whatever the fit', () => {
    for (const fit of ['crop', 'cover', 'bounds', 'canvas'] as const) {
      assert.deepEqual(plan(LANDSCAPE, { width: 600, height: 'auto', fit }).output, { width: 600, height: 400 });
      assert.deepEqual(plan(PORTRAIT, { height: 600, fit }).output, { width: 400, height: 600 });
      assert.deepEqual(plan(LANDSCAPE, { width: 3000 }).output, { width: 3000, height: 2000 });
    }
  });

  it('crop gives exactly the box and scales to cover it', () => {
    const p = plan(LANDSCAPE, { width: 500, height: 500, fit: 'crop' });
    assert.equal(p.mode, 'crop');
    assert.deepEqual(p.output, { width: 500, height: 500 });
    assert.ok(p.mode === 'crop');
    assert.deepEqual(p.scaled, { width: 750, height: 500 });
    assert.equal(p.crop, 'center');
    const smart = plan(PORTRAIT, { width: 300, height: 100, fit: { type: 'crop', crop: 'smart' } });
    assert.ok(smart.mode === 'crop');
    assert.equal(smart.crop, 'smart');
    assert.deepEqual(smart.scaled, { width: 300, height: 450 });
    // crop is the default fit
    assert.equal(plan(LANDSCAPE, { width: 10, height: 10 }).mode, 'crop');
  });

  it('cover makes one side exact and the other larger', () => {
    assert.deepEqual(plan(LANDSCAPE, { width: 500, height: 500, fit: 'cover' }).output, { width: 750, height: 500 });
    assert.deepEqual(plan(PORTRAIT, { width: 500, height: 500, fit: 'cover' }).output, { width: 500, height: 750 });
    assert.deepEqual(plan(LANDSCAPE, { width: 2400, height: 100, fit: { type: 'cover' } }).output, { width: 2400, height: 1600 });
  });

  it('bounds makes one side exact and the other smaller', () => {
    assert.deepEqual(plan(LANDSCAPE, { width: 500, height: 500, fit: 'bounds' }).output, { width: 500, height: 333 });
    assert.deepEqual(plan(PORTRAIT, { width: 500, height: 500, fit: 'bounds' }).output, { width: 333, height: 500 });
    assert.deepEqual(plan(LANDSCAPE, { width: 3000, height: 3000, fit: 'bounds' }).output, { width: 3000, height: 2000 });
  });

  it('canvas is exactly the box with the contained image centred', () => {
    const p = plan(LANDSCAPE, { width: 500, height: 500, fit: 'canvas' });
    assert.ok(p.mode === 'canvas');
    assert.deepEqual(p.output, { width: 500, height: 500 });
    assert.deepEqual(p.content, { width: 500, height: 333 });
    assert.deepEqual(p.offset, { left: 0, top: 83 });
    const q = plan(PORTRAIT, { width: 1000, height: 600, fit: 'canvas' });
    assert.ok(q.mode === 'canvas');
    assert.deepEqual(q.content, { width: 400, height: 600 });
    assert.deepEqual(q.offset, { left: 300, top: 0 });
  });

  it('handles ratios where floating point would misround', () => {
    // 1/3 scaling: 999x333 into 333 wide must give exactly 111 tall.
    assert.deepEqual(coverSize({ width: 999, height: 333 }, { width: 333, height: 111 }), { width: 333, height: 111 });
    assert.deepEqual(containSize({ width: 999, height: 333 }, { width: 333, height: 111 }), { width: 333, height: 111 });
    // Extreme aspect never rounds a side to zero.
    assert.deepEqual(containSize({ width: 10_000, height: 1 }, { width: 100, height: 100 }), { width: 100, height: 1 });
  });

  it('refuses outputs over the side or pixel limits', () => {
    const small = { maxOutputSide: 1000, maxOutputPixels: 500_000 };
    const tooLarge = (err: unknown) => err instanceof ValidationError && err.code === 'output_too_large';
    assert.throws(() => planResize(LANDSCAPE, { width: 1001 }, small), tooLarge);
    assert.throws(() => planResize(LANDSCAPE, { width: 1000, height: 1000, fit: 'canvas' }, small), tooLarge);
    assert.throws(() => planResize(LANDSCAPE, { width: 900, height: 900, fit: 'cover' }, small), tooLarge);
    assert.throws(() => planResize(LANDSCAPE, { width: '200%' }, LIMITS_SMALL_SIDE), tooLarge);
    assert.ok(planResize(LANDSCAPE, { width: 800, height: 800, fit: 'bounds' }, small));
  });
});

const LIMITS_SMALL_SIDE = { maxOutputSide: 2000, maxOutputPixels: 100_000_000 };

describe('padding', () => {
  it('parses one and two values in percent and pixels', () => {
    assert.deepEqual(parsePadding('10%'), {
      vertical: { unit: 'percent', value: 10 },
      horizontal: { unit: 'percent', value: 10 },
    });
    assert.deepEqual(parsePadding('5% 2.5%'), {
      vertical: { unit: 'percent', value: 5 },
      horizontal: { unit: 'percent', value: 2.5 },
    });
    assert.deepEqual(parsePadding('20px 40'), {
      vertical: { unit: 'px', value: 20 },
      horizontal: { unit: 'px', value: 40 },
    });
    assert.deepEqual(parsePadding(' 7 '), { vertical: { unit: 'px', value: 7 }, horizontal: { unit: 'px', value: 7 } });
  });

  it('refuses malformed strings listing the accepted forms', () => {
    for (const bad of ['', 'ten', '10% 10% 10%', '-5%', '10pt', '1.5px', '10 %', 12]) {
      assert.throws(() => parsePadding(bad), validationAt('operations.padding', /percent|pixels/), String(bad));
    }
  });

  it('keeps the size and fits the content inside the inner box, centred', () => {
    const p = planPadding({ width: 1000, height: 500 }, parsePadding('10%'));
    assert.ok(p);
    assert.deepEqual(p.output, { width: 1000, height: 500 });
    assert.deepEqual(p.pad, { vertical: 50, horizontal: 100 });
    assert.deepEqual(p.inner, { width: 800, height: 400 });
    assert.deepEqual(p.content, { width: 800, height: 400 });
    assert.deepEqual(p.offset, { left: 100, top: 50 });

    const q = planPadding({ width: 1000, height: 500 }, parsePadding('20px 100px'));
    assert.ok(q);
    assert.deepEqual(q.inner, { width: 800, height: 460 });
    // Aspect 2:1 inside 800x460 → 800x400, centred vertically in the 500-high image.
    assert.deepEqual(q.content, { width: 800, height: 400 });
    assert.deepEqual(q.offset, { left: 100, top: 50 });
  });

  it('returns null for zero padding', () => {
    assert.equal(planPadding({ width: 10, height: 10 }, parsePadding('0')), null);
    assert.equal(planPadding({ width: 10, height: 10 }, parsePadding('0% 0px')), null);
  });

  it('refuses padding of half a side or more', () => {
    assert.throws(
      () => planPadding({ width: 1000, height: 500 }, parsePadding('50%')),
      validationAt('operations.padding', /more than half of the image height/),
    );
    assert.throws(
      () => planPadding({ width: 100, height: 500 }, parsePadding('10px 50px')),
      validationAt('operations.padding', /more than half of the image width/),
    );
    assert.ok(planPadding({ width: 100, height: 500 }, parsePadding('10px 49px')));
  });
});
