import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { applyAdjustments, cropX, hasAdjustments, sharpenParams, wrapPadX } from '../../src/pipeline/adjustments.js';
import {
  axisWeights,
  claheApply,
  claheGrid,
  claheTileMaps,
  clipHistogram,
  resolveHdr,
} from '../../src/pipeline/hdr.js';
import { toRawImage, type RawImage } from '../../src/pipeline/raw-image.js';
import {
  buildToneLut,
  contrastCurve,
  exposureGain,
  exposureToEv,
  fastLightness,
  inGamutChromaScale,
  lightnessFromLuminance,
  linearToSrgb,
  luminanceFromLightness,
  saturationFactor,
  scaleSaturation,
  srgbToLinear,
} from '../../src/pipeline/tone.js';

const FIXTURES = new URL('../fixtures/debian/', import.meta.url);
const photo = (name: string): Promise<RawImage> => toRawImage(sharp(new URL(name, FIXTURES).pathname));

// ---- measurements --------------------------------------------------------------------------------------

function luma(img: RawImage): Float64Array {
  const n = img.width * img.height;
  const out = new Float64Array(n);
  for (let p = 0; p < n; p++) {
    const i = p * img.channels;
    out[p] = 0.2126 * img.data[i]! + 0.7152 * img.data[i + 1]! + 0.0722 * img.data[i + 2]!;
  }
  return out;
}

function mean(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]!;
  return s / values.length;
}

function std(values: ArrayLike<number>): number {
  const m = mean(values);
  let s = 0;
  for (let i = 0; i < values.length; i++) s += (values[i]! - m) ** 2;
  return Math.sqrt(s / values.length);
}

/** Mean of max(R,G,B) − min(R,G,B): a simple chroma measure, 0 for grey. */
function meanChroma(img: RawImage): number {
  let s = 0;
  const n = img.width * img.height;
  for (let p = 0; p < n; p++) {
    const i = p * img.channels;
    const r = img.data[i]!;
    const g = img.data[i + 1]!;
    const b = img.data[i + 2]!;
    s += Math.max(r, g, b) - Math.min(r, g, b);
  }
  return s / n;
}

/** Variance of the 4-neighbour Laplacian of luma: high-frequency energy. */
function laplacianVariance(img: RawImage): number {
  const y = luma(img);
  const { width: w, height: h } = img;
  const values: number[] = [];
  for (let r = 1; r < h - 1; r++) {
    for (let c = 1; c < w - 1; c++) {
      const p = r * w + c;
      values.push(4 * y[p]! - y[p - 1]! - y[p + 1]! - y[p - w]! - y[p + w]!);
    }
  }
  return std(values) ** 2;
}

/** Standard deviation of luma inside a rectangle. */
function regionStd(img: RawImage, x0: number, y0: number, x1: number, y1: number): number {
  const y = luma(img);
  const values: number[] = [];
  for (let r = y0; r < y1; r++) for (let c = x0; c < x1; c++) values.push(y[r * img.width + c]!);
  return std(values);
}

/** Mean absolute difference between the first and the last column, over all colour channels. */
function seam(img: RawImage): number {
  let s = 0;
  const { width, height, channels } = img;
  for (let r = 0; r < height; r++) {
    for (let c = 0; c < 3; c++) {
      s += Math.abs(img.data[(r * width) * channels + c]! - img.data[(r * width + width - 1) * channels + c]!);
    }
  }
  return s / (height * 3);
}

function alphaOf(img: RawImage): Buffer {
  const out = Buffer.alloc(img.width * img.height);
  for (let p = 0; p < out.length; p++) out[p] = img.data[p * 4 + 3]!;
  return out;
}

/** Deterministic pseudo-random texture so synthetic tests do not depend on Math.random. */
function noise(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

function synthetic(width: number, height: number, channels: 3 | 4, f: (x: number, y: number, c: number) => number): RawImage {
  const data = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        data[(y * width + x) * channels + c] = Math.max(0, Math.min(255, Math.round(f(x, y, c))));
      }
    }
  }
  return { data, width, height, channels };
}

// ---- pure maths ----------------------------------------------------------------------------------------

