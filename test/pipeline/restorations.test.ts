// Restorations without and around the network: JPEG quality from DQT tables and from pixels, JPEG-artifact
// removal on real photographs, polish on a noisy synthetic image, and upscaleTo's contract (exact sizes, alpha,
// type table, the no-model path, a missing model).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { photo } from './helpers.js';
import { luma, psnr, rawOf } from './image-metrics.js';
import type { RawImage } from '../../src/pipeline/raw-image.js';
import type { ModelContext } from '../../src/pipeline/model-context.js';
import { models, ModelRegistry } from '../../src/models/registry.js';
import { esrganModelId, esrganSpec } from '../../src/models/esrgan.js';
import {
  decompress,
  estimateJpegQuality,
  modelScale,
  polish,
  upscaleRecipe,
  upscaleTo,
  autoStrength,
  UPSCALE_RECIPES,
} from '../../src/pipeline/restorations.js';
import { estimateQualityFromPixels, removeJpegArtifacts } from '../../src/pipeline/jpeg-artifacts.js';
import { stripRanges } from '../../src/pipeline/strips.js';
import { blockiness, detectGrid } from '../../src/pipeline/deblock.js';
import { estimateNoiseSigma, polishImage } from '../../src/pipeline/polish.js';
import { toYCbCr } from '../../src/pipeline/ycbcr.js';
import { AtelierError, UnavailableError, ValidationError } from '../../src/errors.js';

function ctx(registry: ModelRegistry = models): ModelContext {
  return { models: registry, profiling: {} };
}

/**
 * A clean reference from a real photograph: downscaled by 3/4 so its pixels are no longer on the fixture's own
 * JPEG grid (re-encoding an already-decoded JPEG at the same quality is nearly lossless and would hide artefacts).
 */
async function cleanPhoto(name: string): Promise<{ raw: RawImage; png: Buffer }> {
  const meta = await sharp(photo(name)).metadata();
  const png = await sharp(photo(name))
    .resize(Math.round((meta.width as number) * 0.75))
    .png()
    .toBuffer();
  return { raw: await rawOf(png), png };
}

function samePixels(a: RawImage, b: RawImage): boolean {
  return a.width === b.width && a.height === b.height && a.channels === b.channels && a.data.equals(b.data);
}

describe('estimateJpegQuality', () => {
  it('recovers the quality sharp wrote, from the DQT luminance table', async () => {
    const src = photo('fruits.jpg');
    for (const q of [30, 50, 75, 90]) {
      const jpg = await sharp(src).jpeg({ quality: q }).toBuffer();
      const est = estimateJpegQuality(jpg);
      assert.ok(est !== undefined && Math.abs(est - q) <= 5, `quality ${q} estimated as ${est}`);
    }
  });

  it('is exact for IJG tables across the range, progressive files included', async () => {
    const src = photo('messi5.jpg');
    for (const q of [5, 20, 42, 63, 88, 97, 100]) {
      const jpg = await sharp(src).jpeg({ quality: q, progressive: q % 2 === 0 }).toBuffer();
      assert.equal(estimateJpegQuality(jpg), q);
    }
  });

  it('gives an equivalent quality for non-IJG tables (mozjpeg) in the right order', async () => {
    const src = photo('home.jpg');
    const low = estimateJpegQuality(await sharp(src).jpeg({ quality: 40, mozjpeg: true }).toBuffer());
    const high = estimateJpegQuality(await sharp(src).jpeg({ quality: 90, mozjpeg: true }).toBuffer());
    assert.ok(low !== undefined && high !== undefined && low < high, `${low} < ${high}`);
    assert.ok(Math.abs((high as number) - 90) <= 8, `mozjpeg q90 estimated as ${high}`);
  });

  it('answers undefined for anything that is not a JPEG with tables', async () => {
    const png = await sharp(photo('home.jpg')).png().toBuffer();
    assert.equal(estimateJpegQuality(png), undefined);
    assert.equal(estimateJpegQuality(Buffer.from([0xff, 0xd8, 0xff])), undefined);
    assert.equal(estimateJpegQuality(Buffer.alloc(0)), undefined);
    // A header cut before its first DQT.
    const jpg = await sharp(photo('home.jpg')).jpeg({ quality: 50 }).toBuffer();
    assert.equal(estimateJpegQuality(jpg.subarray(0, 4)), undefined);
  });
});

