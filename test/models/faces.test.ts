// Faces: the SSD and landmark nets run as ONNX graphs rebuilt from face-api's weights. The reference is
// face-api itself (its node-wasm build on TF.js, weights decoded by tf.io.decodeWeights), run inside this file
// on exactly the pixels our adapter hands the ONNX graphs, so the comparison covers the graphs, the
// pre-processing (padding, TF's bilinear resize), box decoding, NMS and landmark post-processing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import type * as TF from '@tensorflow/tfjs';
import { toRawImage, type RawImage } from '../../src/pipeline/raw-image.js';
import {
  clampBox,
  detectFaceBoxes,
  detectFaces,
  faceLandmarks,
  fitLongSide,
  locateFaces,
  rgbResized,
  DETECTOR_INPUT,
  FACE_API_PACKAGE,
  FACE_DETECTOR,
  FACE_LANDMARKS,
  FACE_MIN_SCORE,
  type Box,
  type Point,
} from '../../src/models/faces.js';
import { LANDMARK_INPUT } from '../../src/models/face-landmarks.js';
import { readWeightsManifest } from '../../src/models/runtime/tfjs-weights.js';
import { tfjs } from '../../src/models/runtime/tfjs.js';
import { models, packageRoot } from '../../src/models/registry.js';
import { context, loadPhoto, photoPath } from './vision-fixtures.js';

const require = createRequire(import.meta.url);

test('fitLongSide scales the long side down to the limit and never up', () => {
  assert.deepEqual(fitLongSide({ width: 1024, height: 512 }, 512), { width: 512, height: 256, scale: 0.5 });
  assert.deepEqual(fitLongSide({ width: 300, height: 400 }, 512), { width: 300, height: 400, scale: 1 });
});

test('clampBox rounds outwards and clips to the image', () => {
  assert.deepEqual(clampBox({ left: -3.5, top: 2.2, width: 10, height: 5.1 }, 100, 100), { left: 0, top: 2, width: 7, height: 6 });
  assert.equal(clampBox({ left: 120, top: 0, width: 10, height: 10 }, 100, 100), null);
});

// ---------------------------------------------------------------------------------------------------------
// face-api on TF.js, the reference

interface FaceApiNet {
  loadFromWeightMap(map: TF.NamedTensorMap): void;
}
interface FaceApi {
  SsdMobilenetv1: new () => FaceApiNet & {
    locateFaces(input: TF.Tensor3D, options: unknown): Promise<{ score: number; box: { x: number; y: number; width: number; height: number } }[]>;
  };
  FaceLandmark68Net: new () => FaceApiNet & { detectLandmarks(input: TF.Tensor3D): Promise<{ positions: Point[] }> };
  SsdMobilenetv1Options: new (o: { minConfidence: number; maxResults: number }) => unknown;
}

/** tf.io.decodeWeights over a manifest's shards: how face-api's own loaders decode them. */
function tfWeightMap(tf: typeof TF, manifestPath: string): TF.NamedTensorMap {
  const groups = JSON.parse(readFileSync(manifestPath, 'utf8')) as { paths: string[]; weights: TF.io.WeightsManifestEntry[] }[];
  const dir = manifestPath.slice(0, manifestPath.lastIndexOf('/') + 1);
  const all = Buffer.concat(groups.flatMap((g) => g.paths.map((p) => readFileSync(dir + p))));
  return tf.io.decodeWeights(all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer, groups.flatMap((g) => g.weights));
}

let reference: Promise<{ tf: typeof TF; api: FaceApi; ssd: InstanceType<FaceApi['SsdMobilenetv1']>; landmarks: InstanceType<FaceApi['FaceLandmark68Net']> }> | undefined;

function faceApi(): NonNullable<typeof reference> {
  reference ??= (async () => {
    const tf = await tfjs();
    const api = require(`${packageRoot(FACE_API_PACKAGE)}/dist/face-api.node-wasm.js`) as FaceApi;
    const ssd = new api.SsdMobilenetv1();
    ssd.loadFromWeightMap(tfWeightMap(tf, models.files(FACE_DETECTOR.id).files[0] as string));
    const landmarks = new api.FaceLandmark68Net();
    landmarks.loadFromWeightMap(tfWeightMap(tf, models.files(FACE_LANDMARKS.id).files[0] as string));
    return { tf, api, ssd, landmarks };
  })();
  return reference;
}

function rgbTensor(tf: typeof TF, rgb: Uint8Array, width: number, height: number): TF.Tensor3D {
  return tf.tensor3d(Float32Array.from(rgb), [height, width, 3], 'float32');
}

