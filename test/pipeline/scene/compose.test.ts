// Scene layers and compositing: exactness where a layer is transparent or opaque, the placed object's
// raster, lock-mode harmonisation, and the inpainting mask.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { photo } from '../../support/images.js';
import { toRawImage, type RawImage } from '../../../src/pipeline/raw-image.js';
import { labStats, labToSrgb, lightWrap, matchColours, srgbToLab, surroundings, transferLab } from '../../../src/pipeline/scene/harmonise.js';
import { dilateMask, repaintMask } from '../../../src/pipeline/scene/inpaint.js';
import { alphaPlane, applyShadow, compositeOver, emptyLayer, layerFromRaw, renderObjectLayer, solidLayer } from '../../../src/pipeline/scene/layers.js';
import { alphaBounds, planPlacement } from '../../../src/pipeline/scene/placement.js';
import { composeScene, layerForEncoding, objectShadow, recompose } from '../../../src/pipeline/scene/render.js';
import { shadowStyle } from '../../../src/pipeline/scene/shadow.js';

/** A 120×200 RGBA object: an opaque orange body with soft edges, transparent around it. */
async function product(): Promise<RawImage> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="120" height="200">
    <rect x="20" y="30" width="80" height="160" rx="12" fill="#e07020"/></svg>`;
  return toRawImage(sharp(Buffer.from(svg)).ensureAlpha());
}

describe('compositeOver', () => {
  it('keeps the destination where the source is transparent and copies it where opaque', () => {
    const dst = solidLayer({ width: 3, height: 1 }, { r: 10, g: 20, b: 30, alpha: 255 });
    const src = emptyLayer({ width: 3, height: 1 });
    src.data.set([200, 100, 50, 255], 4);
    src.data.set([200, 100, 50, 128], 8);
    compositeOver(dst, src);
    assert.deepEqual([...dst.data.subarray(0, 4)], [10, 20, 30, 255]);
    assert.deepEqual([...dst.data.subarray(4, 8)], [200, 100, 50, 255]);
    const half = [...dst.data.subarray(8, 12)];
    assert.deepEqual(half, [Math.round(200 * (128 / 255) + 10 * (127 / 255)), Math.round(100 * (128 / 255) + 20 * (127 / 255)), Math.round(50 * (128 / 255) + 30 * (127 / 255)), 255]);
  });

  it('over a transparent destination keeps the source colour and alpha', () => {
    const dst = emptyLayer({ width: 1, height: 1 });
    const src = emptyLayer({ width: 1, height: 1 });
    src.data.set([90, 80, 70, 64]);
    compositeOver(dst, src);
    assert.deepEqual([...dst.data], [90, 80, 70, 64]);
  });
});

describe('applyShadow', () => {
  it('darkens opaque pixels by the opacity and leaves black alpha on transparent ones', () => {
    const opaque = solidLayer({ width: 2, height: 1 }, { r: 200, g: 100, b: 50, alpha: 255 });
    applyShadow(opaque, Uint8Array.from([0, 51]));
    assert.deepEqual([...opaque.data], [200, 100, 50, 255, 160, 80, 40, 255]);
    const clear = emptyLayer({ width: 2, height: 1 });
    applyShadow(clear, Uint8Array.from([0, 51]));
    assert.deepEqual([...clear.data], [0, 0, 0, 0, 0, 0, 0, 51]);
  });
});

describe('renderObjectLayer', () => {
  it('copies the pixels unchanged at 1:1 and clips at the scene edges', async () => {
    const img = await product();
    const box = alphaBounds(img.data, img.width, img.height, 4)!;
    const scene = { width: 120, height: 200 };
    const layer = await renderObjectLayer(img, planPlacement({ type: 'original' }, scene, box, scene), scene);
    assert.ok(layer.data.equals(layerFromRaw(img).data), 'identity placement copies the input');
    // Centre on the left edge: only the right half is visible.
    const clipped = await renderObjectLayer(img, planPlacement({ type: 'absolute', x: 0, y: 0.5, scale: 0.5, rotation: 0 }, img, box, { width: 400, height: 400 }), { width: 400, height: 400 });
    assert.ok(clipped.bounds);
    assert.equal(clipped.bounds.left, 0);
    assert.ok(clipped.bounds.width < 60, `half of a ~100 px wide object: ${clipped.bounds.width}`);
  });

  it('turns clockwise: a tall object at 90 degrees becomes wide', async () => {
    const img = await product();
    const box = alphaBounds(img.data, img.width, img.height, 4)!;
    const scene = { width: 600, height: 600 };
    const layer = await renderObjectLayer(img, planPlacement({ type: 'absolute', x: 0.5, y: 0.5, scale: 0.5, rotation: 90 }, img, box, scene), scene);
    assert.ok(layer.bounds);
    assert.ok(layer.bounds.width > 1.9 * layer.bounds.height, `${layer.bounds.width}×${layer.bounds.height}`);
    // Fits half the scene: the turned box is 300 wide.
    assert.ok(Math.abs(layer.bounds.width - 300) <= 2, `${layer.bounds.width}`);
    assert.ok(Math.abs(layer.bounds.left + layer.bounds.width / 2 - 300) <= 1.5);
  });
});

describe('lock compositing', () => {
  it('keeps every template pixel outside the object and its shadow exactly', async () => {
    const template = layerFromRaw(await toRawImage(sharp(photo('fruits.jpg'))));
    const scene = { width: template.width, height: template.height };
    const img = await product();
    const box = alphaBounds(img.data, img.width, img.height, 4)!;
    const object = await renderObjectLayer(img, planPlacement({ type: 'absolute', x: 0.4, y: 0.45, scale: 0.5, rotation: 0 }, img, box, scene), scene);
    const before = Buffer.from(template.data);
    matchColours(object, template);
    await lightWrap(object, template, 2);
    for (const view of ['front', 'top'] as const) {
      const shadow = await objectShadow(object, shadowStyle(view, 0));
      const out = composeScene(template, shadow, object);
      assert.ok(template.data.equals(before), 'the template layer itself is not modified');
      let kept = 0;
      let changed = 0;
      for (let p = 0; p < shadow.length; p++) {
        const untouched = shadow[p] === 0 && object.data[p * 4 + 3] === 0;
        const same = out.data.compare(template.data, p * 4, p * 4 + 4, p * 4, p * 4 + 4) === 0;
        if (untouched) {
          assert.ok(same, `${view}: pixel ${p % scene.width},${Math.floor(p / scene.width)} changed outside object and shadow`);
          kept++;
        } else if (!same) changed++;
      }
      assert.ok(kept > 0.8 * shadow.length, `${view}: most of the template is kept (${kept})`);
      assert.ok(changed > 0.05 * shadow.length, `${view}: the object and shadow are there (${changed} of ${shadow.length}, kept ${kept})`);
    }
  });

  it('moves the object colour partially towards the template and changes the rim by light wrap', async () => {
    const scene = { width: 300, height: 300 };
    const blueRoom = solidLayer(scene, { r: 40, g: 60, b: 160, alpha: 255 });
    const img = await product();
    const box = alphaBounds(img.data, img.width, img.height, 4)!;
    const object = await renderObjectLayer(img, planPlacement({ type: 'absolute', x: 0.5, y: 0.5, scale: 0.6, rotation: 0 }, img, box, scene), scene);
    const centre = (150 * 300 + 150) * 4;
    const original = [...object.data.subarray(centre, centre + 3)];
    const stats = matchColours(object, blueRoom);
    assert.ok(stats);
    const moved = [...object.data.subarray(centre, centre + 3)];
    const [, , bOrig] = srgbToLab(original[0]!, original[1]!, original[2]!);
    const [, , bMoved] = srgbToLab(moved[0]!, moved[1]!, moved[2]!);
    assert.ok(bMoved < bOrig - 2, `b* moved towards the blue room: ${bOrig.toFixed(1)} → ${bMoved.toFixed(1)}`);
    assert.ok(Math.abs(moved[0]! - original[0]!) < 40, 'only partially');
    const rimX = object.bounds!.left + 1;
    const rim = (150 * 300 + rimX) * 4;
    const rimBefore = [...object.data.subarray(rim, rim + 3)];
    await lightWrap(object, blueRoom, 3);
    const rimAfter = [...object.data.subarray(rim, rim + 3)];
    assert.ok(rimAfter[2]! > rimBefore[2]!, `rim takes on the blue: ${rimBefore} → ${rimAfter}`);
    assert.deepEqual([...object.data.subarray(centre, centre + 3)], moved, 'the interior is untouched by light wrap');
  });

  it('Lab conversions round-trip and a full-strength transfer reaches the target statistics', () => {
    for (const [r, g, b] of [
      [0, 0, 0],
      [255, 255, 255],
      [224, 112, 32],
      [12, 200, 90],
      [128, 128, 128],
    ] as const) {
      const [l, a, bb] = srgbToLab(r, g, b);
      assert.deepEqual(labToSrgb(l, a, bb), [r, g, b]);
    }
    const from = { mean: [50, 10, -10] as [number, number, number], std: [10, 5, 5] as [number, number, number] };
    const to = { mean: [60, 0, 0] as [number, number, number], std: [12, 5, 5] as [number, number, number] };
    assert.deepEqual(transferLab([50, 10, -10], from, to, { lightness: 1, chroma: 1 }), [60, 0, 0]);
    assert.deepEqual(transferLab([60, 10, -10], from, to, { lightness: 1, chroma: 1 }), [72, 0, 0]);
    assert.deepEqual(transferLab([50, 10, -10], from, to, { lightness: 0, chroma: 0 }), [50, 10, -10]);
    const layer = solidLayer({ width: 4, height: 4 }, { r: 128, g: 128, b: 128, alpha: 255 });
    const stats = labStats(layer, { left: 0, top: 0, width: 4, height: 4 })!;
    assert.ok(Math.abs(stats.std[0]) < 1e-4, `flat layer spread ${stats.std[0]}`);
    assert.deepEqual(surroundings({ left: 10, top: 10, width: 20, height: 20 }, { width: 35, height: 100 }), { left: 0, top: 0, width: 35, height: 40 });
  });
});

describe('diffusion inputs', () => {
  it('dilateMask grows a pixel into a square of radius r, clipped at the edges', () => {
    const size = { width: 7, height: 5 };
    const mask = new Uint8Array(35);
    mask[2 * 7 + 3] = 1;
    const grown = dilateMask(mask, size, 1);
    const set = [...grown].map((v, i) => (v ? i : -1)).filter((i) => i >= 0);
    assert.deepEqual(set, [9, 10, 11, 16, 17, 18, 23, 24, 25]);
    const corner = new Uint8Array(35);
    corner[0] = 1;
    assert.equal([...dilateMask(corner, size, 2)].filter(Boolean).length, 9);
  });

  it('repaints everything but the solid object, reaching a little way into it', async () => {
    const img = await product();
    const object = layerFromRaw(img);
    const mask = repaintMask(object, 2);
    assert.equal(mask.channels, 1);
    const at = (x: number, y: number) => mask.data[y * img.width + x];
    assert.equal(at(60, 100), 0, 'object interior kept');
    assert.equal(at(5, 5), 255, 'background repainted');
    assert.equal(at(21, 100), 255, 'the soft edge is repainted');
    assert.equal(at(24, 100), 0, 'a few pixels in, the object is kept');
  });

  it('puts the object back over a generated background from its own pixels', async () => {
    const img = await product();
    const scene = { width: 240, height: 400 };
    const object = await renderObjectLayer(img, planPlacement({ type: 'absolute', x: 0.5, y: 0.5, scale: 0.8, rotation: 0 }, img, alphaBounds(img.data, 120, 200, 4)!, scene), scene);
    // A "generated" image at a different (working) size that painted over the object too.
    const generated: RawImage = { data: Buffer.alloc(128 * 192 * 3, 90), width: 128, height: 192, channels: 3 };
    const out = await recompose(generated, scene, object);
    assert.deepEqual([out.width, out.height], [240, 400]);
    const a = alphaPlane(object);
    for (let p = 0; p < a.length; p++) {
      if (a[p] === 255) assert.ok(out.data.compare(object.data, p * 4, p * 4 + 4, p * 4, p * 4 + 4) === 0, `object pixel ${p}`);
      if (a[p] === 0) assert.deepEqual([...out.data.subarray(p * 4, p * 4 + 4)], [90, 90, 90, 255]);
    }
    assert.equal(layerForEncoding(out).channels, 3, 'an opaque result is encoded without alpha');
  });
});