describe('estimateQualityFromPixels', () => {
  it('finds the quality of a decoded JPEG from its block DCT lattice, also after a 90° rotation', async () => {
    const { png } = await cleanPhoto('building.jpg');
    for (const q of [30, 50, 75]) {
      const jpg = await sharp(png).jpeg({ quality: q }).toBuffer();
      const est = estimateQualityFromPixels(await rawOf(jpg));
      assert.ok(est && Math.abs(est.quality - q) <= 2, `q${q}: ${JSON.stringify(est)}`);
      const rotated = estimateQualityFromPixels(await rawOf(sharp(jpg).rotate(90)));
      assert.ok(rotated && Math.abs(rotated.quality - q) <= 2, `q${q} rotated: ${JSON.stringify(rotated)}`);
    }
  });

  it('finds nothing in a never-compressed image, photographic or flat synthetic greys', async () => {
    const { raw } = await cleanPhoto('building.jpg');
    assert.equal(estimateQualityFromPixels(raw), undefined);
    // Flat grey patches on the 8×8 grid: every block's DC is a multiple of 8, which must not read as a JPEG.
    const w = 256;
    const h = 192;
    const data = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const grey = ((x >> 5) * 37 + (y >> 5) * 91) % 256;
        data.set([grey, grey, grey], (y * w + x) * 3);
      }
    }
    const flat: RawImage = { data, width: w, height: h, channels: 3 };
    assert.equal(estimateQualityFromPixels(flat), undefined);
    assert.ok(samePixels(await decompress(flat, 'auto', ctx()), flat));
  });
});

describe('decompress', () => {
  it('lowers blockiness of a quality-20 JPEG and does not lower its PSNR against the original', async () => {
    for (const name of ['messi5.jpg', 'fruits.jpg']) {
      const { raw: original, png } = await cleanPhoto(name);
      const jpg = await sharp(png).jpeg({ quality: 20 }).toBuffer();
      const decoded = await rawOf(jpg);
      const before = blockiness(luma(decoded), decoded.width, decoded.height);
      for (const mode of ['moderate', 'strong'] as const) {
        const c = ctx();
        const out = await decompress(decoded, mode, c, { jpegQuality: estimateJpegQuality(jpg) as number });
        assert.equal(out.width, decoded.width);
        assert.equal(out.height, decoded.height);
        const after = blockiness(luma(out), out.width, out.height);
        const gain = psnr(out, original) - psnr(decoded, original);
        assert.ok(after < before - 0.3, `${name} ${mode}: blockiness ${before.toFixed(2)} → ${after.toFixed(2)}`);
        assert.ok(gain > 0, `${name} ${mode}: PSNR change ${gain.toFixed(2)} dB`);
        assert.equal(c.profiling.decompress_quality, 20);
        assert.match(String(c.profiling.decompress), /POCS/);
      }
    }
  });

  it('strong smooths block edges more than moderate', async () => {
    const { png } = await cleanPhoto('home.jpg');
    const decoded = await rawOf(await sharp(png).jpeg({ quality: 25 }).toBuffer());
    const m = await decompress(decoded, 'moderate', ctx(), { jpegQuality: 25 });
    const s = await decompress(decoded, 'strong', ctx(), { jpegQuality: 25 });
    const bm = blockiness(luma(m), m.width, m.height);
    const bs = blockiness(luma(s), s.width, s.height);
    assert.ok(bs < bm, `strong ${bs.toFixed(3)} < moderate ${bm.toFixed(3)}`);
  });

  it('auto leaves a quality-95 file untouched (identical pixels)', async () => {
    const { png } = await cleanPhoto('fruits.jpg');
    const jpg = await sharp(png).jpeg({ quality: 95 }).toBuffer();
    const decoded = await rawOf(jpg);
    const c = ctx();
    const out = await decompress(decoded, 'auto', c, { jpegQuality: estimateJpegQuality(jpg) as number });
    assert.ok(samePixels(out, decoded));
    assert.match(String(c.profiling.decompress), /skipped/);
  });

  it('auto leaves a never-compressed image untouched and filters a low-quality one found from its pixels', async () => {
    const { raw, png } = await cleanPhoto('messi5.jpg');
    assert.ok(samePixels(await decompress(raw, 'auto', ctx()), raw));
    const decoded = await rawOf(await sharp(png).jpeg({ quality: 30 }).toBuffer());
    const c = ctx();
    const out = await decompress(decoded, 'auto', c);
    assert.ok(!samePixels(out, decoded));
    assert.equal(c.profiling.decompress_quality_source, 'pixels');
    assert.ok(psnr(out, raw) > psnr(decoded, raw));
  });

  it('auto picks the strength from the quality', () => {
    assert.equal(autoStrength(undefined), undefined);
    assert.equal(autoStrength(95), undefined);
    assert.equal(autoStrength(90), undefined);
    assert.equal(autoStrength(75), 'moderate');
    assert.equal(autoStrength(40), 'moderate');
    assert.equal(autoStrength(20), 'strong');
  });

  it('keeps alpha and handles a crop that moved the block grid', async () => {
    const { png } = await cleanPhoto('building.jpg');
    const jpg = await sharp(png).jpeg({ quality: 30 }).toBuffer();
    const cropped = await rawOf(sharp(jpg).extract({ left: 3, top: 5, width: 400, height: 300 }).ensureAlpha(0.5), 4);
    const grid = detectGrid(luma(cropped), cropped.width, cropped.height);
    assert.deepEqual(grid, { x: 5, y: 3 });
    const out = await decompress(cropped, 'moderate', ctx(), { jpegQuality: 30 });
    assert.equal(out.channels, 4);
    for (let i = 3; i < out.data.length; i += 4) assert.equal(out.data[i], cropped.data[i]);
    const b0 = blockiness(luma(cropped), 400, 300, grid);
    const b1 = blockiness(luma(out), 400, 300, grid);
    assert.ok(b1 < b0 - 0.1, `blockiness on the shifted grid ${b0.toFixed(2)} → ${b1.toFixed(2)}`);
  });

  it('rejects an unknown mode with a 422 naming the field', async () => {
    const { raw } = await cleanPhoto('home.jpg');
    await assert.rejects(decompress(raw, 'hard' as 'strong', ctx()), (err: unknown) => {
      assert.ok(err instanceof ValidationError);
      assert.match(err.message, /operations\.restorations\.decompress/);
      return true;
    });
  });
});

