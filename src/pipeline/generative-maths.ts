// Pure pixel and size arithmetic behind the generative operations (AI edit, generate, generative outpaint,
// style transfer): output sizes per aspect ratio, working sizes, outpaint masks, exact re-compositing, CIE Lab
// planes, Laplacian pyramids and the statistics transfer used for style. No I/O, no models: every function
// here is tested on its own with synthetic pixels.
import { createHash } from 'node:crypto';
import type { MaskImage } from '../generative/engine.js';
import type { RawImage } from './raw-image.js';

export interface Size {
  width: number;
  height: number;
}

// ---------------------------------------------------------------------------------------------------------
// Sizes

/** `"16:9"` → [16, 9]. */
export function parseRatio(ratio: string): [number, number] {
  const m = /^(\d+):(\d+)$/.exec(ratio);
  if (!m) throw new RangeError(`not an aspect ratio: ${ratio}`);
  const a = Number(m[1]);
  const b = Number(m[2]);
  if (a <= 0 || b <= 0) throw new RangeError(`not an aspect ratio: ${ratio}`);
  return [a, b];
}

/**
 * The size for `ratio` whose area is about `side²`: each side is the exact side at that area, rounded to the
 * nearest multiple of `multiple` (at least one multiple). With side 1024 and multiple 64: 1:1 → 1024×1024,
 * 3:4 → 896×1152, 16:9 → 1344×768, 21:9 → 1536×640 (the table in docs/generative.md).
 */
export function aspectSize(ratio: string, side: number, multiple: number): Size {
  const [a, b] = parseRatio(ratio);
  const area = side * side;
  const round = (v: number) => Math.max(multiple, Math.round(v / multiple) * multiple);
  return { width: round(Math.sqrt((area * a) / b)), height: round(Math.sqrt((area * b) / a)) };
}

/** The ratio of `ratios` closest to width:height on a logarithmic scale (2:1 is as far from 1:1 as 1:2). */
export function nearestRatio<R extends string>(width: number, height: number, ratios: readonly R[]): R {
  const target = Math.log(width / height);
  let best: R | undefined;
  let bestDistance = Infinity;
  for (const r of ratios) {
    const [a, b] = parseRatio(r);
    const d = Math.abs(Math.log(a / b) - target);
    if (d < bestDistance) {
      best = r;
      bestDistance = d;
    }
  }
  if (best === undefined) throw new RangeError('no ratios to choose from');
  return best;
}

/**
 * The size to run a model at for an image of `size`: the size itself when it has at most `maxArea` pixels,
 * else the same shape scaled down to about `maxArea`. Sides are multiples of `multiple` (the latent grid).
 */
export function workingSize(size: Size, maxArea: number, multiple = 8): Size {
  const scale = Math.min(1, Math.sqrt(maxArea / (size.width * size.height)));
  const fit = (v: number) => Math.max(multiple, Math.round((v * scale) / multiple) * multiple);
  return { width: fit(size.width), height: fit(size.height) };
}

/** A 32-bit seed that depends only on `parts`, so the same request repaints the same pixels (task re-runs). */
export function seedOf(...parts: (string | Buffer | number)[]): number {
  const hash = createHash('sha256');
  for (const p of parts) {
    hash.update(typeof p === 'number' ? String(p) : p);
    hash.update('\u0000');
  }
  return hash.digest().readUInt32BE(0);
}

// ---------------------------------------------------------------------------------------------------------
// Outpainting

export interface Placement {
  /** Canvas size. */
  width: number;
  height: number;
  /** Where the original's top-left corner lies on the canvas (may be negative: the canvas crops it). */
  left: number;
  top: number;
}

/** The part of the canvas the original covers, clipped to the canvas. */
export function coveredRect(canvas: Placement, img: Size): { x0: number; y0: number; x1: number; y1: number } {
  return {
    x0: Math.max(0, canvas.left),
    y0: Math.max(0, canvas.top),
    x1: Math.min(canvas.width, canvas.left + img.width),
    y1: Math.min(canvas.height, canvas.top + img.height),
  };
}