describe('tone maths', () => {
  it('sRGB transfer functions are inverse to each other', () => {
    for (let v = 0; v <= 1; v += 0.01) assert.ok(Math.abs(linearToSrgb(srgbToLinear(v)) - v) < 1e-9);
    assert.ok(Math.abs(srgbToLinear(0.5) - 0.214) < 0.001);
  });

  it('CIE lightness and luminance round-trip, and the fast table agrees with the formula', () => {
    for (let l = 0; l <= 100; l += 2.5) assert.ok(Math.abs(lightnessFromLuminance(luminanceFromLightness(l)) - l) < 1e-9);
    assert.ok(Math.abs(lightnessFromLuminance(0.18) - 49.5) < 0.1);
    for (let y = 0; y <= 1; y += 0.0013) assert.ok(Math.abs(fastLightness(y) - lightnessFromLuminance(y)) < 0.01);
  });

  it('maps exposure ±100 to ±2 EV', () => {
    assert.equal(exposureToEv(100), 2);
    assert.equal(exposureToEv(-50), -1);
    assert.equal(exposureGain(100), 4);
    assert.equal(exposureGain(-100), 0.25);
    assert.equal(exposureGain(0), 1);
  });

  it('contrast curves keep black, mid-grey and white, and bend the right way', () => {
    for (const c of [-100, -40, 0, 40, 100]) {
      const f = contrastCurve(c);
      assert.ok(Math.abs(f(0.5) - 0.5) < 1e-9, `mid-grey moved for ${c}`);
      let previous = -Infinity;
      for (let v = 0; v <= 1; v += 0.01) {
        assert.ok(f(v) >= previous, `curve ${c} not monotonic`);
        previous = f(v);
      }
      if (c >= 0) {
        assert.ok(Math.abs(f(0)) < 1e-9 && Math.abs(f(1) - 1) < 1e-9);
      }
    }
    assert.ok(contrastCurve(60)(0.25) < 0.25 && contrastCurve(60)(0.75) > 0.75);
    assert.ok(contrastCurve(-60)(0.25) > 0.25 && contrastCurve(-60)(0.75) < 0.75);
    assert.ok(contrastCurve(100)(0.25) < contrastCurve(50)(0.25));
  });

  it('the tone table is the identity at zero and brightens or darkens monotonically', () => {
    const identity = buildToneLut(0, 0);
    for (let i = 0; i < 256; i++) assert.equal(identity[i], i);
    const up = buildToneLut(50, 0);
    const down = buildToneLut(-50, 0);
    for (let i = 1; i < 255; i++) {
      assert.ok(up[i]! >= i && down[i]! <= i);
      assert.ok(up[i]! >= up[i - 1]!);
    }
    assert.equal(up[128], Math.round(linearToSrgb(srgbToLinear(128 / 255) * 2 ** 1) * 255));
  });

  it('chroma scaling stays in gamut and never exceeds the wanted factor', () => {
    const y = 0.3;
    const t = inGamutChromaScale(y, 0.9, 0.2, 0.05, 3);
    assert.ok(t <= 3 && t > 1);
    for (const c of [0.9, 0.2, 0.05]) {
      const v = y + t * (c - y);
      assert.ok(v >= -1e-9 && v <= 1 + 1e-9);
    }
    assert.equal(inGamutChromaScale(0.5, 0.5, 0.5, 0.5, 2), 2);
    assert.equal(saturationFactor(-100), 0);
    assert.equal(saturationFactor(100), 2);
  });

  it('saturation factor 0 gives exact grey and keeps alpha', () => {
    const px = Uint8Array.from([200, 30, 90, 77, 10, 250, 40, 5]);
    const out = scaleSaturation(px, 4, 0);
    assert.equal(out[0], out[1]);
    assert.equal(out[1], out[2]);
    assert.equal(out[4], out[5]);
    assert.equal(out[3], 77);
    assert.equal(out[7], 5);
  });
});