describe('polish', () => {
  // Four flat quadrants with sharp edges between them, then Gaussian noise (σ = 12 per channel).
  function noisyQuadrants(seed: number): { clean: RawImage; noisy: RawImage } {
    const w = 160;
    const h = 120;
    const clean = Buffer.alloc(w * h * 3);
    const noisy = Buffer.alloc(w * h * 3);
    const colours = [
      [60, 70, 80],
      [200, 180, 160],
      [120, 40, 40],
      [30, 150, 90],
    ];
    let s = seed >>> 0;
    const rand = () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return (s + 1) / 4294967297;
    };
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const c = colours[(y < h / 2 ? 0 : 2) + (x < w / 2 ? 0 : 1)] as number[];
        for (let k = 0; k < 3; k++) {
          const i = (y * w + x) * 3 + k;
          clean[i] = c[k] as number;
          const g = Math.sqrt(-2 * Math.log(rand())) * Math.cos(2 * Math.PI * rand());
          noisy[i] = Math.max(0, Math.min(255, Math.round((c[k] as number) + 12 * g)));
        }
      }
    }
    return { clean: { data: clean, width: w, height: h, channels: 3 }, noisy: { data: noisy, width: w, height: h, channels: 3 } };
  }

  /** Standard deviation of the luminance inside the four flat quadrants (8 px away from every edge). */
  function flatNoise(img: RawImage): number {
    const l = luma(img);
    let sq = 0;
    let n = 0;
    for (const [x0, y0] of [[8, 8], [88, 8], [8, 68], [88, 68]] as const) {
      const vals: number[] = [];
      for (let y = y0; y < y0 + 44; y++) for (let x = x0; x < x0 + 64; x++) vals.push(l[y * img.width + x] as number);
      const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
      for (const v of vals) {
        sq += (v - mean) ** 2;
        n++;
      }
    }
    return Math.sqrt(sq / n);
  }

  /** Mean luminance step across the vertical edge at x = 80 (difference of pixels 79 and 80, rows 10..49). */
  function edgeStep(img: RawImage): number {
    const l = luma(img);
    let s = 0;
    for (let y = 10; y < 50; y++) s += (l[y * img.width + 80] as number) - (l[y * img.width + 79] as number);
    return s / 40;
  }

  it('lowers noise on a noisy synthetic image while keeping its edges sharp', async () => {
    const { clean, noisy } = noisyQuadrants(7);
    const c = ctx();
    const out = await polish(noisy, c);
    const before = flatNoise(noisy);
    const after = flatNoise(out);
    assert.ok(after < before / 2, `flat-area noise ${before.toFixed(2)} → ${after.toFixed(2)}`);
    const edgeClean = edgeStep(clean);
    const edgeOut = edgeStep(out);
    assert.ok(edgeOut > 0.9 * edgeClean, `edge step ${edgeClean.toFixed(1)} → ${edgeOut.toFixed(1)}`);
    assert.ok(psnr(out, clean) > psnr(noisy, clean) + 3, `PSNR ${psnr(noisy, clean).toFixed(2)} → ${psnr(out, clean).toFixed(2)}`);
    // Luma noise of σ=12 per channel is about 8 levels; the estimate should be in that range.
    const sigma = c.profiling.polish_noise_sigma as number;
    assert.ok(sigma > 6 && sigma < 10, `estimated sigma ${sigma}`);
  });

  it('changes a clean photograph only mildly and keeps alpha', async () => {
    const { raw } = await cleanPhoto('fruits.jpg');
    const withAlpha = await rawOf(sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: 3 } }).ensureAlpha(0.7), 4);
    const out = await polish(withAlpha, ctx());
    assert.ok(psnr(out, withAlpha) > 32, `PSNR vs input ${psnr(out, withAlpha).toFixed(2)}`);
    for (let i = 3; i < out.data.length; i += 4) assert.equal(out.data[i], withAlpha.data[i]);
  });

  it('measures noise, not texture, on a clean textured photo', async () => {
    const { raw } = await cleanPhoto('baboon.jpg');
    const p = toYCbCr(raw);
    assert.ok(estimateNoiseSigma(p.y, raw.width, raw.height) < 4);
  });
});

