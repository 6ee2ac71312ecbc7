// `resizing.fit: {type: crop, crop: smart}`: where to put the crop window. The window has the target's aspect
// ratio and is as large as the image allows (it is scaled to the target size afterwards), so it spans the whole
// image along one axis and only its offset along the other axis is chosen: the offset that covers the most
// "importance". Importance is a saliency map in the spirit of libvips' attention strategy (edges, saturated
// colour, skin tones) plus the detected faces, each weighted like the whole saliency map together, so a crop
// that keeps a face always beats one that keeps only texture. Among equally good offsets the one nearest the
// centre wins, so a featureless image is cropped like `center`.
import sharp from 'sharp';
import { isAtelierError } from '../errors.js';
import type { RawImage } from './raw-image.js';
import type { ModelContext } from './model-context.js';
import { detectFaceBoxes, type Box } from '../models/faces.js';

/** Long side of the image the saliency map is computed on. */
const SALIENCY_SIDE = 256;

export interface Size {
  width: number;
  height: number;
}

/** The largest box with `target`'s aspect ratio that fits in `src` (aspect compared exactly by cross-multiplying). */
export function cropWindowSize(src: Size, target: Size): Size {
  if (src.width * target.height >= src.height * target.width) {
    // The image is wider than the target: full height, width from the ratio.
    return { width: Math.min(src.width, Math.max(1, Math.round((src.height * target.width) / target.height))), height: src.height };
  }
  return { width: src.width, height: Math.min(src.height, Math.max(1, Math.round((src.width * target.height) / target.width))) };
}

/**
 * Per-pixel saliency of an RGB(A) image (3 or 4 channels): gradient magnitude of luminance, saturation and a
 * skin-tone term, each scaled by its 99th percentile so no single cue dominates, then summed.
 */
export function saliencyMap(data: Buffer | Uint8Array, width: number, height: number, channels: number): Float32Array {
  const n = width * height;
  const lum = new Float32Array(n);
  const sat = new Float32Array(n);
  const skin = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * channels;
    const r = data[o] as number;
    const g = data[o + 1] as number;
    const b = data[o + 2] as number;
    const alpha = channels === 4 ? (data[o + 3] as number) / 255 : 1;
    lum[i] = (0.299 * r + 0.587 * g + 0.114 * b) * alpha;
    const max = Math.max(r, g, b);
    const min = Math.min(r, g, b);
    sat[i] = max > 0 ? ((max - min) / max) * (max / 255) * alpha : 0;
    // Skin chromaticity (normalised r, g) in the range human skin of all tones falls into, reasonably lit.
    const sum = r + g + b;
    if (sum > 120) {
      const nr = r / sum;
      const ng = g / sum;
      if (nr > 0.36 && nr < 0.5 && ng > 0.28 && ng < 0.36 && r > g && g > b) skin[i] = alpha;
    }
  }
  const edge = new Float32Array(n);
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      const i = y * width + x;
      const gx =
        (lum[i - width + 1] as number) + 2 * (lum[i + 1] as number) + (lum[i + width + 1] as number) -
        (lum[i - width - 1] as number) - 2 * (lum[i - 1] as number) - (lum[i + width - 1] as number);
      const gy =
        (lum[i + width - 1] as number) + 2 * (lum[i + width] as number) + (lum[i + width + 1] as number) -
        (lum[i - width - 1] as number) - 2 * (lum[i - width] as number) - (lum[i - width + 1] as number);
      edge[i] = Math.hypot(gx, gy);
    }
  }
  const en = percentile(edge, 0.99);
  const sn = percentile(sat, 0.99);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = (en > 0 ? Math.min(1, (edge[i] as number) / en) : 0) + 0.5 * (sn > 0 ? Math.min(1, (sat[i] as number) / sn) : 0) + (skin[i] as number);
  }
  return out;
}