describe('hdr maths', () => {
  it('resolves the contract defaults', () => {
    assert.equal(resolveHdr(undefined), null);
    assert.equal(resolveHdr(0), null);
    assert.equal(resolveHdr({ intensity: 0, stitching: true }), null);
    assert.deepEqual(resolveHdr(40), { amount: 0.4, stitching: false });
    assert.deepEqual(resolveHdr({}), { amount: 1, stitching: false });
    assert.deepEqual(resolveHdr({ stitching: true }), { amount: 1, stitching: true });
  });

  it('sizes the tile grid from the shorter side', () => {
    assert.deepEqual(claheGrid(800, 400), { tilesX: 16, tilesY: 8 });
    assert.deepEqual(claheGrid(10, 10), { tilesX: 1, tilesY: 1 });
  });

  it('clipping caps bins and keeps the total count', () => {
    const hist = new Float64Array(256);
    hist[10] = 1000;
    hist[20] = 24;
    clipHistogram(hist, 100);
    const total = hist.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(total - 1024) < 1e-9);
    assert.ok(hist[10]! <= 100 + 924 / 256 + 1e-9);
    assert.ok(hist[0]! > 0);
  });

  it('an evenly spread histogram maps every value (almost) to itself', () => {
    const plane = new Uint8Array(256 * 4).map((_, i) => i % 256);
    const grid = { tilesX: 1, tilesY: 1 };
    const maps = claheTileMaps(plane, 256, 4, grid);
    for (let v = 0; v < 256; v++) assert.ok(Math.abs(maps[v]! - v) <= 0.5);
    const mapped = claheApply(plane, 256, 4, grid, maps, false);
    for (let i = 0; i < 256; i++) assert.ok(Math.abs(mapped[i]! / 257 - i) <= 0.5);
  });

  it('wrapped tile interpolation blends the same tiles at both ends', () => {
    const w = axisWeights(100, 4, true);
    assert.deepEqual([w.lo[0], w.hi[0]], [3, 0]);
    assert.deepEqual([w.lo[99], w.hi[99]], [3, 0]);
    assert.ok(Math.abs(w.frac[0]! - (1 - w.frac[99]!)) > 0.9 || Math.abs(w.frac[0]! + w.frac[99]! - 1) < 0.05);
    const clamped = axisWeights(100, 4, false);
    assert.deepEqual([clamped.lo[0], clamped.hi[0], clamped.frac[0]], [0, 0, 0]);
    assert.deepEqual([clamped.lo[99], clamped.hi[99], clamped.frac[99]], [3, 3, 0]);
  });

  it('wrap padding copies the opposite edges and cropping undoes it', () => {
    const img = synthetic(5, 2, 3, (x, y, c) => x * 10 + y * 100 + c);
    const padded = wrapPadX(img, 2);
    assert.equal(padded.width, 9);
    // Row 0: columns 3,4 | 0..4 | 0,1
    const col = (im: RawImage, x: number, y = 0): number => im.data[(y * im.width + x) * 3]!;
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 8].map((x) => col(padded, x)), [30, 40, 0, 10, 20, 30, 40, 0, 10]);
    assert.deepEqual(cropX(padded, 2, 5).data, img.data);
  });

  it('sharpening grows with the value', () => {
    const a = sharpenParams(20);
    const b = sharpenParams(90);
    assert.ok(b.sigma > a.sigma && b.m2 > a.m2 && b.m1 >= a.m1);
  });
});

// ---- behaviour on images -------------------------------------------------------------------------------

describe('hasAdjustments', () => {
  it('is false for absent or neutral options and true for any real change', () => {
    assert.equal(hasAdjustments(undefined), false);
    assert.equal(hasAdjustments({}), false);
    assert.equal(hasAdjustments({ exposure: 0, saturation: 0, contrast: 0, sharpness: 0, hdr: 0 }), false);
    assert.equal(hasAdjustments({ hdr: { intensity: 0, stitching: true } }), false);
    assert.equal(hasAdjustments({ exposure: -1 }), true);
    assert.equal(hasAdjustments({ saturation: 5 }), true);
    assert.equal(hasAdjustments({ contrast: 5 }), true);
    assert.equal(hasAdjustments({ sharpness: 1 }), true);
    assert.equal(hasAdjustments({ hdr: 1 }), true);
    assert.equal(hasAdjustments({ hdr: {} }), true);
  });
});

