// The ESRGAN (UpscalerJS RDN) adapter: tile plan and blend weights, the ONNX conversion against TF.js on the
// shipped weights, tiled against untiled output (no seams), and super-resolution quality against bicubic and Lanczos
// on real photographs downscaled by 2 and 4.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import type * as TF from '@tensorflow/tfjs';
import { photo } from '../pipeline/helpers.js';
import { psnr, rawOf, ssim, sharpness } from '../pipeline/image-metrics.js';
import { join } from 'node:path';
import { models, packageRoot } from '../../src/models/registry.js';
import { fileHandler, tfjs } from '../../src/models/runtime/tfjs.js';
import { esrganModelId, esrganSpec, esrganUpscale, spanWeights, tileSpans, type EsrganNet, type Span } from '../../src/models/esrgan.js';
import { upscaleTo } from '../../src/pipeline/restorations.js';
import type { RawImage } from '../../src/pipeline/raw-image.js';

describe('tile plan', () => {
  it('covers the length with spans of at most `tile`, overlapping by at least `overlap`', () => {
    for (const [length, tile, overlap] of [
      [100, 224, 32],
      [224, 224, 32],
      [225, 224, 32],
      [1000, 224, 32],
      [777, 80, 24],
      [4096, 256, 40],
    ] as const) {
      const spans = tileSpans(length, tile, overlap);
      assert.equal((spans[0] as Span).start, 0);
      assert.equal((spans[spans.length - 1] as Span).end, length);
      for (let i = 0; i < spans.length; i++) {
        const s = spans[i] as Span;
        assert.ok(s.end - s.start <= tile && s.end > s.start);
        if (i > 0) assert.ok((spans[i - 1] as Span).end - s.start >= overlap, `${length}/${tile}/${overlap}: overlap at ${i}`);
      }
      if (length <= tile) assert.equal(spans.length, 1);
    }
    assert.throws(() => tileSpans(500, 64, 32));
  });

  it('blend weights sum to exactly one at every output pixel and are zero in the margins', () => {
    for (const [length, tile, overlap, margin, scale] of [
      [500, 128, 32, 8, 2],
      [333, 96, 24, 6, 3],
      [1000, 224, 32, 8, 4],
    ] as const) {
      const spans = tileSpans(length, tile, overlap);
      const total = new Float64Array(length * scale);
      spans.forEach((s, i) => {
        const w = spanWeights(spans, i, scale, margin);
        w.forEach((v, k) => {
          total[s.start * scale + k] = (total[s.start * scale + k] as number) + v;
        });
        // No weight on the output pixels of the first `margin` input pixels after a shared left edge.
        if (i > 0) for (let k = 0; k < margin * scale; k++) assert.equal(w[k], 0);
        if (i < spans.length - 1) for (let k = w.length - margin * scale; k < w.length; k++) assert.equal(w[k], 0);
      });
      for (let k = 0; k < total.length; k++) assert.ok(Math.abs((total[k] as number) - 1) < 1e-6, `sum ${total[k]} at ${k}`);
    }
  });
});

async function net(size: 'slim' | 'medium', scale: 2 | 3 | 4): Promise<EsrganNet> {
  return models.get<EsrganNet>(esrganModelId(size, scale));
}

function fromTensorData(data: Float32Array, width: number, height: number): RawImage {
  const out = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) out[i] = Math.max(0, Math.min(255, Math.round(data[i] as number)));
  return { data: out, width, height, channels: 3 };
}

