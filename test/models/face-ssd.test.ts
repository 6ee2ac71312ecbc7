// The pure parts around the face networks: face-api's input (padding, TF's bilinear resize), SSD box decoding,
// NMS and box scaling, landmark post-processing, and the SSD graph's shape. End-to-end agreement with face-api
// itself is tested in faces.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { squareInput } from '../../src/models/face-input.js';
import {
  boxIou,
  buildSsdMobilenetV1Onnx,
  decodeSsdBoxes,
  nonMaxSuppression,
  ssdBoxScale,
  ssdDetections,
  ssdInput,
  ssdScores,
  SSD_ANCHORS,
  SSD_INPUT,
} from '../../src/models/face-ssd.js';
import { landmarkInput, landmarkPositions, LANDMARK_INPUT } from '../../src/models/face-landmarks.js';
import { readWeightsManifest, decodeWeightEntries } from '../../src/models/runtime/tfjs-weights.js';
import { loadOnnx, ort } from '../../src/models/runtime/onnx.js';
import { models } from '../../src/models/registry.js';
import { FACE_DETECTOR } from '../../src/models/faces.js';

const rgbOf = (w: number, h: number, f: (x: number, y: number, c: number) => number): Uint8Array => {
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) out[(y * w + x) * 3 + c] = f(x, y, c);
  return out;
};

test('squareInput pads at the bottom/right or centred (round(diff/2) after), planar', () => {
  // 4×2 white image into a 4×4 square: no resize.
  const white = rgbOf(4, 2, () => 255);
  const corner = squareInput(white, 4, 2, 4, false);
  const centred = squareInput(white, 4, 2, 4, true);
  const rows = (d: Float32Array, c: number) => [0, 1, 2, 3].map((y) => d[c * 16 + y * 4] as number);
  assert.deepEqual(rows(corner, 0), [255, 255, 0, 0]);
  assert.deepEqual(rows(centred, 2), [0, 255, 255, 0]);
  // 3 columns of padding on a 1×4 image: 2 after (round(1.5)), 1 before.
  const tall = squareInput(rgbOf(1, 4, () => 9), 1, 4, 4, true);
  assert.deepEqual([0, 1, 2, 3].map((x) => tall[x]), [0, 9, 0, 0]);
});

test('squareInput resizes as tf.image.resizeBilinear without half-pixel centres', () => {
  // A 2×2 image to 4×4: source coordinate = output × 0.5, edge pixels repeat.
  const img = rgbOf(2, 2, (x, y) => (y === 0 ? (x === 0 ? 0 : 100) : x === 0 ? 200 : 40));
  const out = squareInput(img, 2, 2, 4, false);
  const row = (y: number) => [0, 1, 2, 3].map((x) => out[y * 4 + x]);
  assert.deepEqual(row(0), [0, 50, 100, 100]);
  assert.deepEqual(row(1), [100, 85, 70, 70]);
  assert.deepEqual(row(2), [200, 120, 40, 40]);
  assert.deepEqual(row(3), [200, 120, 40, 40]);
});

test('ssdInput scales to −1..1 with black padding at −1', () => {
  const data = ssdInput(rgbOf(SSD_INPUT, 256, () => 255), SSD_INPUT, 256);
  assert.equal(data.length, 3 * SSD_INPUT * SSD_INPUT);
  assert.equal(data[0], 1);
  assert.equal(data[300 * SSD_INPUT], -1);
});

test('zero encodings decode to the priors; offsets move by a tenth of the size, log-scales by a fifth', () => {
  const priors = Float32Array.of(0.2, 0.3, 0.6, 0.5);
  assert.deepEqual([...decodeSsdBoxes(new Float32Array(4), priors)].map((v) => +v.toFixed(6)), [0.2, 0.3, 0.6, 0.5]);
  // ty = 10 moves the centre down one height; th = 5·ln 2 doubles the height.
  const moved = decodeSsdBoxes(Float32Array.of(10, 0, 5 * Math.LN2, 0), priors);
  assert.deepEqual([...moved].map((v) => +v.toFixed(5)), [0.4, 0.3, 1.2, 0.5]);
});

test('scores are the sigmoid of the face logit (class 1)', () => {
  const s = ssdScores(Float32Array.of(5, 0, -9, 9, Math.log(3), 9));
  assert.equal(s[0], 0.5);
  assert.ok(Math.abs((s[1] as number) - 0.75) < 1e-6);
});

