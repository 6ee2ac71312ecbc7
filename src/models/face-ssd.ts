// face-api's SSD MobileNet V1 face detector rebuilt as an ONNX graph for onnxruntime (all cores, CUDA when
// ATELIER_DEVICE asks), from the same TF.js weights face-api loads. The architecture follows face-api's
// src/ssdMobilenetv1 (mobileNetV1.ts, predictionLayer.ts, boxPredictionLayer.ts, outputLayer.ts,
// nonMaxSuppression.ts, SsdMobilenetv1.ts): a MobileNet V1 backbone of depthwise-separable convolutions with
// ReLU6, eight extra convolutions, six box/class predictors over 5118 anchors. The graph stops at the raw box
// encodings and class logits; preprocessing, box decoding against the priors and NMS are the small pure
// functions below, written to give face-api's numbers.
//
// Layout: TF.js is NHWC with HWIO kernels, ONNX is NCHW with OIHW kernels. TF's 'same' padding puts the odd
// pixel at the end (bottom/right), which the explicit pads reproduce. Depthwise batch norms are folded into
// the depthwise kernels and biases (the pointwise ones already were, as `convolution_bn_offset`).
import { OnnxGraphBuilder, tfConv2d, type FeatureMap } from './runtime/onnx-graph.js';
import type { WeightTensor } from './runtime/tfjs-weights.js';
import { squareInput } from './face-input.js';

/** The network's input side (face-api pads to a square and resizes to this). */
export const SSD_INPUT = 512;
/** Anchors over the six feature maps: 32²·3 + 16²·6 + 8²·6 + 4²·6 + 2²·6 + 1²·6. */
export const SSD_ANCHORS = 5118;
/** face-api's NMS overlap threshold (SsdMobilenetv1.locateFaces). */
export const SSD_IOU_THRESHOLD = 0.5;
/** TF's default batch-norm epsilon, as face-api's mobileNetV1.ts uses it. */
const BN_EPSILON = 0.0010000000474974513;

export type WeightMap = ReadonlyMap<string, WeightTensor>;

function weight(map: WeightMap, name: string, shape?: readonly number[]): WeightTensor {
  const w = map.get(name);
  if (!w) throw new Error(`the SSD weights have no ${name}`);
  if (shape && (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i]))) {
    throw new Error(`${name} has shape [${w.shape.join(',')}], expected [${shape.join(',')}]`);
  }
  return w;
}

class SsdGraph {
  readonly g = new OnnxGraphBuilder();
  private readonly zero = this.g.scalar('zero', 0);
  private readonly six = this.g.scalar('six', 6);

  constructor(private readonly map: WeightMap) {}

  private relu6(x: FeatureMap, name: string): FeatureMap {
    return { ...x, name: this.g.op('Clip', [x.name, this.zero, this.six], {}, `${name}/relu6`) };
  }

  /** face-api's pointwiseConvLayer: a full convolution (1×1 or 3×3) + folded batch-norm offset + ReLU6. */
  pointwise(x: FeatureMap, prefix: string, stride: number): FeatureMap {
    const w = weight(this.map, `${prefix}/weights`);
    const bias = weight(this.map, `${prefix}/convolution_bn_offset`, [w.shape[3] as number]).data;
    return this.relu6(tfConv2d(this.g, x, prefix, w, bias, stride), prefix);
  }

  /** face-api's depthwiseConvLayer: 3×3 depthwise + batch norm (folded into kernel and bias here) + ReLU6. */
  depthwise(x: FeatureMap, prefix: string, stride: number): FeatureMap {
    const c = x.channels;
    const w = weight(this.map, `${prefix}/depthwise_weights`, [3, 3, c, 1]);
    const gamma = weight(this.map, `${prefix}/BatchNorm/gamma`, [c]).data;
    const beta = weight(this.map, `${prefix}/BatchNorm/beta`, [c]).data;
    const mean = weight(this.map, `${prefix}/BatchNorm/moving_mean`, [c]).data;
    const variance = weight(this.map, `${prefix}/BatchNorm/moving_variance`, [c]).data;
    // TF layout [3, 3, c, 1]: the channel is the fastest axis.
    const kernel = new Float32Array(w.data);
    const bias = new Float32Array(c);
    for (let i = 0; i < c; i++) {
      const s = (gamma[i] as number) / Math.sqrt((variance[i] as number) + BN_EPSILON);
      for (let j = 0; j < 9; j++) kernel[j * c + i] = (kernel[j * c + i] as number) * s;
      bias[i] = (beta[i] as number) - (mean[i] as number) * s;
    }
    return this.relu6(tfConv2d(this.g, x, prefix, { shape: w.shape, data: kernel }, bias, stride, true), prefix);
  }

