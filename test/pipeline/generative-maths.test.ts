// The pure arithmetic behind the generative operations: aspect-ratio sizes, working sizes, outpaint masks,
// exact re-compositing, Lab conversion, Laplacian pyramids, statistics transfer and structure re-injection.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import {
  aspectSize,
  collapse,
  compositeOriginal,
  fromLab,
  laplacianPyramid,
  meanStd,
  nearestRatio,
  outpaintMask,
  parseRatio,
  pyramidLevels,
  reinjectStructure,
  seedOf,
  toLab,
  transferStyleStatistics,
  workingSize,
  type Plane,
} from '../../src/pipeline/generative-maths.js';
import { toRawImage, type RawImage } from '../../src/pipeline/raw-image.js';
import { AI_EDIT_ASPECT_RATIOS } from '../../src/contract/generative-schemas.js';
import { photo } from './helpers.js';

async function rawPhoto(name: string, width?: number, height?: number): Promise<RawImage> {
  let img = sharp(photo(name));
  if (width !== undefined) img = img.resize(width, height, { fit: 'cover' });
  return toRawImage(img.removeAlpha());
}

function maxDiff(a: Buffer, b: Buffer): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** Standard deviation of the finest Laplacian band of an image's luminance: its fine-texture energy. */
function fineEnergy(img: RawImage): number {
  const L = toLab(img).p[0];
  const pyr = laplacianPyramid({ data: L, width: img.width, height: img.height }, 1);
  return meanStd((pyr.bands[0] as Plane).data).std;
}

describe('sizes', () => {
  test('the aspect-ratio table at 1024 (multiples of 64, about one megapixel, ratio within 4%)', () => {
    const expected: Record<string, [number, number]> = {
      '1:1': [1024, 1024],
      '2:3': [832, 1280],
      '3:2': [1280, 832],
      '3:4': [896, 1152],
      '4:3': [1152, 896],
      '9:16': [768, 1344],
      '16:9': [1344, 768],
      '9:21': [640, 1536],
      '21:9': [1536, 640],
    };
    for (const ratio of AI_EDIT_ASPECT_RATIOS) {
      const size = aspectSize(ratio, 1024, 64);
      assert.deepEqual([size.width, size.height], expected[ratio], ratio);
      assert.equal(size.width % 64, 0);
      assert.equal(size.height % 64, 0);
      const [a, b] = parseRatio(ratio);
      assert.ok(Math.abs(Math.log(size.width / size.height / (a / b))) < 0.04, ratio);
      assert.ok(Math.abs(size.width * size.height / 1024 ** 2 - 1) < 0.07, ratio);
    }
  });

  test('small sides snap to their own grid and never reach zero', () => {
    assert.deepEqual(aspectSize('1:1', 64, 8), { width: 64, height: 64 });
    assert.deepEqual(aspectSize('21:9', 64, 8), { width: 96, height: 40 });
    assert.deepEqual(aspectSize('9:21', 16, 8), { width: 8, height: 24 });
    assert.throws(() => parseRatio('16/9'), RangeError);
  });

  test('nearestRatio picks the closest ratio on a log scale', () => {
    assert.equal(nearestRatio(500, 500, AI_EDIT_ASPECT_RATIOS), '1:1');
    assert.equal(nearestRatio(1920, 1080, AI_EDIT_ASPECT_RATIOS), '16:9');
    assert.equal(nearestRatio(1080, 1920, AI_EDIT_ASPECT_RATIOS), '9:16');
    assert.equal(nearestRatio(2560, 1080, AI_EDIT_ASPECT_RATIOS), '21:9');
    assert.equal(nearestRatio(548, 342, AI_EDIT_ASPECT_RATIOS), '3:2');
    assert.equal(nearestRatio(512, 384, AI_EDIT_ASPECT_RATIOS), '4:3');
  });

  test('workingSize keeps small images and scales large ones to about the area, on the 8-pixel grid', () => {
    assert.deepEqual(workingSize({ width: 400, height: 296 }, 512 * 512), { width: 400, height: 296 });
    const w = workingSize({ width: 4000, height: 3000 }, 512 * 512);
    assert.equal(w.width % 8, 0);
    assert.equal(w.height % 8, 0);
    assert.ok(Math.abs((w.width * w.height) / (512 * 512) - 1) < 0.05);
    assert.ok(Math.abs(w.width / w.height - 4 / 3) < 0.02);
  });

  test('seedOf depends on every part and only on them', () => {
    assert.equal(seedOf('a', Buffer.from([1, 2]), 3), seedOf('a', Buffer.from([1, 2]), 3));
    assert.notEqual(seedOf('a', 3), seedOf('a', 4));
    assert.notEqual(seedOf('ab', 'c'), seedOf('a', 'bc'));
    const s = seedOf('x');
    assert.ok(Number.isInteger(s) && s >= 0 && s < 2 ** 32);
  });
});