describe('applyAdjustments on photos', () => {
  it('exposure raises and lowers mean luminance monotonically', async () => {
    const img = await photo('fruits.jpg');
    const levels = [-100, -50, 0, 50, 100];
    const means: number[] = [];
    for (const exposure of levels) means.push(mean(luma(await applyAdjustments(img, { exposure }))));
    for (let i = 1; i < means.length; i++) assert.ok(means[i]! > means[i - 1]! + 5, `exposure not monotonic: ${means}`);
    assert.ok(Math.abs(means[2]! - mean(luma(img))) < 1e-9);
  });

  it('saturation scales chroma and -100 is exact greyscale', async () => {
    const img = await photo('fruits.jpg');
    const base = meanChroma(img);
    const more = meanChroma(await applyAdjustments(img, { saturation: 60 }));
    const less = meanChroma(await applyAdjustments(img, { saturation: -50 }));
    assert.ok(more > base * 1.2, `chroma ${base} → ${more}`);
    assert.ok(less < base * 0.7, `chroma ${base} → ${less}`);
    const grey = await applyAdjustments(img, { saturation: -100 });
    for (let i = 0; i < grey.data.length; i += 3) {
      assert.ok(grey.data[i] === grey.data[i + 1] && grey.data[i + 1] === grey.data[i + 2], `pixel ${i / 3} not grey`);
    }
    // Greyscale keeps brightness: luminance is preserved in linear light, so mean luma moves little.
    assert.ok(Math.abs(mean(luma(grey)) - mean(luma(img))) < 12);
  });

  it('contrast raises and lowers the spread of luminance', async () => {
    const img = await photo('building.jpg');
    const base = std(luma(img));
    const up = std(luma(await applyAdjustments(img, { contrast: 60 })));
    const down = std(luma(await applyAdjustments(img, { contrast: -60 })));
    const max = std(luma(await applyAdjustments(img, { contrast: 100 })));
    assert.ok(up > base * 1.1, `std ${base} → ${up}`);
    assert.ok(max > up);
    assert.ok(down < base * 0.75, `std ${base} → ${down}`);
  });

  it('sharpness raises high-frequency energy, more for higher values', async () => {
    const img = await photo('home.jpg');
    const base = laplacianVariance(img);
    const mild = laplacianVariance(await applyAdjustments(img, { sharpness: 30 }));
    const strong = laplacianVariance(await applyAdjustments(img, { sharpness: 100 }));
    assert.ok(mild > base * 1.05, `laplacian variance ${base} → ${mild}`);
    assert.ok(strong > mild * 1.2, `laplacian variance ${mild} → ${strong}`);
  });

  it('hdr brings out local detail in a real photo and keeps its size', async () => {
    const img = await photo('messi5.jpg');
    const out = await applyAdjustments(img, { hdr: 100 });
    assert.equal(out.width, img.width);
    assert.equal(out.height, img.height);
    assert.equal(out.channels, 3);
    assert.ok(laplacianVariance(out) > laplacianVariance(img) * 1.1);
  });
});

