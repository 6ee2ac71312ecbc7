// Full-reference quality measures for the restoration tests: PSNR and SSIM on luminance, a sharpness measure,
// and helpers to get a photo's pixels as a RawImage.
import sharp, { type Sharp } from 'sharp';
import type { RawImage } from '../../src/pipeline/raw-image.js';

export async function rawOf(input: Buffer | Sharp, channels: 3 | 4 = 3): Promise<RawImage> {
  const s = Buffer.isBuffer(input) ? sharp(input) : input;
  const piped = channels === 3 ? s.removeAlpha() : s.ensureAlpha();
  const { data, info } = await piped.raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels };
}

/** BT.601 luma of an RGB(A) RawImage as floats. */
export function luma(img: RawImage): Float64Array {
  const n = img.width * img.height;
  const out = new Float64Array(n);
  for (let i = 0, o = 0; i < n; i++, o += img.channels) {
    out[i] = 0.299 * (img.data[o] as number) + 0.587 * (img.data[o + 1] as number) + 0.114 * (img.data[o + 2] as number);
  }
  return out;
}

/** PSNR in dB over the RGB channels (alpha ignored), optionally ignoring a border of `crop` pixels. */
export function psnr(a: RawImage, b: RawImage, crop = 0): number {
  assertSameSize(a, b);
  let sum = 0;
  let count = 0;
  for (let y = crop; y < a.height - crop; y++) {
    for (let x = crop; x < a.width - crop; x++) {
      const ia = (y * a.width + x) * a.channels;
      const ib = (y * b.width + x) * b.channels;
      for (let c = 0; c < 3; c++) {
        const d = (a.data[ia + c] as number) - (b.data[ib + c] as number);
        sum += d * d;
      }
      count += 3;
    }
  }
  const mse = sum / count;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

/**
 * Mean SSIM on luminance with the standard 11×11 Gaussian window (σ = 1.5) and K1 = 0.01, K2 = 0.03 (Wang et
 * al. 2004), over the windows that fit inside the image.
 */
export function ssim(a: RawImage, b: RawImage): number {
  assertSameSize(a, b);
  const w = a.width;
  const h = a.height;
  const x = luma(a);
  const y = luma(b);
  const kernel = gaussian(11, 1.5);
  const mx = blurValid(x, w, h, kernel);
  const my = blurValid(y, w, h, kernel);
  const xx = blurValid(mul(x, x), w, h, kernel);
  const yy = blurValid(mul(y, y), w, h, kernel);
  const xy = blurValid(mul(x, y), w, h, kernel);
  const c1 = (0.01 * 255) ** 2;
  const c2 = (0.03 * 255) ** 2;
  let total = 0;
  const n = mx.length;
  for (let i = 0; i < n; i++) {
    const ux = mx[i] as number;
    const uy = my[i] as number;
    const vx = (xx[i] as number) - ux * ux;
    const vy = (yy[i] as number) - uy * uy;
    const cxy = (xy[i] as number) - ux * uy;
    total += ((2 * ux * uy + c1) * (2 * cxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
  }
  return total / n;
}

/** Mean gradient magnitude of the luminance: a simple sharpness figure (higher = crisper). */
export function sharpness(img: RawImage): number {
  const l = luma(img);
  const w = img.width;
  let sum = 0;
  for (let y = 0; y < img.height - 1; y++) {
    for (let x = 0; x < w - 1; x++) {
      const i = y * w + x;
      const gx = (l[i + 1] as number) - (l[i] as number);
      const gy = (l[i + w] as number) - (l[i] as number);
      sum += Math.sqrt(gx * gx + gy * gy);
    }
  }
  return sum / ((w - 1) * (img.height - 1));
}

function assertSameSize(a: RawImage, b: RawImage): void {
  if (a.width !== b.width || a.height !== b.height) {
    throw new Error(`size mismatch ${a.width}x${a.height} vs ${b.width}x${b.height}`);
  }
}

function gaussian(size: number, sigma: number): Float64Array {
  const k = new Float64Array(size);
  const r = (size - 1) / 2;
  let s = 0;
  for (let i = 0; i < size; i++) {
    k[i] = Math.exp(-((i - r) ** 2) / (2 * sigma * sigma));
    s += k[i] as number;
  }
  for (let i = 0; i < size; i++) k[i] = (k[i] as number) / s;
  return k;
}

function mul(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) * (b[i] as number);
  return out;
}

/** Separable filtering keeping only the fully covered ("valid") positions. */
function blurValid(src: Float64Array, w: number, h: number, k: Float64Array): Float64Array {
  const n = k.length;
  const ow = w - n + 1;
  const oh = h - n + 1;
  const tmp = new Float64Array(ow * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += (k[j] as number) * (src[y * w + x + j] as number);
      tmp[y * ow + x] = s;
    }
  }
  const out = new Float64Array(ow * oh);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += (k[j] as number) * (tmp[(y + j) * ow + x] as number);
      out[y * ow + x] = s;
    }
  }
  return out;
}