describe('upscale type table', () => {
  it('maps every type and photo version to a recipe', () => {
    assert.equal(upscaleRecipe('smart_enhance').model, 'medium');
    assert.equal(upscaleRecipe('smart_resize').model, 'medium');
    assert.equal(upscaleRecipe('faces').model, 'medium');
    assert.equal(upscaleRecipe('digital_art').model, 'medium');
    assert.equal(upscaleRecipe('photo'), UPSCALE_RECIPES.photo_v2);
    assert.equal(upscaleRecipe({ type: 'photo', version: '1' }).model, 'slim');
    assert.equal(upscaleRecipe({ type: 'photo', version: '2' }), UPSCALE_RECIPES.photo_v2);
    assert.ok(upscaleRecipe({ type: 'photo', version: '3' }).detailGain > UPSCALE_RECIPES.photo_v2.detailGain);
    assert.throws(() => upscaleRecipe('anime' as 'faces'), ValidationError);
    assert.throws(() => upscaleRecipe('photo_v1' as 'faces'), ValidationError);
    assert.throws(() => upscaleRecipe({ type: 'photo', version: '4' as '1' }), ValidationError);
  });

  it('chooses the smallest network scale that reaches the factor, x4 + Lanczos beyond, none when not larger', () => {
    const from = { width: 100, height: 80 };
    assert.equal(modelScale(from, { width: 100, height: 80 }), undefined);
    assert.equal(modelScale(from, { width: 50, height: 40 }), undefined);
    assert.equal(modelScale(from, { width: 101, height: 80 }), 2);
    assert.equal(modelScale(from, { width: 200, height: 160 }), 2);
    assert.equal(modelScale(from, { width: 201, height: 80 }), 3);
    assert.equal(modelScale(from, { width: 100, height: 240 }), 3);
    assert.equal(modelScale(from, { width: 400, height: 100 }), 4);
    assert.equal(modelScale(from, { width: 800, height: 640 }), 4);
  });
});