/**
 * The repaint mask of an outpaint: 0 on the original, 255 on the new border, except in a band next to the
 * seam: over `feathering` (a fraction, capped at 1) of each margin's width the mask rises from near 0 at the
 * original's edge to 255, so the starting picture there (the original's edges mirrored outwards) fades into
 * what the model paints instead of meeting it at a hard line. This is the same meaning `feathering` has in
 * the classical fill (src/pipeline/outpaint.ts). A pixel beyond two edges (a corner) takes the larger of its
 * two positions in the bands. The original's pixels stay exactly as they were (compositeOriginal).
 */
export function outpaintMask(canvas: Placement, img: Size, feathering: number): MaskImage {
  const { width, height } = canvas;
  const r = coveredRect(canvas, img);
  const data = Buffer.alloc(width * height, 255);
  if (r.x1 <= r.x0 || r.y1 <= r.y0) return { data, width, height, channels: 1 };
  const f = Math.max(0, Math.min(1, feathering));
  // Band width on each side: a share of that side's margin (0 where the original touches the canvas edge).
  const band = { left: f * r.x0, right: f * (width - r.x1), top: f * r.y0, bottom: f * (height - r.y1) };
  // Position in a band, 0 at the seam to 1 at its outer end; beyond the band (or with no band) 1.
  const ramp = (beyond: number, w: number) => (w <= 0 ? 1 : Math.min(1, (beyond + 0.5) / w));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inX = x >= r.x0 && x < r.x1;
      const inY = y >= r.y0 && y < r.y1;
      if (inX && inY) {
        data[y * width + x] = 0;
        continue;
      }
      let t = 0;
      if (x < r.x0) t = Math.max(t, ramp(r.x0 - 1 - x, band.left));
      if (x >= r.x1) t = Math.max(t, ramp(x - r.x1, band.right));
      if (y < r.y0) t = Math.max(t, ramp(r.y0 - 1 - y, band.top));
      if (y >= r.y1) t = Math.max(t, ramp(y - r.y1, band.bottom));
      data[y * width + x] = Math.round(255 * t);
    }
  }
  return { data, width, height, channels: 1 };
}

/**
 * `generated` (canvas-sized) with the original's pixels written back exactly where it lies. The result has
 * the original's channel count; the generated border is opaque.
 */
export function compositeOriginal(generated: RawImage, original: RawImage, canvas: Placement): RawImage {
  if (generated.width !== canvas.width || generated.height !== canvas.height) {
    throw new RangeError(`generated image is ${generated.width}x${generated.height}, canvas is ${canvas.width}x${canvas.height}`);
  }
  const channels = original.channels;
  const out = Buffer.alloc(canvas.width * canvas.height * channels);
  const gc = generated.channels;
  for (let i = 0, n = canvas.width * canvas.height; i < n; i++) {
    out[i * channels] = generated.data[i * gc] as number;
    out[i * channels + 1] = generated.data[i * gc + 1] as number;
    out[i * channels + 2] = generated.data[i * gc + 2] as number;
    if (channels === 4) out[i * channels + 3] = 255;
  }
  const r = coveredRect(canvas, original);
  const rowBytes = (r.x1 - r.x0) * channels;
  for (let y = r.y0; y < r.y1; y++) {
    const src = ((y - canvas.top) * original.width + (r.x0 - canvas.left)) * channels;
    original.data.copy(out, (y * canvas.width + r.x0) * channels, src, src + rowBytes);
  }
  return { data: out, width: canvas.width, height: canvas.height, channels };
}

// ---------------------------------------------------------------------------------------------------------
// CIE Lab (D65) planes

export interface Planes {
  width: number;
  height: number;
  /** L (0..100), a, b as separate planes. */
  p: [Float32Array, Float32Array, Float32Array];
}

