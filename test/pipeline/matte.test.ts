import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  blurFusionForeground,
  boundsAbove,
  boxMean,
  connectedComponents,
  contrastCurve,
  dilate,
  discSum,
  gaussianBlur,
  gaussianBoxRadii,
  guidedCoefficients,
  holesWithin,
  plane,
  resize,
  type Plane,
} from '../../src/pipeline/matte.js';

function random(width: number, height: number, seed = 1): Plane {
  let s = seed;
  const p = plane(width, height);
  for (let i = 0; i < p.data.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    p.data[i] = s / 2147483648;
  }
  return p;
}

function at(p: Plane, x: number, y: number): number {
  return p.data[y * p.width + x] as number;
}

test('boxMean equals a brute-force window mean, clipped at the borders', () => {
  for (const [w, h, r] of [[37, 23, 3], [5, 9, 4], [64, 1, 2], [12, 12, 0]] as const) {
    const p = random(w, h, w * h + r);
    const m = boxMean(p, r);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        let n = 0;
        for (let yy = Math.max(0, y - r); yy <= Math.min(h - 1, y + r); yy++) {
          for (let xx = Math.max(0, x - r); xx <= Math.min(w - 1, x + r); xx++) {
            s += at(p, xx, yy);
            n++;
          }
        }
        assert.ok(Math.abs(at(m, x, y) - s / n) < 1e-5, `(${w}x${h} r${r}) at ${x},${y}`);
      }
    }
  }
});

test('three box passes approximate the Gaussian: the blurred impulse has the asked standard deviation', () => {
  for (const sigma of [2, 5, 12.5]) {
    const radii = gaussianBoxRadii(sigma);
    // Variance of a box of radius r is ((2r+1)^2 - 1) / 12; three passes add up.
    const variance = radii.reduce((v, r) => v + ((2 * r + 1) ** 2 - 1) / 12, 0);
    // Odd integer widths quantise small sigmas (2 → 1.83); larger ones land within a few percent.
    assert.ok(Math.abs(Math.sqrt(variance) - sigma) / sigma < (sigma < 4 ? 0.1 : 0.04), `sigma ${sigma}: got ${Math.sqrt(variance)}`);
    const size = Math.ceil(sigma * 10) | 1;
    const p = plane(size, 1);
    const c = (size - 1) / 2;
    p.data[c] = 1;
    const g = gaussianBlur(p, sigma);
    let m2 = 0;
    let total = 0;
    for (let x = 0; x < size; x++) {
      m2 += (x - c) ** 2 * at(g, x, 0);
      total += at(g, x, 0);
    }
    assert.ok(Math.abs(total - 1) < 0.02);
    assert.ok(Math.abs(Math.sqrt(m2 / total) - sigma) / sigma < 0.1);
  }
});

test('resize keeps constants, interpolates linearly up and averages down', () => {
  const flat = plane(10, 7);
  flat.data.fill(0.3);
  const up = resize(flat, 33, 20);
  for (const v of up.data) assert.ok(Math.abs(v - 0.3) < 1e-6);
  // A horizontal ramp stays a ramp (pixel-centre aligned), except at the clamped borders.
  const ramp = plane(8, 2);
  for (let y = 0; y < 2; y++) for (let x = 0; x < 8; x++) ramp.data[y * 8 + x] = x;
  const r2 = resize(ramp, 16, 2);
  for (let x = 1; x < 15; x++) assert.ok(Math.abs(at(r2, x, 0) - ((x + 0.5) / 2 - 0.5)) < 1e-5, `x=${x}`);
  // Downscaling by 4 averages: a fine checkerboard becomes flat grey.
  const check = plane(64, 64);
  for (let i = 0; i < 64 * 64; i++) check.data[i] = ((i % 64) + Math.floor(i / 64)) % 2;
  const down = resize(check, 16, 16);
  for (const v of down.data) assert.ok(Math.abs(v - 0.5) < 0.05);
});

test('guided filter reproduces a matte that is a linear function of the guide', () => {
  const w = 40;
  const h = 30;
  const guide = [random(w, h, 3), random(w, h, 4), random(w, h, 5)] as [Plane, Plane, Plane];
  const p = plane(w, h);
  for (let i = 0; i < w * h; i++) {
    p.data[i] = 0.5 * (guide[0].data[i] as number) - 0.25 * (guide[1].data[i] as number) + 0.1 * (guide[2].data[i] as number) + 0.2;
  }
  const [aR, aG, aB, b] = guidedCoefficients(guide, p, 3, 1e-8);
  for (let i = 0; i < w * h; i++) {
    const q = (aR.data[i] as number) * (guide[0].data[i] as number) + (aG.data[i] as number) * (guide[1].data[i] as number) + (aB.data[i] as number) * (guide[2].data[i] as number) + (b.data[i] as number);
    assert.ok(Math.abs(q - (p.data[i] as number)) < 1e-3);
  }
});