function iou(a: Box, b: Box): number {
  const w = Math.min(a.left + a.width, b.left + b.width) - Math.max(a.left, b.left);
  const h = Math.min(a.top + a.height, b.top + b.height) - Math.max(a.top, b.top);
  const inter = Math.max(0, w) * Math.max(0, h);
  return inter / (a.width * a.height + b.width * b.height - inter);
}

/**
 * Real photos with faces (opencv-doc's messi5.jpg) at every input path the detector has: already 512 wide,
 * downscaled, upscaled by the network's own resize (long side below 512), portrait (padded on the right) and
 * a group of three heads at three scales, one mirrored, on another photo.
 */
const CASES: Record<string, () => Promise<RawImage>> = {
  'messi5 548×342': () => loadPhoto('messi5.jpg'),
  'messi5 stretched to 1024×1024': () => loadPhoto('messi5.jpg', (s) => s.resize(1024, 1024, { fit: 'fill' })),
  'messi5 at 274×171': () => loadPhoto('messi5.jpg', (s) => s.resize(274, 171)),
  'portrait crop 260×342': () => loadPhoto('messi5.jpg', (s) => s.extract({ left: 120, top: 0, width: 260, height: 342 })),
  'three heads on building.jpg': async () => {
    const head = await sharp(photoPath('messi5.jpg')).extract({ left: 200, top: 60, width: 90, height: 110 }).toBuffer();
    const mirrored = await sharp(head).resize(144, 176).flop().toBuffer();
    const large = await sharp(head).resize(216, 264).toBuffer();
    return loadPhoto('building.jpg', (s) =>
      s.composite([
        { input: head, left: 60, top: 300 },
        { input: mirrored, left: 300, top: 250 },
        { input: large, left: 560, top: 200 },
      ]),
    );
  },
};

test('the ONNX detector gives face-api\'s boxes and scores on real photos', async () => {
  const { tf, api, ssd } = await faceApi();
  const ctx = context();
  const counts: number[] = [];
  for (const [name, load] of Object.entries(CASES)) {
    const img = await load();
    const small = fitLongSide(img, DETECTOR_INPUT);
    const rgb = await rgbResized(img, small.width, small.height);
    const input = rgbTensor(tf, rgb, small.width, small.height);
    const expected = await ssd.locateFaces(input, new api.SsdMobilenetv1Options({ minConfidence: FACE_MIN_SCORE, maxResults: 64 }));
    input.dispose();
    const got = await locateFaces(rgb, small.width, small.height, ctx);
    assert.equal(got.length, expected.length, `${name}: ${got.length} faces, face-api finds ${expected.length}`);
    expected.forEach((e, i) => {
      const g = got[i];
      assert.ok(g);
      const box = { left: e.box.x, top: e.box.y, width: e.box.width, height: e.box.height };
      assert.ok(iou(g.box, box) > 0.98, `${name}, face ${i}: IoU ${iou(g.box, box)} (${JSON.stringify(g.box)} vs ${JSON.stringify(box)})`);
      assert.ok(Math.abs(g.score - e.score) < 0.01, `${name}, face ${i}: score ${g.score} vs ${e.score}`);
    });
    counts.push(got.length);
  }
  // Every case has its faces (the comparison is not vacuous): one per messi5 variant, three in the group.
  assert.deepEqual(counts, [1, 1, 1, 1, 3]);
});

test('the ONNX landmark net gives face-api\'s 68 points on every face, batched', async () => {
  const { tf, landmarks } = await faceApi();
  const ctx = context();
  for (const [name, load] of Object.entries(CASES)) {
    const img = await load();
    const boxes = (await detectFaceBoxes(img, ctx)).map((f) => f.box);
    const got = await faceLandmarks(img, boxes, ctx);
    assert.equal(got.length, boxes.length);
    for (const [i, box] of boxes.entries()) {
      const small = fitLongSide(box, LANDMARK_INPUT);
      const input = rgbTensor(tf, await rgbResized(img, small.width, small.height, box), small.width, small.height);
      const expected = (await landmarks.detectLandmarks(input)).positions;
      input.dispose();
      const points = got[i] as Point[];
      assert.equal(points.length, 68);
      const worst = Math.max(
        ...expected.map((p, j) => {
          const q = points[j] as Point;
          return Math.hypot(box.left + (p.x * box.width) / small.width - q.x, box.top + (p.y * box.height) / small.height - q.y);
        }),
      );
      // 1 % of the face box, in image pixels (measured: below 10⁻³ px).
      assert.ok(worst < 0.01 * Math.max(box.width, box.height), `${name}, face ${i}: a point is ${worst} px from face-api's`);
    }
  }
});