  /** face-api's boxPredictionLayer: 1×1 convolutions to [1, anchors, 4] box encodings and [1, anchors, 3] class logits. */
  predictor(x: FeatureMap, index: number): { boxes: string; classes: string; anchors: number } {
    const out = (kind: string, per: number): { name: string; anchors: number } => {
      const prefix = `Prediction/BoxPredictor_${index}/${kind}`;
      const w = weight(this.map, `${prefix}/weights`);
      const cout = w.shape[3] as number;
      if (cout % per !== 0) throw new Error(`${prefix}: ${cout} outputs are not a multiple of ${per}`);
      const y = tfConv2d(this.g, x, prefix, w, weight(this.map, `${prefix}/biases`, [cout]).data, 1);
      // TF reshapes the NHWC map, so anchors run row by row, column by column, then per location.
      const nhwc = this.g.op('Transpose', [y.name], { perm: [0, 2, 3, 1] }, `${prefix}/nhwc`);
      const name = this.g.op('Reshape', [nhwc, this.g.int64(`${prefix}/shape`, [1, -1, per])], {}, `${prefix}/reshape`);
      return { name, anchors: (x.height * x.width * cout) / per };
    };
    const boxes = out('BoxEncodingPredictor', 4);
    const classes = out('ClassPredictor', 3);
    return { boxes: boxes.name, classes: classes.name, anchors: boxes.anchors };
  }
}

/**
 * The SSD as an ONNX model: input `image` [1, 3, 512, 512] (RGB scaled to −1..1, see `ssdInput`), outputs
 * `box_encodings` [1, 5118, 4] and `class_logits` [1, 5118, 3] (background, face, unused).
 */
export function buildSsdMobilenetV1Onnx(map: WeightMap): Uint8Array {
  const s = new SsdGraph(map);
  let x: FeatureMap = { name: s.g.input('image', 'float32', [1, 3, SSD_INPUT, SSD_INPUT]), height: SSD_INPUT, width: SSD_INPUT, channels: 3 };
  x = s.pointwise(x, 'MobilenetV1/Conv2d_0_pointwise', 2);
  let conv11: FeatureMap | undefined;
  for (let i = 1; i <= 13; i++) {
    x = s.depthwise(x, `MobilenetV1/Conv2d_${i}_depthwise`, [2, 4, 6, 12].includes(i) ? 2 : 1);
    x = s.pointwise(x, `MobilenetV1/Conv2d_${i}_pointwise`, 1);
    if (i === 11) conv11 = x;
  }
  if (!conv11) throw new Error('unreachable: conv 11 missing');
  const extra: FeatureMap[] = [];
  let y = x;
  for (let i = 0; i < 8; i++) {
    y = s.pointwise(y, `Prediction/Conv2d_${i}_pointwise`, i % 2 === 1 ? 2 : 1);
    if (i % 2 === 1) extra.push(y);
  }
  const maps = [conv11, x, ...extra];
  const preds = maps.map((m, i) => s.predictor(m, i));
  const anchors = preds.reduce((n, p) => n + p.anchors, 0);
  if (anchors !== SSD_ANCHORS) throw new Error(`the SSD graph has ${anchors} anchors, expected ${SSD_ANCHORS}`);
  s.g.node('Concat', preds.map((p) => p.boxes), { axis: 1 }, 'concat_boxes', ['box_encodings']);
  s.g.node('Concat', preds.map((p) => p.classes), { axis: 1 }, 'concat_classes', ['class_logits']);
  s.g.output('box_encodings', 'float32', [1, SSD_ANCHORS, 4]);
  s.g.output('class_logits', 'float32', [1, SSD_ANCHORS, 3]);
  return s.g.encode({ opset: 13, graphName: 'ssd_mobilenetv1_face' });
}

/** The anchor boxes (face-api's `Output/extra_dim`): [ymin, xmin, ymax, xmax] per anchor, relative to the input. */
export function ssdPriors(map: WeightMap): Float32Array {
  return weight(map, 'Output/extra_dim', [1, SSD_ANCHORS, 4]).data;
}

// ---------------------------------------------------------------------------------------------------------
// Pre- and post-processing

/**
 * The network input [1, 3, 512, 512] for an RGB image (interleaved bytes, `width`×`height`): padded with black
 * at the bottom or right to a square, resized to 512² when the square is not already that (see
 * face-input.ts), scaled to −1..1 (face-api's `x / 127.5 − 1`), planar.
 */
export function ssdInput(rgb: Uint8Array, width: number, height: number): Float32Array {
  const data = squareInput(rgb, width, height, SSD_INPUT, false);
  for (let i = 0; i < data.length; i++) data[i] = (data[i] as number) / 127.5 - 1;
  return data;
}

/**
 * Per-axis factors from the network's relative coordinates to the pixels of the width×height image given to
 * `ssdInput`. face-api (locateFaces) divides by the image's size scaled into 512 *rounded to whole pixels*
 * before multiplying by the image's size, so on images whose long side is not 512 its boxes are stretched by
 * up to ~0.2 % along the short side; reproduced here so that the results are face-api's.
 */
export function ssdBoxScale(width: number, height: number): { x: number; y: number } {
  const scale = SSD_INPUT / Math.max(width, height);
  return {
    x: (SSD_INPUT / Math.round(width * scale)) * width,
    y: (SSD_INPUT / Math.round(height * scale)) * height,
  };
}