describe('outpaint mask and compositing', () => {
  test('the mask is 0 on the original, 255 on the border, and ramps up over feathering × each margin', () => {
    // 40×30 original on a 100×30 canvas, 10 px from the left: margins 10 (left) and 50 (right), none above/below.
    const mask = outpaintMask({ width: 100, height: 30, left: 10, top: 0 }, { width: 40, height: 30 }, 0.5);
    assert.equal(mask.channels, 1);
    const at = (x: number, y: number) => mask.data[y * 100 + x] as number;
    for (const y of [0, 15, 29]) for (const x of [10, 30, 49]) assert.equal(at(x, y), 0, `${x},${y}`);
    // Left band: 5 px, rising from the seam outwards.
    assert.deepEqual([9, 8, 7, 6, 5, 4, 0].map((x) => at(x, 15)), [26, 77, 128, 179, 230, 255, 255]);
    // Right band: 25 px.
    assert.equal(at(50, 15), 5);
    assert.equal(at(74, 15), 250);
    assert.equal(at(75, 15), 255);
    assert.equal(at(99, 0), 255);
    const right = Array.from({ length: 25 }, (_, i) => at(50 + i, 15));
    for (let i = 1; i < right.length; i++) assert.ok((right[i] as number) > (right[i - 1] as number));
  });

  test('corners take the larger band position; feathering 0 is a hard mask; above 1 counts as 1', () => {
    const mask = outpaintMask({ width: 20, height: 20, left: 5, top: 5 }, { width: 10, height: 10 }, 1);
    const at = (x: number, y: number) => mask.data[y * 20 + x] as number;
    assert.equal(at(4, 4), 26);
    assert.equal(at(0, 4), 230);
    assert.equal(at(10, 10), 0);
    assert.ok(outpaintMask({ width: 20, height: 20, left: 5, top: 5 }, { width: 10, height: 10 }, 3).data.equals(mask.data));
    const hard = outpaintMask({ width: 20, height: 20, left: 5, top: 5 }, { width: 10, height: 10 }, 0);
    let inside = 0;
    for (let y = 0; y < 20; y++) {
      for (let x = 0; x < 20; x++) {
        const v = hard.data[y * 20 + x] as number;
        const isInside = x >= 5 && x < 15 && y >= 5 && y < 15;
        assert.equal(v, isInside ? 0 : 255);
        if (isInside) inside++;
      }
    }
    assert.equal(inside, 100);
  });

  test('compositeOriginal puts every original pixel back exactly and keeps the generated border', async () => {
    const original = await rawPhoto('baboon.jpg', 64, 48);
    const generated: RawImage = { data: Buffer.alloc(100 * 80 * 3, 77), width: 100, height: 80, channels: 3 };
    const canvas = { width: 100, height: 80, left: 20, top: 12 };
    const out = compositeOriginal(generated, original, canvas);
    assert.equal(out.channels, 3);
    for (let y = 0; y < 80; y++) {
      for (let x = 0; x < 100; x++) {
        const o = (y * 100 + x) * 3;
        const inside = x >= 20 && x < 84 && y >= 12 && y < 60;
        const expected = inside
          ? original.data.subarray(((y - 12) * 64 + (x - 20)) * 3, ((y - 12) * 64 + (x - 20)) * 3 + 3)
          : Buffer.from([77, 77, 77]);
        assert.deepEqual(out.data.subarray(o, o + 3), expected, `${x},${y}`);
      }
    }
  });

  test('an RGBA original keeps its alpha; the border is opaque; a canvas that cuts the original crops it', () => {
    const original: RawImage = { data: Buffer.alloc(4 * 4 * 4), width: 4, height: 4, channels: 4 };
    for (let i = 0; i < 16; i++) original.data.set([i, 2 * i, 3 * i, 100 + i], i * 4);
    const generated: RawImage = { data: Buffer.alloc(6 * 3 * 3, 9), width: 6, height: 3, channels: 3 };
    const out = compositeOriginal(generated, original, { width: 6, height: 3, left: 3, top: -1 });
    assert.equal(out.channels, 4);
    assert.deepEqual([...out.data.subarray(0, 4)], [9, 9, 9, 255]);
    // Canvas (3,0) is original (0,1): index 4.
    assert.deepEqual([...out.data.subarray(3 * 4, 3 * 4 + 4)], [4, 8, 12, 104]);
    // Canvas (5,2) is original (2,3): index 14.
    assert.deepEqual([...out.data.subarray((2 * 6 + 5) * 4, (2 * 6 + 5) * 4 + 4)], [14, 28, 42, 114]);
  });
});