test('the manifest decoder gives tf.io.decodeWeights\'s values for both nets', async () => {
  const tf = await tfjs();
  for (const spec of [FACE_DETECTOR, FACE_LANDMARKS]) {
    const path = models.files(spec.id).files[0] as string;
    const ours = readWeightsManifest(path);
    const theirs = tfWeightMap(tf, path);
    const floats = Object.entries(theirs).filter(([, t]) => t.dtype === 'float32');
    assert.equal(ours.size, floats.length);
    for (const [name, t] of floats) {
      const w = ours.get(name);
      assert.ok(w, name);
      assert.deepEqual(w.shape, t.shape, name);
      assert.deepEqual(w.data, t.dataSync(), name);
    }
    for (const t of Object.values(theirs)) t.dispose();
  }
  const w = readWeightsManifest(models.files(FACE_DETECTOR.id).files[0] as string).get('Prediction/BoxPredictor_0/ClassPredictor/weights');
  assert.deepEqual(w?.shape, [1, 1, 512, 9]);
});

// ---------------------------------------------------------------------------------------------------------

test('finds the face in messi5.jpg with 68 landmarks in anatomical order', async () => {
  const img = await loadPhoto('messi5.jpg');
  const faces = await detectFaces(img, context());
  assert.equal(faces.length, 1);
  const [face] = faces;
  assert.ok(face);
  // The player's head is at about x 225–258, y 83–132 in this 548×342 photo.
  assert.ok(Math.abs(face.box.left - 225) <= 8 && Math.abs(face.box.top - 83) <= 8, JSON.stringify(face.box));
  assert.ok(face.box.width > 20 && face.box.width < 50 && face.box.height > 30 && face.box.height < 70, JSON.stringify(face.box));
  assert.ok(face.score > 0.6);
  assert.equal(face.landmarks.length, 68);
  const meanY = (from: number, to: number) => face.landmarks.slice(from, to + 1).reduce((s, p) => s + p.y, 0) / (to - from + 1);
  // Brows above eyes above the nose tip above the mouth above the chin.
  assert.ok(meanY(17, 26) < meanY(36, 47));
  assert.ok(meanY(36, 47) < meanY(30, 30));
  assert.ok(meanY(30, 30) < meanY(48, 67));
  assert.ok(meanY(48, 67) < (face.landmarks[8] as { y: number }).y);
  for (const p of face.landmarks) {
    assert.ok(p.x > face.box.left - 10 && p.x < face.box.left + face.box.width + 10);
    assert.ok(p.y > face.box.top - 10 && p.y < face.box.top + face.box.height + 10);
  }
});

test('face boxes come back in the coordinates of a large input', async () => {
  const small = await loadPhoto('messi5.jpg');
  const big = await loadPhoto('messi5.jpg', (s) => s.resize(548 * 3, 342 * 3));
  const ctx = context();
  const [a] = await detectFaceBoxes(small, ctx);
  const [b] = await detectFaceBoxes(big, ctx);
  assert.ok(a && b);
  assert.ok(Math.abs(b.box.left - a.box.left * 3) <= 9, `${b.box.left} vs ${a.box.left * 3}`);
  assert.ok(Math.abs(b.box.top - a.box.top * 3) <= 9, `${b.box.top} vs ${a.box.top * 3}`);
  assert.ok(Math.abs(b.box.width - a.box.width * 3) <= 12);
});

test('no face on a photo of fruit or on a flat image, and alpha inputs are accepted', async () => {
  const ctx = context();
  assert.equal((await detectFaces(await loadPhoto('fruits.jpg'), ctx)).length, 0);
  const flat = await toRawImage(sharp({ create: { width: 300, height: 200, channels: 4, background: { r: 90, g: 120, b: 200, alpha: 0.5 } } }));
  assert.equal(flat.channels, 4);
  assert.equal((await detectFaces(flat, ctx)).length, 0);
});

test('a score threshold outside (0, 1) is refused, as face-api does', async () => {
  const img = await loadPhoto('messi5.jpg');
  await assert.rejects(detectFaceBoxes(img, context(), { minScore: 0 }), RangeError);
  await assert.rejects(detectFaceBoxes(img, context(), { minScore: 1 }), RangeError);
});