const SRGB_TO_LINEAR = new Float32Array(256).map((_, i) => {
  const c = i / 255;
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
});

function linearToSrgb8(v: number): number {
  const c = v <= 0.0031308 ? 12.92 * v : 1.055 * Math.max(0, v) ** (1 / 2.4) - 0.055;
  return Math.max(0, Math.min(255, Math.round(c * 255)));
}

const XN = 0.95047;
const ZN = 1.08883;
const EPS = 216 / 24389;
const KAPPA = 24389 / 27;
const fLab = (t: number) => (t > EPS ? Math.cbrt(t) : (KAPPA * t + 16) / 116);
const fLabInv = (t: number) => (t ** 3 > EPS ? t ** 3 : (116 * t - 16) / KAPPA);

export function toLab(img: RawImage): Planes {
  const n = img.width * img.height;
  const L = new Float32Array(n);
  const A = new Float32Array(n);
  const B = new Float32Array(n);
  const ch = img.channels;
  for (let i = 0; i < n; i++) {
    const r = SRGB_TO_LINEAR[img.data[i * ch] as number] as number;
    const g = SRGB_TO_LINEAR[img.data[i * ch + 1] as number] as number;
    const b = SRGB_TO_LINEAR[img.data[i * ch + 2] as number] as number;
    const x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / XN;
    const y = 0.2126729 * r + 0.7151522 * g + 0.072175 * b;
    const z = (0.0193339 * r + 0.119192 * g + 0.9503041 * b) / ZN;
    const fx = fLab(x);
    const fy = fLab(y);
    const fz = fLab(z);
    L[i] = 116 * fy - 16;
    A[i] = 500 * (fx - fy);
    B[i] = 200 * (fy - fz);
  }
  return { width: img.width, height: img.height, p: [L, A, B] };
}

/** Back to 8-bit sRGB (3 channels), clipping out-of-gamut values. */
export function fromLab(planes: Planes): RawImage {
  const n = planes.width * planes.height;
  const out = Buffer.alloc(n * 3);
  const [L, A, B] = planes.p;
  for (let i = 0; i < n; i++) {
    const fy = ((L[i] as number) + 16) / 116;
    const fx = fy + (A[i] as number) / 500;
    const fz = fy - (B[i] as number) / 200;
    const x = fLabInv(fx) * XN;
    const y = fLabInv(fy);
    const z = fLabInv(fz) * ZN;
    out[i * 3] = linearToSrgb8(3.2404542 * x - 1.5371385 * y - 0.4985314 * z);
    out[i * 3 + 1] = linearToSrgb8(-0.969266 * x + 1.8760108 * y + 0.041556 * z);
    out[i * 3 + 2] = linearToSrgb8(0.0556434 * x - 0.2040259 * y + 1.0572252 * z);
  }
  return { data: out, width: planes.width, height: planes.height, channels: 3 };
}

// ---------------------------------------------------------------------------------------------------------
// Laplacian pyramids

export interface Plane {
  data: Float32Array;
  width: number;
  height: number;
}

const reflect = (i: number, n: number) => (i < 0 ? Math.min(-i, n - 1) : i >= n ? Math.max(0, 2 * n - 2 - i) : i);

/** Blur with the 5-tap binomial kernel (1 4 6 4 1)/16 in both directions, then keep every second sample. */
export function reduce(src: Plane): Plane {
  const { width: w, height: h, data } = src;
  const tmp = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      tmp[row + x] =
        ((data[row + reflect(x - 2, w)] as number) +
          4 * (data[row + reflect(x - 1, w)] as number) +
          6 * (data[row + x] as number) +
          4 * (data[row + reflect(x + 1, w)] as number) +
          (data[row + reflect(x + 2, w)] as number)) /
        16;
    }
  }
  const ow = Math.ceil(w / 2);
  const oh = Math.ceil(h / 2);
  const out = new Float32Array(ow * oh);
  for (let oy = 0; oy < oh; oy++) {
    const y = oy * 2;
    for (let ox = 0; ox < ow; ox++) {
      const x = ox * 2;
      out[oy * ow + ox] =
        ((tmp[reflect(y - 2, h) * w + x] as number) +
          4 * (tmp[reflect(y - 1, h) * w + x] as number) +
          6 * (tmp[y * w + x] as number) +
          4 * (tmp[reflect(y + 1, h) * w + x] as number) +
          (tmp[reflect(y + 2, h) * w + x] as number)) /
        16;
    }
  }
  return { data: out, width: ow, height: oh };
}