/** Face scores: the sigmoid of the face class's logit (face-api's outputLayer; class 0 is background). */
export function ssdScores(classLogits: Float32Array): Float32Array {
  const n = classLogits.length / 3;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 1 / (1 + Math.exp(-(classLogits[i * 3 + 1] as number)));
  return out;
}

/**
 * Box encodings [ty, tx, th, tw] decoded against the priors (scale factors 10 and 5, face-api's
 * decodeBoxesLayer) to [ymin, xmin, ymax, xmax] relative to the input.
 */
export function decodeSsdBoxes(encodings: Float32Array, priors: Float32Array): Float32Array {
  if (encodings.length !== priors.length) throw new Error('box encodings and priors differ in length');
  const out = new Float32Array(encodings.length);
  for (let i = 0; i < encodings.length; i += 4) {
    const h = (priors[i + 2] as number) - (priors[i] as number);
    const w = (priors[i + 3] as number) - (priors[i + 1] as number);
    const cy = (priors[i] as number) + h / 2;
    const cx = (priors[i + 1] as number) + w / 2;
    const halfH = (Math.exp((encodings[i + 2] as number) / 5) * h) / 2;
    const halfW = (Math.exp((encodings[i + 3] as number) / 5) * w) / 2;
    const y = ((encodings[i] as number) / 10) * h + cy;
    const x = ((encodings[i + 1] as number) / 10) * w + cx;
    out[i] = y - halfH;
    out[i + 1] = x - halfW;
    out[i + 2] = y + halfH;
    out[i + 3] = x + halfW;
  }
  return out;
}

/** Intersection over union of boxes i and j of a [ymin, xmin, ymax, xmax] list (corners in any order, as face-api allows). */
export function boxIou(boxes: Float32Array, i: number, j: number): number {
  const a = i * 4;
  const b = j * 4;
  const ay0 = Math.min(boxes[a] as number, boxes[a + 2] as number);
  const ax0 = Math.min(boxes[a + 1] as number, boxes[a + 3] as number);
  const ay1 = Math.max(boxes[a] as number, boxes[a + 2] as number);
  const ax1 = Math.max(boxes[a + 1] as number, boxes[a + 3] as number);
  const by0 = Math.min(boxes[b] as number, boxes[b + 2] as number);
  const bx0 = Math.min(boxes[b + 1] as number, boxes[b + 3] as number);
  const by1 = Math.max(boxes[b] as number, boxes[b + 2] as number);
  const bx1 = Math.max(boxes[b + 1] as number, boxes[b + 3] as number);
  const areaA = (ay1 - ay0) * (ax1 - ax0);
  const areaB = (by1 - by0) * (bx1 - bx0);
  if (areaA <= 0 || areaB <= 0) return 0;
  const inter = Math.max(Math.min(ay1, by1) - Math.max(ay0, by0), 0) * Math.max(Math.min(ax1, bx1) - Math.max(ax0, bx0), 0);
  return inter / (areaA + areaB - inter);
}

/**
 * Greedy NMS as face-api's nonMaxSuppression: candidates scoring above `minScore`, best first (ties in index
 * order), each kept unless it overlaps an already kept box by more than `iouThreshold`; at most `maxResults`.
 * Returns the kept indices in order.
 */
export function nonMaxSuppression(boxes: Float32Array, scores: Float32Array, maxResults: number, iouThreshold: number, minScore: number): number[] {
  const candidates: number[] = [];
  for (let i = 0; i < scores.length; i++) if ((scores[i] as number) > minScore) candidates.push(i);
  candidates.sort((a, b) => (scores[b] as number) - (scores[a] as number) || a - b);
  const limit = Math.min(maxResults, scores.length);
  const kept: number[] = [];
  for (const c of candidates) {
    if (kept.length >= limit) break;
    if (kept.every((k) => boxIou(boxes, c, k) <= iouThreshold)) kept.push(c);
  }
  return kept;
}

export interface SsdDetection {
  /** Corners in the pixels of the image given to `ssdInput`. */
  left: number;
  top: number;
  right: number;
  bottom: number;
  score: number;
}

/**
 * The network outputs → detections, best first, in the pixels of the width×height image given to `ssdInput`.
 * Relative coordinates are clipped to 0..1 of the padded square before scaling, as face-api's locateFaces does.
 */
export function ssdDetections(
  encodings: Float32Array,
  classLogits: Float32Array,
  priors: Float32Array,
  image: { width: number; height: number },
  opts: { minScore: number; maxResults: number },
): SsdDetection[] {
  const boxes = decodeSsdBoxes(encodings, priors);
  const scores = ssdScores(classLogits);
  const k = ssdBoxScale(image.width, image.height);
  return nonMaxSuppression(boxes, scores, opts.maxResults, SSD_IOU_THRESHOLD, opts.minScore).map((i) => ({
    top: Math.max(0, boxes[i * 4] as number) * k.y,
    left: Math.max(0, boxes[i * 4 + 1] as number) * k.x,
    bottom: Math.min(1, boxes[i * 4 + 2] as number) * k.y,
    right: Math.min(1, boxes[i * 4 + 3] as number) * k.x,
    score: scores[i] as number,
  }));
}