describe('upscaleTo', () => {
  it('returns exactly the requested odd size, RGB and RGBA, with alpha scaled by Lanczos', async () => {
    const src = await rawOf(sharp(photo('messi5.jpg')).resize(37, 23).ensureAlpha(), 4);
    // A diagonal alpha ramp so the alpha channel has structure.
    for (let y = 0; y < 23; y++) for (let x = 0; x < 37; x++) src.data[(y * 37 + x) * 4 + 3] = Math.round(((x + y) / 58) * 255);
    const c = ctx();
    const out = await upscaleTo(src, { width: 101, height: 59 }, 'smart_resize', c);
    assert.deepEqual([out.width, out.height, out.channels], [101, 59, 4]);
    assert.equal(c.profiling.upscale_model, esrganModelId('medium', 3));
    const alpha = await sharp(src.data, { raw: { width: 37, height: 23, channels: 4 } })
      .extractChannel(3)
      .resize(101, 59, { fit: 'fill', kernel: 'lanczos3' })
      .raw()
      .toBuffer();
    for (let i = 0; i < 101 * 59; i++) assert.equal(out.data[i * 4 + 3], alpha[i]);
    const rgb = await upscaleTo(await rawOf(sharp(photo('home.jpg')).resize(31, 17)), { width: 95, height: 53 }, 'photo', ctx());
    assert.deepEqual([rgb.width, rgb.height, rgb.channels], [95, 53, 3]);
  });

  it('interpolates without a model when the target is not larger, and says so', async () => {
    const src = await rawOf(sharp(photo('home.jpg')).resize(64, 48));
    const c = ctx();
    const out = await upscaleTo(src, { width: 40, height: 30 }, 'faces', c);
    assert.deepEqual([out.width, out.height], [40, 30]);
    assert.equal(c.profiling.upscale_model, 'none');
    assert.match(String(c.profiling.upscale_method), /not larger/);
    const expected = await sharp(src.data, { raw: { width: 64, height: 48, channels: 3 } })
      .resize(40, 30, { fit: 'fill', kernel: 'lanczos3' })
      .raw()
      .toBuffer();
    assert.ok(out.data.equals(expected));
  });

  it('every type runs and differs only by the documented steps', async () => {
    const src = await rawOf(sharp(photo('fruits.jpg')).resize(48, 45));
    const size = { width: 96, height: 90 };
    const results = new Map<string, RawImage>();
    for (const type of ['smart_enhance', 'smart_resize', 'faces', 'digital_art', 'photo'] as const) {
      const c = ctx();
      results.set(type, await upscaleTo(src, size, type, c));
      assert.match(String(c.profiling.upscale_method), /esrgan-/);
    }
    const v1 = ctx();
    results.set('photo_v1', await upscaleTo(src, size, { type: 'photo', version: '1' }, v1));
    assert.equal(v1.profiling.upscale_model, esrganModelId('slim', 2));
    results.set('photo_v3', await upscaleTo(src, size, { type: 'photo', version: '3' }, ctx()));
    // smart_resize and faces are the same recipe today: identical output.
    assert.ok(samePixels(results.get('smart_resize') as RawImage, results.get('faces') as RawImage));
    assert.ok(!samePixels(results.get('photo_v1') as RawImage, results.get('smart_resize') as RawImage));
    assert.ok(!samePixels(results.get('photo_v3') as RawImage, results.get('photo') as RawImage));
  });

  it('answers 503 model_not_installed when the model package is missing', async () => {
    const registry = new ModelRegistry();
    const spec = { ...esrganSpec('medium', 2), package: '@upscalerjs/esrgan-not-installed' };
    registry.register(spec, async () => {
      throw new Error('must not load');
    });
    const src = await rawOf(sharp(photo('home.jpg')).resize(20, 15));
    await assert.rejects(upscaleTo(src, { width: 40, height: 30 }, 'smart_resize', ctx(registry)), (err: unknown) => {
      assert.ok(err instanceof UnavailableError);
      assert.equal((err as AtelierError).status, 503);
      assert.equal((err as AtelierError).code, 'model_not_installed');
      assert.match(err.message, /esrgan-not-installed/);
      return true;
    });
  });

  it('rejects a non-integer target size', async () => {
    const src = await rawOf(sharp(photo('home.jpg')).resize(20, 15));
    await assert.rejects(upscaleTo(src, { width: 40.5, height: 30 }, 'smart_resize', ctx()), ValidationError);
  });
});

describe('strip processing', () => {
  it('aligns strip boundaries to the block grid and covers every row once', () => {
    const ranges = stripRanges(1000, { rows: 100, halo: 24, align: { phase: 3, period: 8 } });
    assert.equal(ranges[0]?.start, 0);
    assert.equal(ranges[ranges.length - 1]?.end, 1000);
    for (let i = 1; i < ranges.length; i++) {
      assert.equal(ranges[i]?.start, ranges[i - 1]?.end);
      assert.equal((ranges[i]?.start as number) % 8, 3);
    }
  });

  it('gives the same pixels as filtering the whole image at once (decompress and polish)', async () => {
    const { png } = await cleanPhoto('building.jpg');
    // A crop moves the grid to phase (5, 3), so strips must follow it.
    const jpg = await sharp(png).jpeg({ quality: 25 }).toBuffer();
    const img = await rawOf(sharp(jpg).extract({ left: 3, top: 5, width: 500, height: 400 }));
    for (const strength of ['moderate', 'strong'] as const) {
      const whole = removeJpegArtifacts(img, strength, 25, 'file', 10_000_000);
      const strips = removeJpegArtifacts(img, strength, 25, 'file', 500 * 70);
      assert.ok(whole.report.projected);
      assert.ok(samePixels(whole.image, strips.image), `${strength}: strips differ from the whole image`);
    }
    const whole = polishImage(img, 10_000_000);
    const strips = polishImage(img, 500 * 70);
    assert.ok(samePixels(whole.image, strips.image), 'polish: strips differ from the whole image');
  });
});