/** Bilinear resampling of a reduced plane back onto a `width`×`height` grid (sample centres aligned 2:1). */
export function expand(src: Plane, width: number, height: number): Plane {
  const out = new Float32Array(width * height);
  const sx = src.width / width;
  const sy = src.height / height;
  for (let y = 0; y < height; y++) {
    const fy = Math.min(src.height - 1, Math.max(0, (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(src.height - 1, y0 + 1);
    const wy = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.min(src.width - 1, Math.max(0, (x + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(src.width - 1, x0 + 1);
      const wx = fx - x0;
      const top = (src.data[y0 * src.width + x0] as number) * (1 - wx) + (src.data[y0 * src.width + x1] as number) * wx;
      const bottom = (src.data[y1 * src.width + x0] as number) * (1 - wx) + (src.data[y1 * src.width + x1] as number) * wx;
      out[y * width + x] = top * (1 - wy) + bottom * wy;
    }
  }
  return { data: out, width, height };
}

export interface Pyramid {
  /** Detail bands, finest first; band k is level k minus the expanded level k+1. */
  bands: Plane[];
  /** The coarsest level. */
  residual: Plane;
}

/** Levels a pyramid of this size gets: halve while the smaller side stays at least 8 pixels, at most `max`. */
export function pyramidLevels(width: number, height: number, max = 6): number {
  let levels = 0;
  let m = Math.min(width, height);
  while (levels < max && Math.ceil(m / 2) >= 8) {
    m = Math.ceil(m / 2);
    levels += 1;
  }
  return levels;
}

export function laplacianPyramid(plane: Plane, levels: number): Pyramid {
  const bands: Plane[] = [];
  let current = plane;
  for (let k = 0; k < levels; k++) {
    const down = reduce(current);
    const up = expand(down, current.width, current.height);
    const band = new Float32Array(current.data.length);
    for (let i = 0; i < band.length; i++) band[i] = (current.data[i] as number) - (up.data[i] as number);
    bands.push({ data: band, width: current.width, height: current.height });
    current = down;
  }
  return { bands, residual: current };
}

/** Inverse of laplacianPyramid (exact up to float rounding). */
export function collapse(pyramid: Pyramid): Plane {
  let current = pyramid.residual;
  for (let k = pyramid.bands.length - 1; k >= 0; k--) {
    const band = pyramid.bands[k] as Plane;
    const up = expand(current, band.width, band.height);
    const data = new Float32Array(band.data.length);
    for (let i = 0; i < data.length; i++) data[i] = (band.data[i] as number) + (up.data[i] as number);
    current = { data, width: band.width, height: band.height };
  }
  return current;
}

// ---------------------------------------------------------------------------------------------------------
// Statistics transfer

export function meanStd(data: Float32Array): { mean: number; std: number } {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum += data[i] as number;
  const mean = sum / Math.max(1, data.length);
  let sq = 0;
  for (let i = 0; i < data.length; i++) sq += ((data[i] as number) - mean) ** 2;
  return { mean, std: Math.sqrt(sq / Math.max(1, data.length)) };
}

/**
 * AdaIN on one plane, in place: normalise to the target's mean and standard deviation, then mix with the
 * untouched values by `strength` (0 keeps the plane, 1 matches the target fully). A flat plane (std ≈ 0)
 * only has its mean moved, since there is no contrast to rescale.
 */
export function adaptiveNormalise(data: Float32Array, target: { mean: number; std: number }, strength: number): void {
  const own = meanStd(data);
  const gain = own.std > 1e-6 ? target.std / own.std : 1;
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    const matched = (v - own.mean) * gain + target.mean;
    data[i] = v + strength * (matched - v);
  }
}

/** How far band energies may be rescaled: beyond this a near-flat band would only amplify noise. */
const MAX_BAND_GAIN = 4;

/**
 * Moves `content` towards the look of `style` (both the same size): per CIE Lab channel, the coarse
 * residual's mean and contrast are matched (colour and tonality, AdaIN), and the energy of each luminance
 * detail band is rescaled to the style's at that scale (texture strength: a grainy or painterly reference
 * raises fine-band energy, a smooth one lowers it). `strength` mixes 0 (unchanged) to 1 (fully matched).
 * Colour channels get whole-plane AdaIN: their detail bands carry little texture worth matching.
 */
export function transferStyleStatistics(content: RawImage, style: RawImage, strength: number): RawImage {
  if (content.width !== style.width || content.height !== style.height) {
    throw new RangeError('content and style must have the same size');
  }
  const s = Math.max(0, Math.min(1, strength));
  const c = toLab(content);
  const st = toLab(style);
  const plane = (p: Float32Array): Plane => ({ data: p, width: content.width, height: content.height });
  const levels = pyramidLevels(content.width, content.height);
  const cp = laplacianPyramid(plane(c.p[0]), levels);
  const sp = laplacianPyramid(plane(st.p[0]), levels);
  cp.bands.forEach((band, k) => {
    const own = meanStd(band.data).std;
    const target = meanStd((sp.bands[k] as Plane).data).std;
    if (own < 1e-6) return;
    const gain = Math.min(MAX_BAND_GAIN, Math.max(1 / MAX_BAND_GAIN, target / own));
    const g = 1 + s * (gain - 1);
    for (let i = 0; i < band.data.length; i++) band.data[i] = (band.data[i] as number) * g;
  });
  adaptiveNormalise(cp.residual.data, meanStd(sp.residual.data), s);
  const L = collapse(cp).data;
  const A = c.p[1];
  const B = c.p[2];
  adaptiveNormalise(A, meanStd(st.p[1]), s);
  adaptiveNormalise(B, meanStd(st.p[2]), s);
  return fromLab({ width: content.width, height: content.height, p: [L, A, B] });
}

/**
 * Pulls the coarse luminance layout of `generated` towards `reference` (same size) by `amount` (0..1): the
 * residual and the `coarseBands` coarsest bands of the L pyramid are mixed, finer detail stays generated.
 * This keeps composition and shading (where things are, which side is lit) without a depth model.
 */
export function reinjectStructure(generated: RawImage, reference: RawImage, amount: number, coarseBands = 2): RawImage {
  if (generated.width !== reference.width || generated.height !== reference.height) {
    throw new RangeError('generated and reference must have the same size');
  }
  const t = Math.max(0, Math.min(1, amount));
  if (t === 0) return generated;
  const g = toLab(generated);
  const r = toLab(reference);
  const levels = pyramidLevels(generated.width, generated.height);
  const plane = (p: Float32Array): Plane => ({ data: p, width: generated.width, height: generated.height });
  const gp = laplacianPyramid(plane(g.p[0]), levels);
  const rp = laplacianPyramid(plane(r.p[0]), levels);
  const mix = (a: Float32Array, b: Float32Array) => {
    for (let i = 0; i < a.length; i++) a[i] = (a[i] as number) + t * ((b[i] as number) - (a[i] as number));
  };
  mix(gp.residual.data, rp.residual.data);
  for (let k = Math.max(0, levels - coarseBands); k < levels; k++) {
    mix((gp.bands[k] as Plane).data, (rp.bands[k] as Plane).data);
  }
  return fromLab({ width: g.width, height: g.height, p: [collapse(gp).data, g.p[1], g.p[2]] });
}