describe('Lab and pyramids', () => {
  test('sRGB → Lab → sRGB round-trips a photo within one level', async () => {
    const img = await rawPhoto('fruits.jpg', 128, 120);
    assert.ok(maxDiff(fromLab(toLab(img)).data, img.data) <= 1);
  });

  test('Lab of known colours (D65): white, black, sRGB red', () => {
    const px = (r: number, g: number, b: number) =>
      toLab({ data: Buffer.from([r, g, b]), width: 1, height: 1, channels: 3 }).p.map((p) => p[0] as number);
    const near = (a: number[], e: number[]) => a.every((v, i) => Math.abs(v - (e[i] as number)) < 0.2);
    assert.ok(near(px(255, 255, 255), [100, 0, 0]), String(px(255, 255, 255)));
    assert.ok(near(px(0, 0, 0), [0, 0, 0]));
    assert.ok(near(px(255, 0, 0), [53.24, 80.09, 67.2]), String(px(255, 0, 0)));
  });

  test('a Laplacian pyramid collapses back to its image, odd sizes included', async () => {
    const img = await rawPhoto('messi5.jpg', 137, 91);
    const L = toLab(img).p[0];
    const levels = pyramidLevels(137, 91);
    assert.equal(levels, 3);
    const pyr = laplacianPyramid({ data: L, width: 137, height: 91 }, levels);
    assert.deepEqual(pyr.bands.map((b) => [b.width, b.height]), [[137, 91], [69, 46], [35, 23]]);
    assert.deepEqual([pyr.residual.width, pyr.residual.height], [18, 12]);
    const back = collapse(pyr).data;
    let err = 0;
    for (let i = 0; i < L.length; i++) err = Math.max(err, Math.abs((back[i] as number) - (L[i] as number)));
    assert.ok(err < 1e-3, `max error ${err}`);
  });
});