test('contrast curve: clamps outside [lo, hi], smooth and monotonic inside', () => {
  assert.equal(contrastCurve(0.05, 0.1, 0.9), 0);
  assert.equal(contrastCurve(0.95, 0.1, 0.9), 1);
  assert.equal(contrastCurve(0.5, 0.1, 0.9), 0.5);
  let last = 0;
  for (let x = 0.1; x <= 0.9; x += 0.01) {
    const v = contrastCurve(x, 0.1, 0.9);
    assert.ok(v >= last);
    last = v;
  }
});

test('connected components, holes inside a box, bounds and dilation', () => {
  // Two blobs; the first is a ring with a hole.
  const w = 20;
  const h = 10;
  const m = new Uint8Array(w * h);
  for (let y = 1; y <= 6; y++) for (let x = 1; x <= 6; x++) m[y * w + x] = 1;
  for (let y = 3; y <= 4; y++) for (let x = 3; x <= 4; x++) m[y * w + x] = 0;
  for (let y = 2; y <= 3; y++) for (let x = 14; x <= 17; x++) m[y * w + x] = 1;
  const { labels, sizes } = connectedComponents(m, w, h);
  assert.deepEqual(sizes.slice(1).sort((a, b) => a - b), [8, 32]);
  assert.notEqual(labels[1 * w + 1], labels[2 * w + 14]);
  const holes = holesWithin(m, w, h, { left: 0, top: 0, right: 10, bottom: 10 });
  assert.equal(holes.reduce((s, v) => s + v, 0), 4);
  assert.equal(holes[3 * w + 3], 1);
  const b = boundsAbove({ data: m, width: w, height: h }, 0);
  assert.deepEqual(b, { left: 1, top: 1, width: 17, height: 6 });
  assert.equal(boundsAbove({ data: new Uint8Array(4), width: 2, height: 2 }, 0), undefined);
  const d = dilate(m, w, h, 1);
  assert.equal(d[0], 1);
  assert.equal(d[8 * w + 8], 0);
  assert.equal(d[3 * w + 3], 1);
});

test('discSum sums a round footprint (zero outside the image)', () => {
  const p = plane(21, 21);
  p.data.fill(1);
  const s = discSum(p, 3);
  let area = 0;
  for (let dy = -3; dy <= 3; dy++) area += 2 * Math.floor(Math.sqrt(3.5 * 3.5 - dy * dy)) + 1;
  assert.equal(at(s, 10, 10), area);
  assert.ok(Math.abs(area - Math.PI * 3.5 * 3.5) / area < 0.12);
  // At a corner only about a quarter of the disc lies inside the image.
  assert.ok(at(s, 0, 0) < area / 2);
});

test('blur-fusion recovers the foreground colour of semi-transparent edge pixels', () => {
  // A red disc with a soft edge over a green/blue striped background.
  const w = 120;
  const h = 90;
  const alpha = plane(w, h);
  const fg = [0.9, 0.1, 0.1];
  const channels = [plane(w, h), plane(w, h), plane(w, h)];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const d = Math.hypot(x - 60, y - 45);
      const a = Math.max(0, Math.min(1, (25 - d) / 6 + 0.5));
      const i = y * w + x;
      alpha.data[i] = a;
      const bg = x % 8 < 4 ? [0.1, 0.8, 0.2] : [0.1, 0.2, 0.9];
      for (let c = 0; c < 3; c++) channels[c]!.data[i] = a * (fg[c] as number) + (1 - a) * (bg[c] as number);
    }
  }
  const F = blurFusionForeground(channels, alpha, 20, 2);
  let errBefore = 0;
  let errAfter = 0;
  let n = 0;
  for (let i = 0; i < w * h; i++) {
    const a = alpha.data[i] as number;
    if (a < 0.2 || a > 0.8) continue;
    n++;
    for (let c = 0; c < 3; c++) {
      errBefore += Math.abs((channels[c]!.data[i] as number) - (fg[c] as number));
      errAfter += Math.abs((F[c]!.data[i] as number) - (fg[c] as number));
    }
  }
  assert.ok(n > 100);
  // The observed edge colours are far from the subject's; the estimate is at least 3× closer.
  assert.ok(errAfter * 3 < errBefore, `before ${errBefore / n}, after ${errAfter / n}`);
  // Opaque pixels keep their colour.
  assert.ok(Math.abs((F[0]!.data[45 * w + 60] as number) - 0.9) < 1e-3);
});