test('NMS keeps the best of overlapping boxes, strict thresholds, ties in index order, at most maxResults', () => {
  // [ymin, xmin, ymax, xmax]: 0 and 1 overlap by IoU 0.6, 2 is apart, 3 duplicates 2.
  const boxes = Float32Array.of(0, 0, 1, 1, 0, 0.25, 1, 1.25, 2, 2, 3, 3, 2, 2, 3, 3);
  assert.ok(Math.abs(boxIou(boxes, 0, 1) - 0.6) < 1e-6);
  assert.equal(boxIou(boxes, 0, 2), 0);
  assert.deepEqual(nonMaxSuppression(boxes, Float32Array.of(0.7, 0.9, 0.8, 0.8), 10, 0.5, 0.5), [1, 2]);
  // IoU 0.6 is not above 0.7: both kept.
  assert.deepEqual(nonMaxSuppression(boxes, Float32Array.of(0.7, 0.9, 0.8, 0.8), 10, 0.7, 0.5), [1, 2, 0]);
  // A score equal to the threshold is dropped.
  assert.deepEqual(nonMaxSuppression(boxes, Float32Array.of(0.5, 0.9, 0.8, 0.8), 10, 0.5, 0.5), [1, 2]);
  assert.deepEqual(nonMaxSuppression(boxes, Float32Array.of(0.7, 0.9, 0.8, 0.8), 1, 0.5, 0.5), [1]);
});

test('boxes scale back with face-api\'s rounding of the scaled image size', () => {
  assert.deepEqual(ssdBoxScale(512, 320), { x: 512, y: 512 });
  const k = ssdBoxScale(274, 171); // scaled into 512: 512×320 (319.6 rounded), so y is 1.6·171, not 274
  assert.equal(k.x, 274);
  assert.ok(Math.abs(k.y - 1.6 * 171) < 1e-9);
  // Clipped to the square before scaling.
  const d = ssdDetections(new Float32Array(4), Float32Array.of(0, 9, 0), Float32Array.of(-0.1, 0.5, 0.5, 1.2), { width: 512, height: 512 }, { minScore: 0.5, maxResults: 5 });
  assert.equal(d.length, 1);
  assert.deepEqual({ ...d[0], score: 0 }, { top: 0, left: 256, bottom: 256, right: 512, score: 0 });
});

test('landmark input: centred on the square, mean-subtracted, /255; positions undo the centring', () => {
  const data = landmarkInput(rgbOf(56, LANDMARK_INPUT, () => 200), 56, LANDMARK_INPUT);
  assert.equal(data[0], Math.fround((0 - 122.782) / 255)); // left padding column
  assert.equal(data[56], Math.fround((200 - 122.782) / 255));
  // Net output (0.5, 0.5) is the centre of a tall crop; (0.25, 0) its left edge at the top.
  const out = new Float32Array(136);
  out[0] = 0.5;
  out[1] = 0.5;
  out[2] = 0.25;
  const [centre, left] = landmarkPositions(out, 28, 56);
  assert.deepEqual(centre, { x: 14, y: 28 });
  assert.deepEqual(left, { x: 0, y: 0 });
});

test('the weight decoder dequantises uint8 as q·scale + min and refuses a size mismatch', () => {
  const entries = [
    { name: 'a', shape: [3], dtype: 'float32', quantization: { dtype: 'uint8' as const, scale: 0.5, min: -1 } },
    { name: 'skip', shape: [1], dtype: 'int32' },
    { name: 'b', shape: [1], dtype: 'float32' },
  ];
  const bytes = new Uint8Array(3 + 4 + 4);
  bytes.set([0, 2, 255]);
  new DataView(bytes.buffer).setFloat32(7, 1.25, true);
  const map = decodeWeightEntries(bytes, entries);
  assert.deepEqual([...(map.get('a')?.data ?? [])], [-1, 0, 126.5]);
  assert.deepEqual([...(map.get('b')?.data ?? [])], [1.25]);
  assert.equal(map.has('skip'), false);
  assert.throws(() => decodeWeightEntries(bytes.subarray(0, 10), entries), /past the end/);
});

test('the SSD graph loads on onnxruntime and gives 5118 anchors of encodings and logits', async () => {
  const weights = readWeightsManifest(models.files(FACE_DETECTOR.id).files[0] as string);
  const model = await loadOnnx(buildSsdMobilenetV1Onnx(weights));
  try {
    assert.deepEqual([...model.inputNames], ['image']);
    const out = await model.run({ image: new ort.Tensor('float32', new Float32Array(3 * SSD_INPUT * SSD_INPUT), [1, 3, SSD_INPUT, SSD_INPUT]) });
    assert.deepEqual(out.box_encodings?.dims, [1, SSD_ANCHORS, 4]);
    assert.deepEqual(out.class_logits?.dims, [1, SSD_ANCHORS, 3]);
    // A flat grey image holds no face.
    const scores = ssdScores(out.class_logits?.data as Float32Array);
    assert.ok(Math.max(...scores) < 0.5);
  } finally {
    await model.release();
  }
});