function percentile(values: Float32Array, q: number): number {
  const sorted = Float32Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

/** The head around a detected face box: hair above, ears beside, chin below. */
export function headBox(face: Box): Box {
  return {
    left: face.left - 0.25 * face.width,
    top: face.top - 0.4 * face.height,
    width: face.width * 1.5,
    height: face.height * 1.55,
  };
}

/**
 * Adds `mass` spread evenly over `box` (in map coordinates, fractional edges handled by area) to `map`,
 * so a window that cuts through the box gets the share of the mass it covers.
 */
export function addBoxMass(map: Float32Array, width: number, height: number, box: Box, mass: number): void {
  const x0 = Math.max(0, box.left);
  const y0 = Math.max(0, box.top);
  const x1 = Math.min(width, box.left + box.width);
  const y1 = Math.min(height, box.top + box.height);
  const area = (x1 - x0) * (y1 - y0);
  if (!(area > 0)) return;
  const density = mass / area;
  for (let y = Math.floor(y0); y < Math.ceil(y1); y++) {
    const cy = Math.min(y + 1, y1) - Math.max(y, y0);
    for (let x = Math.floor(x0); x < Math.ceil(x1); x++) {
      const cx = Math.min(x + 1, x1) - Math.max(x, x0);
      map[y * width + x] = (map[y * width + x] as number) + density * cx * cy;
    }
  }
}

/**
 * The offset (0..length-window) of the window over `profile` (importance summed across the other axis) that
 * covers the most importance; ties go to the offset nearest the centre.
 */
export function bestWindow(profile: Float64Array | Float32Array, window: number): number {
  const length = profile.length;
  if (window >= length) return 0;
  const prefix = new Float64Array(length + 1);
  for (let i = 0; i < length; i++) prefix[i + 1] = (prefix[i] as number) + (profile[i] as number);
  const total = prefix[length] as number;
  const range = length - window;
  const centre = range / 2;
  // Differences below this are noise (float sums): such offsets count as ties, and ties go to the centre.
  const eps = total * 1e-6;
  let best = 0;
  let bestCovered = -Infinity;
  for (let p = 0; p <= range; p++) {
    const covered = (prefix[p + window] as number) - (prefix[p] as number);
    if (covered > bestCovered + eps || (covered >= bestCovered - eps && Math.abs(p - centre) < Math.abs(best - centre))) {
      bestCovered = Math.max(covered, bestCovered);
      best = p;
    }
  }
  return best;
}

export interface SmartCropInputs {
  saliency: Float32Array;
  width: number;
  height: number;
  /** Face boxes in saliency-map coordinates. */
  faces: { box: Box; score: number }[];
}

/** Importance = saliency + each face's head weighted by (its score × the saliency's total). */
export function importanceMap(inputs: SmartCropInputs): Float32Array {
  const map = Float32Array.from(inputs.saliency);
  let total = 0;
  for (const v of map) total += v;
  const unit = Math.max(total, 1);
  for (const f of inputs.faces) addBoxMass(map, inputs.width, inputs.height, headBox(f.box), unit * f.score);
  return map;
}

/**
 * The crop window's offset on a map of `width`×`height` along `axis` (x: the window spans the full height and
 * is `window` wide; y: full width, `window` high).
 */
export function chooseWindow(map: Float32Array, width: number, height: number, axis: 'x' | 'y', window: number): { left: number; top: number } {
  if (axis === 'x') {
    const profile = new Float64Array(width);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) profile[x] = (profile[x] as number) + (map[y * width + x] as number);
    return { left: bestWindow(profile, window), top: 0 };
  }
  const profile = new Float64Array(height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) profile[y] = (profile[y] as number) + (map[y * width + x] as number);
  return { left: 0, top: bestWindow(profile, window) };
}

export async function smartCropBox(
  img: RawImage,
  target: { width: number; height: number },
  ctx: ModelContext,
): Promise<{ left: number; top: number; width: number; height: number }> {
  const started = performance.now();
  const win = cropWindowSize(img, target);
  if (win.width === img.width && win.height === img.height) return { left: 0, top: 0, ...win };

  const scale = Math.min(1, SALIENCY_SIDE / Math.max(img.width, img.height));
  const sw = Math.max(1, Math.round(img.width * scale));
  const sh = Math.max(1, Math.round(img.height * scale));
  const small = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels }, limitInputPixels: false })
    .resize(sw, sh, { fit: 'fill' })
    .raw()
    .toBuffer();
  const saliency = saliencyMap(small, sw, sh, img.channels);

  let faces: { box: Box; score: number }[] = [];
  let faceState = 'ok';
  try {
    faces = await detectFaceBoxes(img, ctx);
  } catch (err) {
    // Without the face model the crop still follows the saliency map; profiling says so.
    if (!isAtelierError(err) || err.status !== 503) throw err;
    faceState = err.code;
  }
  const fx = sw / img.width;
  const fy = sh / img.height;
  const scaled = faces.map((f) => ({
    score: f.score,
    box: { left: f.box.left * fx, top: f.box.top * fy, width: f.box.width * fx, height: f.box.height * fy },
  }));
  const map = importanceMap({ saliency, width: sw, height: sh, faces: scaled });
  // The window in map units; its offset is then mapped back and clamped in image pixels.
  const axis = win.width < img.width ? 'x' : 'y';
  const mapWindow = axis === 'x' ? Math.min(sw, Math.round(win.width * fx)) : Math.min(sh, Math.round(win.height * fy));
  const pos = chooseWindow(map, sw, sh, axis, mapWindow);
  const left = Math.min(img.width - win.width, Math.max(0, Math.round(pos.left / fx)));
  const top = Math.min(img.height - win.height, Math.max(0, Math.round(pos.top / fy)));
  ctx.profiling.smart_crop = {
    ms: Math.round(performance.now() - started),
    method: 'saliency+faces',
    faces: faceState === 'ok' ? faces.length : faceState,
  };
  return { left, top, width: win.width, height: win.height };
}
