// Full-range BT.601 YCbCr (JFIF's transform) as float planes: the space JPEG quantises in, so deblocking works
// on the same luminance the encoder saw, and clean-up filters can treat luminance and colour separately.
import type { RawImage } from './raw-image.js';

export interface YCbCrPlanes {
  width: number;
  height: number;
  y: Float32Array;
  cb: Float32Array;
  cr: Float32Array;
}

export function toYCbCr(img: RawImage): YCbCrPlanes {
  const n = img.width * img.height;
  const c = img.channels;
  const d = img.data;
  const y = new Float32Array(n);
  const cb = new Float32Array(n);
  const cr = new Float32Array(n);
  for (let i = 0, o = 0; i < n; i++, o += c) {
    const r = d[o] as number;
    const g = d[o + 1] as number;
    const b = d[o + 2] as number;
    y[i] = 0.299 * r + 0.587 * g + 0.114 * b;
    cb[i] = -0.168736 * r - 0.331264 * g + 0.5 * b + 128;
    cr[i] = 0.5 * r - 0.418688 * g - 0.081312 * b + 128;
  }
  return { width: img.width, height: img.height, y, cb, cr };
}

/** Back to 8-bit RGB; the alpha channel (if any) is copied from `alphaFrom`, which must have the same size. */
export function fromYCbCr(p: YCbCrPlanes, alphaFrom?: RawImage): RawImage {
  const n = p.width * p.height;
  const channels = alphaFrom?.channels === 4 ? 4 : 3;
  const out = Buffer.allocUnsafe(n * channels);
  const { y, cb, cr } = p;
  for (let i = 0, o = 0; i < n; i++, o += channels) {
    const yy = y[i] as number;
    const u = (cb[i] as number) - 128;
    const v = (cr[i] as number) - 128;
    out[o] = clampByte(yy + 1.402 * v);
    out[o + 1] = clampByte(yy - 0.344136 * u - 0.714136 * v);
    out[o + 2] = clampByte(yy + 1.772 * u);
    if (channels === 4) out[o + 3] = (alphaFrom as RawImage).data[i * 4 + 3] as number;
  }
  return { data: out, width: p.width, height: p.height, channels };
}

export function clampByte(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
}

/** The Y plane alone (same weights as toYCbCr), for measurements that need only luminance. */
export function lumaOf(img: RawImage): Float32Array {
  const n = img.width * img.height;
  const c = img.channels;
  const d = img.data;
  const y = new Float32Array(n);
  for (let i = 0, o = 0; i < n; i++, o += c) y[i] = 0.299 * (d[o] as number) + 0.587 * (d[o + 1] as number) + 0.114 * (d[o + 2] as number);
  return y;
}