describe('style statistics transfer', () => {
  test('strength 0 leaves the image as it was', async () => {
    const content = await rawPhoto('home.jpg', 96, 72);
    const style = await rawPhoto('starry_night.jpg', 96, 72);
    assert.ok(maxDiff(transferStyleStatistics(content, style, 0).data, content.data) <= 1);
  });

  test('strength 1 moves colour statistics onto the reference and keeps the content\'s layout', async () => {
    const content = await rawPhoto('building.jpg', 128, 96);
    const style = await rawPhoto('starry_night.jpg', 128, 96);
    const out = transferStyleStatistics(content, style, 1);
    const [, oa, ob] = toLab(out).p;
    const [, sa, sb] = toLab(style).p;
    const [cL, ca, cb] = toLab(content).p;
    // Colour: a and b means land on the reference's (the content started far from them).
    assert.ok(Math.abs(meanStd(ca).mean - meanStd(sa).mean) + Math.abs(meanStd(cb).mean - meanStd(sb).mean) > 10);
    assert.ok(Math.abs(meanStd(oa).mean - meanStd(sa).mean) < 2, 'a mean');
    assert.ok(Math.abs(meanStd(ob).mean - meanStd(sb).mean) < 2, 'b mean');
    assert.ok(Math.abs(meanStd(ob).std - meanStd(sb).std) < 2, 'b contrast');
    // Layout: the luminance still correlates strongly with the content's.
    const oL = toLab(out).p[0];
    const corr = correlation(cL, oL);
    assert.ok(corr > 0.8, `correlation ${corr}`);
  });

  test('texture energy follows the reference: a grainy reference roughens, a smooth one softens', async () => {
    const content = await rawPhoto('fruits.jpg', 128, 120);
    const noisy = await toRawImage(
      sharp(Buffer.from(Array.from({ length: 128 * 120 * 3 }, (_, i) => (i * 7919) % 251)), {
        raw: { width: 128, height: 120, channels: 3 },
      }),
    );
    const smooth = await toRawImage(sharp(photo('fruits.jpg')).resize(128, 120, { fit: 'cover' }).blur(6));
    const base = fineEnergy(content);
    assert.ok(fineEnergy(transferStyleStatistics(content, noisy, 1)) > base * 2);
    assert.ok(fineEnergy(transferStyleStatistics(content, smooth, 1)) < base * 0.6);
    // Half strength lands in between.
    const half = fineEnergy(transferStyleStatistics(content, noisy, 0.5));
    assert.ok(half > base && half < fineEnergy(transferStyleStatistics(content, noisy, 1)));
  });
});

describe('structure re-injection', () => {
  test('amount 0 returns the generated image; amount 1 takes the coarse layout from the reference', async () => {
    const generated = await rawPhoto('baboon.jpg', 128, 128);
    const reference = await rawPhoto('building.jpg', 128, 128);
    assert.equal(reinjectStructure(generated, reference, 0), generated);
    const out = reinjectStructure(generated, reference, 1);
    const coarse = (img: RawImage) => {
      const levels = pyramidLevels(img.width, img.height);
      return laplacianPyramid({ data: toLab(img).p[0], width: img.width, height: img.height }, levels).residual.data;
    };
    const fine = (img: RawImage) => (laplacianPyramid({ data: toLab(img).p[0], width: img.width, height: img.height }, 1).bands[0] as Plane).data;
    // Coarse luminance now follows the reference, fine detail still the generated image's.
    assert.ok(correlation(coarse(out), coarse(reference)) > 0.95);
    assert.ok(correlation(coarse(out), coarse(generated)) < correlation(coarse(out), coarse(reference)));
    assert.ok(correlation(fine(out), fine(generated)) > 0.9);
    // Colour (a, b) is the generated image's, apart from gamut clipping where the new luminance cannot hold it.
    const [, ga, gb] = toLab(generated).p;
    const [, oa, ob] = toLab(out).p;
    assert.ok(correlation(ga, oa) > 0.8 && correlation(gb, ob) > 0.8);
  });
});

function correlation(a: Float32Array, b: Float32Array): number {
  const ma = meanStd(a);
  const mb = meanStd(b);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += ((a[i] as number) - ma.mean) * ((b[i] as number) - mb.mean);
  return s / a.length / (ma.std * mb.std);
}