describe('applyAdjustments on synthetic images', () => {
  // A flat, low-contrast scene: a dark half and a bright half, each with faint texture.
  const rand = noise(7);
  const lowContrast = synthetic(320, 200, 3, (x) => (x < 160 ? 40 : 205) + rand() * 12);

  it('hdr raises local contrast in both the dark and the bright region', async () => {
    const out = await applyAdjustments(lowContrast, { hdr: 100 });
    const darkBefore = regionStd(lowContrast, 20, 20, 140, 180);
    const brightBefore = regionStd(lowContrast, 180, 20, 300, 180);
    const darkAfter = regionStd(out, 20, 20, 140, 180);
    const brightAfter = regionStd(out, 180, 20, 300, 180);
    assert.ok(darkAfter > darkBefore * 1.5, `dark region std ${darkBefore} → ${darkAfter}`);
    assert.ok(brightAfter > brightBefore * 1.5, `bright region std ${brightBefore} → ${brightAfter}`);
    const half = await applyAdjustments(lowContrast, { hdr: 50 });
    const darkHalf = regionStd(half, 20, 20, 140, 180);
    assert.ok(darkHalf > darkBefore && darkHalf < darkAfter, 'intensity 50 is between 0 and 100');
  });

  it('hdr intensity 0 is the identity', async () => {
    const out = await applyAdjustments(lowContrast, { hdr: 0 });
    assert.deepEqual(out.data, lowContrast.data);
    const out2 = await applyAdjustments(lowContrast, { hdr: { intensity: 0, stitching: true } });
    assert.deepEqual(out2.data, lowContrast.data);
  });

  it('hdr keeps hues: a colour gradient keeps its channel ratios', async () => {
    const img = synthetic(256, 128, 3, (x, y, c) => {
      // The same level for the three channels of a pixel, so the input has exact 1 : 0.5 : 0.25 ratios.
      const level = (x < 128 ? 0.25 : 0.55) + 0.03 * Math.sin(x * 1.3 + y * 0.7);
      return 255 * linearToSrgb(srgbToLinear(level) * [1, 0.5, 0.25][c]!);
    });
    const out = await applyAdjustments(img, { hdr: 100 });
    let worst = 0;
    for (let i = 0; i < out.data.length; i += 3) {
      const r = srgbToLinear(out.data[i]! / 255);
      const g = srgbToLinear(out.data[i + 1]! / 255);
      if (r > 0.1 && r < 0.95) worst = Math.max(worst, Math.abs(g / r - 0.5));
    }
    assert.ok(worst < 0.03, `green/red ratio drifted by ${worst}`);
  });

  /** Mean absolute difference between columns x0 and x1, over all rows and colour channels. */
  function columnDiff(img: RawImage, x0: number, x1: number): number {
    let s = 0;
    for (let r = 0; r < img.height; r++) {
      for (let c = 0; c < 3; c++) {
        s += Math.abs(img.data[(r * img.width + x0) * 3 + c]! - img.data[(r * img.width + x1) * 3 + c]!);
      }
    }
    return s / (img.height * 3);
  }

  /** A 360° panorama: bright just right of the seam, dark just left of it, so its edges still meet. */
  function panorama(textureAlongX: boolean): RawImage {
    const width = 512;
    const height = 160;
    const rnd = noise(11);
    const texture = Array.from({ length: textureAlongX ? width : height }, () => rnd() * 10);
    return synthetic(width, height, 3, (x, y) => {
      const t = textureAlongX ? texture[x]! : texture[y]!;
      return 128 + 95 * Math.sin((2 * Math.PI * x) / width) + t + (y % 7);
    });
  }

  it('stitching keeps the 360° seam as small as in the input', async () => {
    const pano = panorama(false);
    const before = seam(pano);
    const plain = seam(await applyAdjustments(pano, { hdr: 100 }));
    const stitched = seam(await applyAdjustments(pano, { hdr: { intensity: 100, stitching: true } }));
    assert.ok(before < 2);
    assert.ok(stitched <= before + 1, `seam ${before} → ${stitched} with stitching`);
    assert.ok(plain > before + 20, `without stitching the seam should open (${before} → ${plain})`);
    // Sharpening with stitching also sees across the seam.
    const sharpened = await applyAdjustments(pano, { hdr: { intensity: 100, stitching: true }, sharpness: 100 });
    const w = pano.width;
    assert.ok(seam(sharpened) <= 1.5 * Math.max(columnDiff(sharpened, 0, 1), columnDiff(sharpened, w - 2, w - 1)) + 1);
  });

  it('with texture across the seam, the stitched seam is no worse than any neighbouring column step', async () => {
    // Local contrast enhancement amplifies every column-to-column step, the seam included; what stitching
    // guarantees is that the seam is not special.
    const pano = panorama(true);
    const w = pano.width;
    const check = async (stitching: boolean): Promise<{ seam: number; neighbours: number }> => {
      const out = await applyAdjustments(pano, { hdr: { intensity: 100, stitching } });
      return { seam: seam(out), neighbours: Math.max(columnDiff(out, 0, 1), columnDiff(out, w - 2, w - 1)) };
    };
    const stitched = await check(true);
    const plain = await check(false);
    assert.ok(stitched.seam <= 1.5 * stitched.neighbours + 1, JSON.stringify(stitched));
    assert.ok(plain.seam > 3 * plain.neighbours, JSON.stringify(plain));
  });

  it('never touches alpha and keeps the size, whatever is applied', async () => {
    const rnd = noise(5);
    const img = synthetic(97, 61, 4, (x, y, c) => (c === 3 ? (x * 7 + y * 3) % 256 : 60 + c * 50 + rnd() * 60));
    const out = await applyAdjustments(img, {
      exposure: 40,
      contrast: 30,
      saturation: -20,
      sharpness: 80,
      hdr: { intensity: 70, stitching: true },
    });
    assert.equal(out.width, 97);
    assert.equal(out.height, 61);
    assert.equal(out.channels, 4);
    assert.deepEqual(alphaOf(out), alphaOf(img));
    assert.notDeepEqual(out.data, img.data);
  });
});
