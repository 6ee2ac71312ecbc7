// face-api's 68-point landmark net (FaceLandmark68Net) rebuilt as an ONNX graph from the same TF.js weights,
// following face-api's src/faceFeatureExtractor (FaceFeatureExtractor.ts, denseBlock.ts), src/faceProcessor
// (FaceProcessor.ts) and src/faceLandmarkNet (FaceLandmark68NetBase.ts): four dense blocks of
// depthwise-separable convolutions (each halving the size: 112 → 7), a 7×7 average pool and a fully connected
// layer to 136 numbers, x and y of each point relative to the padded 112² input. The graph takes a batch, so
// every face of an image goes through in one run.
import { OnnxGraphBuilder, tfConv2d, type FeatureMap } from './runtime/onnx-graph.js';
import type { WeightTensor } from './runtime/tfjs-weights.js';
import { squareInput } from './face-input.js';

/** The net's input side. */
export const LANDMARK_INPUT = 112;
/** face-api's FaceFeatureExtractor subtracts this mean (RGB) and divides by 255. */
const MEAN_RGB = [122.782, 117.001, 104.298] as const;

function weight(map: ReadonlyMap<string, WeightTensor>, name: string): WeightTensor {
  const w = map.get(name);
  if (!w) throw new Error(`the landmark weights have no ${name}`);
  return w;
}

/**
 * The landmark net as an ONNX model: input `image` [batch, 3, 112, 112] (see `landmarkInput`), output
 * `landmarks` [batch, 136] (x0, y0, x1, y1, ... relative to the padded square).
 */
export function buildFaceLandmark68Onnx(map: ReadonlyMap<string, WeightTensor>): Uint8Array {
  const g = new OnnxGraphBuilder();
  const relu = (x: FeatureMap, name: string): FeatureMap => ({ ...x, name: g.op('Relu', [x.name], {}, name) });
  const add = (a: FeatureMap, b: FeatureMap, name: string): FeatureMap => ({ ...a, name: g.op('Add', [a.name, b.name], {}, name) });
  // tf.separableConv2d (depthwise, then 1×1) + bias, no activation (face-api's depthwiseSeparableConv).
  const separable = (x: FeatureMap, prefix: string, stride: number): FeatureMap => {
    const dw = tfConv2d(g, x, `${prefix}/depthwise`, weight(map, `${prefix}/depthwise_filter`), undefined, stride, true);
    return tfConv2d(g, dw, `${prefix}/pointwise`, weight(map, `${prefix}/pointwise_filter`), weight(map, `${prefix}/bias`).data, 1);
  };
  // face-api's denseBlock4: every conv sees the sum of the previous outputs.
  const denseBlock = (x: FeatureMap, prefix: string, first: boolean): FeatureMap => {
    const conv0 = first
      ? tfConv2d(g, x, `${prefix}/conv0`, weight(map, `${prefix}/conv0/filters`), weight(map, `${prefix}/conv0/bias`).data, 2)
      : separable(x, `${prefix}/conv0`, 2);
    const out1 = relu(conv0, `${prefix}/out1`);
    const out2 = separable(out1, `${prefix}/conv1`, 1);
    const sum2 = add(out1, out2, `${prefix}/sum2`);
    const out3 = separable(relu(sum2, `${prefix}/in3`), `${prefix}/conv2`, 1);
    const sum3 = add(sum2, out3, `${prefix}/sum3`);
    const out4 = separable(relu(sum3, `${prefix}/in4`), `${prefix}/conv3`, 1);
    return relu(add(sum3, out4, `${prefix}/sum4`), `${prefix}/out`);
  };
  let x: FeatureMap = { name: g.input('image', 'float32', ['batch', 3, LANDMARK_INPUT, LANDMARK_INPUT]), height: LANDMARK_INPUT, width: LANDMARK_INPUT, channels: 3 };
  x = denseBlock(x, 'dense0', true);
  x = denseBlock(x, 'dense1', false);
  x = denseBlock(x, 'dense2', false);
  x = denseBlock(x, 'dense3', false);
  if (x.height !== 7 || x.width !== 7) throw new Error(`unexpected feature size ${x.height}×${x.width}`);
  const pooled = g.op('AveragePool', [x.name], { kernel_shape: [7, 7], strides: [2, 2] }, 'avg_pool');
  const flat = g.op('Flatten', [pooled], { axis: 1 }, 'flatten');
  const fcW = weight(map, 'fc/weights');
  if (fcW.shape[0] !== x.channels) throw new Error(`fc/weights [${fcW.shape.join(',')}] does not fit ${x.channels} features`);
  const outputs = fcW.shape[1] as number;
  g.node('Gemm', [flat, g.initializer('fc/W', fcW.shape, fcW.data), g.initializer('fc/B', [outputs], weight(map, 'fc/bias').data)], {}, 'fc', ['landmarks']);
  g.output('landmarks', 'float32', ['batch', outputs]);
  return g.encode({ opset: 13, graphName: 'face_landmark_68' });
}

/** One face crop (interleaved RGB bytes) as the net's input: centred on a black square, 112², mean-subtracted, /255. */
export function landmarkInput(rgb: Uint8Array, width: number, height: number): Float32Array {
  const data = squareInput(rgb, width, height, LANDMARK_INPUT, true);
  const plane = LANDMARK_INPUT * LANDMARK_INPUT;
  for (let c = 0; c < 3; c++) {
    const mean = MEAN_RGB[c] as number;
    for (let i = c * plane; i < (c + 1) * plane; i++) data[i] = ((data[i] as number) - mean) / 255;
  }
  return data;
}

/**
 * The net's 136 outputs → 68 points in the crop's pixels (face-api's FaceLandmark68NetBase.postProcess: the
 * padding is taken as half the size difference on each side of the scaled crop).
 */
export function landmarkPositions(out: ArrayLike<number>, width: number, height: number): { x: number; y: number }[] {
  if (out.length !== 136) throw new Error(`expected 136 landmark values, got ${out.length}`);
  const scale = LANDMARK_INPUT / Math.max(width, height);
  const w = width * scale;
  const h = height * scale;
  const padX = w < h ? Math.abs(w - h) / 2 : 0;
  const padY = h < w ? Math.abs(w - h) / 2 : 0;
  const points: { x: number; y: number }[] = [];
  for (let i = 0; i < 68; i++) {
    const rx = ((out[2 * i] as number) * LANDMARK_INPUT - padX) / w;
    const ry = ((out[2 * i + 1] as number) * LANDMARK_INPUT - padY) / h;
    points.push({ x: rx * width, y: ry * height });
  }
  return points;
}