describe('ESRGAN network', () => {
  it('the ONNX conversion gives what TF.js computes from the shipped esrgan-slim x2 model', async (t) => {
    const tf = await tfjs();
    // A 48×40 patch of the photo at its own resolution (fur and whiskers: plenty of detail for the network).
    const src = await rawOf(sharp(photo('baboon.jpg')).extract({ left: 230, top: 300, width: 48, height: 40 }));
    const path = join(packageRoot(esrganSpec('slim', 2).package) as string, 'models', 'x2', 'model.json');
    const reference = await tf.loadLayersModel(fileHandler(path));
    const y = tf.tidy(() => reference.predict(tf.tensor4d(Float32Array.from(src.data), [1, 40, 48, 3])) as TF.Tensor);
    const expected = fromTensorData((await y.data()) as Float32Array, 96, 80);
    y.dispose();
    reference.dispose();
    const mine = await esrganUpscale(await net('slim', 2), src);
    assert.deepEqual([mine.width, mine.height], [96, 80]);
    let maxDiff = 0;
    let differing = 0;
    for (let i = 0; i < mine.data.length; i++) {
      const d = Math.abs((mine.data[i] as number) - (expected.data[i] as number));
      maxDiff = Math.max(maxDiff, d);
      if (d > 0) differing++;
    }
    t.diagnostic(`onnxruntime vs TF.js: max ${maxDiff} levels, ${differing} of ${mine.data.length} values differ`);
    assert.ok(maxDiff <= 1, `max difference ${maxDiff}`);
    // Rounding aside the two agree: only values within float error of a .5 boundary may differ.
    assert.ok(differing < mine.data.length / 1000, `${differing} values differ`);
  });

  it('tiled output equals untiled output within rounding, with no seam at tile borders', async (t) => {
    const src = await rawOf(sharp(photo('fruits.jpg')).resize(144, 112));
    const n = await net('medium', 2);
    const tiling = { tile: 80, overlap: 24, margin: 6 };
    const untiled = await esrganUpscale(n, src, { tile: 1024 });
    const tiled = await esrganUpscale(n, src, tiling);
    assert.deepEqual([tiled.width, tiled.height], [288, 224]);
    let maxDiff = 0;
    let sum = 0;
    for (let i = 0; i < tiled.data.length; i++) {
      const d = Math.abs((tiled.data[i] as number) - (untiled.data[i] as number));
      maxDiff = Math.max(maxDiff, d);
      sum += d;
    }
    const meanDiff = sum / tiled.data.length;
    t.diagnostic(`tiled vs untiled: max ${maxDiff} levels, mean ${meanDiff.toFixed(5)} levels`);
    assert.ok(maxDiff <= 3 && meanDiff < 0.05, `max ${maxDiff}, mean ${meanDiff.toFixed(4)}`);
    // Seams: at every output column and row where a tile starts or ends, the step between neighbouring columns
    // (rows) must be what the untiled image has there.
    const W = tiled.width;
    const H = tiled.height;
    const colStep = (img: RawImage, x: number) => {
      let s = 0;
      for (let y = 0; y < H; y++) for (let c = 0; c < 3; c++) s += Math.abs((img.data[(y * W + x) * 3 + c] as number) - (img.data[(y * W + x - 1) * 3 + c] as number));
      return s / (H * 3);
    };
    const rowStep = (img: RawImage, y: number) => {
      let s = 0;
      for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) s += Math.abs((img.data[(y * W + x) * 3 + c] as number) - (img.data[((y - 1) * W + x) * 3 + c] as number));
      return s / (W * 3);
    };
    const borders = (spans: Span[]) => spans.flatMap((s) => [s.start * 2, s.end * 2]).filter((v, i, a) => v > 0 && v < a[a.length - 1]! && a.indexOf(v) === i);
    for (const x of borders(tileSpans(144, tiling.tile, tiling.overlap))) {
      const d = Math.abs(colStep(tiled, x) - colStep(untiled, x));
      assert.ok(d < 0.1, `column ${x}: step differs by ${d.toFixed(3)}`);
    }
    for (const y of borders(tileSpans(112, tiling.tile, tiling.overlap))) {
      const d = Math.abs(rowStep(tiled, y) - rowStep(untiled, y));
      assert.ok(d < 0.1, `row ${y}: step differs by ${d.toFixed(3)}`);
    }
  });

  it('stops between tiles when the request is aborted', async () => {
    const src = await rawOf(sharp(photo('home.jpg')).resize(64, 48));
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(esrganUpscale(await net('slim', 2), src, { signal: controller.signal, tile: 56, overlap: 16, margin: 4 }), {
      name: 'AbortError',
    });
  });
});

describe('super-resolution quality against interpolation', () => {
  // Each photo is centre-cropped to a size divisible by 4 (the reference), shrunk with bicubic (the degradation
  // the networks were trained on), then brought back by upscaleTo, sharp's bicubic and sharp's Lanczos-3 (libvips
  // enlarges with its bicubic interpolator for both kernels, so those two give the same pixels today).
  const cases = [
    { name: 'fruits.jpg', width: 256, height: 240 },
    { name: 'building.jpg', width: 256, height: 176 },
  ];
  for (const factor of [2, 4] as const) {
    it(`beats bicubic and Lanczos on PSNR and SSIM at ${factor}×`, async (t) => {
      for (const c of cases) {
        const reference = await rawOf(sharp(photo(c.name)).resize(c.width, c.height, { fit: 'cover' }));
        const small = await rawOf(
          sharp(reference.data, { raw: { width: c.width, height: c.height, channels: 3 } }).resize(c.width / factor, c.height / factor, { kernel: 'cubic' }),
        );
        const size = { width: c.width, height: c.height };
        const ctx = { models, profiling: {} as Record<string, unknown> };
        const model = await upscaleTo(small, size, 'smart_resize', ctx);
        assert.equal(ctx.profiling.upscale_model, esrganModelId('medium', factor));
        const interp = async (kernel: 'cubic' | 'lanczos3') =>
          rawOf(sharp(small.data, { raw: { width: small.width, height: small.height, channels: 3 } }).resize(c.width, c.height, { kernel }));
        const cubic = await interp('cubic');
        const lanczos = await interp('lanczos3');
        // PSNR ignores an 8-pixel border, where every method guesses past the image's edge.
        const row = (label: string, img: RawImage) =>
          `${label} PSNR ${psnr(img, reference, 8).toFixed(2)} dB, SSIM ${ssim(img, reference).toFixed(4)}, sharpness ${sharpness(img).toFixed(2)}`;
        t.diagnostic(`${c.name} ${factor}×: ${row('esrgan-medium', model)} | ${row('bicubic', cubic)} | ${row('lanczos3', lanczos)}`);
        for (const base of [cubic, lanczos]) {
          assert.ok(psnr(model, reference, 8) > psnr(base, reference, 8), `${c.name} ${factor}× PSNR`);
          assert.ok(ssim(model, reference) > ssim(base, reference), `${c.name} ${factor}× SSIM`);
        }
      }
    });
  }
});
