// Face boxes and 68-point landmarks from face-api's networks (SSD MobileNet V1 face detector, 68-point
// landmark net; weights from @vladmandic/face-api/model, MIT). Weights are read from the package's manifest +
// .bin through the registry (never face-api's own loaders), so a missing package answers 503 like every other
// model.
//
// Both networks are rebuilt as ONNX graphs from those weights at load (src/models/face-ssd.ts,
// src/models/face-landmarks.ts; face-api's code is not run) and execute on onnxruntime with every core (CUDA
// when ATELIER_DEVICE asks for it). face-api itself runs them on TF.js, whose wasm backend is single-threaded
// under Node: there the detector cost ≈ 0.36 s of one core per image, here ≈ 0.08 s. Pre- and post-processing
// reproduce face-api's (same input, score threshold, decoding and NMS); test/models/faces.test.ts compares
// both against face-api's own results.
//
// Resolution strategy: the detector sees the whole image with its long side at 512 (the network's input);
// landmarks are computed on each face cropped from the full-resolution image, so the mouth line is precise
// on large inputs.
import sharp from 'sharp';
import { loadOnnx, ort, type OnnxModel } from './runtime/onnx.js';
import { readWeightsManifest } from './runtime/tfjs-weights.js';
import { buildSsdMobilenetV1Onnx, ssdDetections, ssdInput, ssdPriors, SSD_INPUT, type SsdDetection } from './face-ssd.js';
import { buildFaceLandmark68Onnx, landmarkInput, landmarkPositions, LANDMARK_INPUT } from './face-landmarks.js';
import { models, type ModelFiles, type ModelRegistry, type ModelSpec } from './registry.js';
import type { RawImage } from '../pipeline/raw-image.js';
import type { ModelContext } from '../pipeline/model-context.js';

export const FACE_API_PACKAGE = '@vladmandic/face-api';
const FACE_API_INSTALL = 'npm install @vladmandic/face-api@1.7.15';

export const FACE_DETECTOR: ModelSpec = {
  id: 'face-ssd-mobilenetv1',
  task: 'face-detection',
  package: FACE_API_PACKAGE,
  files: ['model/ssd_mobilenetv1_model-weights_manifest.json', 'model/ssd_mobilenetv1_model.bin'],
  format: 'tfjs-faceapi',
  licence: 'MIT',
  source: 'SSD MobileNet V1 face detector trained on WIDER FACE (face-api.js, github.com/justadudewhohacks/face-api.js), packaged by @vladmandic/face-api',
  sizeBytes: 5_645_190,
  installHint: FACE_API_INSTALL,
};

export const FACE_LANDMARKS: ModelSpec = {
  id: 'face-landmark-68',
  task: 'face-landmarks',
  package: FACE_API_PACKAGE,
  files: ['model/face_landmark_68_model-weights_manifest.json', 'model/face_landmark_68_model.bin'],
  format: 'tfjs-faceapi',
  licence: 'MIT',
  source: '68-point face landmark net (face-api.js, github.com/justadudewhohacks/face-api.js), packaged by @vladmandic/face-api',
  sizeBytes: 365_325,
  installHint: FACE_API_INSTALL,
};

/** The detector's input side: face-api's SSD pads to a square and resizes to 512. */
export const DETECTOR_INPUT = SSD_INPUT;
/** Detections below this score are dropped (face-api's default). */
export const FACE_MIN_SCORE = 0.5;
const MAX_FACES = 64;

export interface Point {
  x: number;
  y: number;
}

export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface FaceDetection {
  /** Face box in the image's pixel coordinates (forehead to chin, as the detector was trained). */
  box: Box;
  score: number;
  /** The 68 points of the iBUG 300-W scheme, in image coordinates: 0–16 jaw, 17–26 brows, 27–35 nose, 36–47 eyes, 48–67 mouth. */
  landmarks: Point[];
}

/** The SSD as an onnxruntime session plus its anchor boxes (decoding happens outside the graph). */
interface FaceDetectorModel {
  session: OnnxModel;
  priors: Float32Array;
}

async function loadSsd(files: ModelFiles): Promise<FaceDetectorModel> {
  const weights = readWeightsManifest(files.files[0] as string);
  const session = await loadOnnx(buildSsdMobilenetV1Onnx(weights), { spinning: false });
  return { session, priors: ssdPriors(weights) };
}

async function loadLandmarks(files: ModelFiles): Promise<OnnxModel> {
  return loadOnnx(buildFaceLandmark68Onnx(readWeightsManifest(files.files[0] as string)), { spinning: false });
}

function registerDetector(registry: ModelRegistry): void {
  registry.register(FACE_DETECTOR, loadSsd, (m) => m.session.release());
}

function registerLandmarks(registry: ModelRegistry): void {
  registry.register(FACE_LANDMARKS, loadLandmarks, (m) => m.release());
}

export function registerFaceModels(registry: ModelRegistry): void {
  registerDetector(registry);
  registerLandmarks(registry);
}

registerFaceModels(models);

/** Registers whichever of the two models a registry (e.g. a test's own) does not have yet. */
function ensureRegistered(registry: ModelRegistry): void {
  if (!registry.has(FACE_DETECTOR.id)) registerDetector(registry);
  if (!registry.has(FACE_LANDMARKS.id)) registerLandmarks(registry);
}

// ---------------------------------------------------------------------------------------------------------

/**
 * Interleaved RGB bytes of `img` (or of `region` of it) stretched to width×height by linear interpolation;
 * alpha is dropped (detectors look at colour only). What the networks are handed, exported so that tests can
 * give face-api the same pixels.
 */
export async function rgbResized(img: RawImage, width: number, height: number, region?: Box): Promise<Buffer> {
  let s = sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels }, limitInputPixels: false });
  if (region) s = s.extract({ left: region.left, top: region.top, width: region.width, height: region.height });
  if (img.channels === 4) s = s.removeAlpha();
  const w = region ? region.width : img.width;
  const h = region ? region.height : img.height;
  if (w !== width || h !== height) s = s.resize(width, height, { fit: 'fill', kernel: 'linear' });
  return s.raw().toBuffer();
}

/** The size `src` is scaled to so that its long side is `side` (never upscaled). */
export function fitLongSide(src: { width: number; height: number }, side: number): { width: number; height: number; scale: number } {
  const scale = Math.min(1, side / Math.max(src.width, src.height));
  return { width: Math.max(1, Math.round(src.width * scale)), height: Math.max(1, Math.round(src.height * scale)), scale };
}

/** Clamps a fractional box to the image and rounds it outwards to whole pixels. */
export function clampBox(b: { left: number; top: number; width: number; height: number }, w: number, h: number): Box | null {
  const left = Math.max(0, Math.floor(b.left));
  const top = Math.max(0, Math.floor(b.top));
  const right = Math.min(w, Math.ceil(b.left + b.width));
  const bottom = Math.min(h, Math.ceil(b.top + b.height));
  if (right - left < 1 || bottom - top < 1) return null;
  return { left, top, width: right - left, height: bottom - top };
}

export interface FaceBoxesOptions {
  minScore?: number;
}

/**
 * Runs the detector on an RGB image already at its scale (long side at most 512; `rgbResized`). Boxes are
 * fractional, in that image's pixels, best first, as face-api's SsdMobilenetv1.locateFaces gives them.
 */
export async function locateFaces(rgb: Uint8Array, width: number, height: number, ctx: ModelContext, opts: FaceBoxesOptions = {}): Promise<{ box: Box; score: number }[]> {
  ensureRegistered(ctx.models);
  const minScore = opts.minScore ?? FACE_MIN_SCORE;
  // face-api's SsdMobilenetv1Options refuses thresholds outside (0, 1).
  if (!(minScore > 0 && minScore < 1)) throw new RangeError(`minScore must lie in (0, 1), got ${minScore}`);
  const data = ssdInput(rgb, width, height);
  const found = await ctx.models.use<FaceDetectorModel, SsdDetection[]>(FACE_DETECTOR.id, async (m) => {
    ctx.signal?.throwIfAborted();
    const out = await m.session.run({ image: new ort.Tensor('float32', data, [1, 3, SSD_INPUT, SSD_INPUT]) });
    const boxes = out.box_encodings?.data;
    const classes = out.class_logits?.data;
    if (!(boxes instanceof Float32Array) || !(classes instanceof Float32Array)) throw new Error('the face detector returned no float outputs');
    return ssdDetections(boxes, classes, m.priors, { width, height }, { minScore, maxResults: MAX_FACES });
  });
  return found.map((d) => ({ box: { left: d.left, top: d.top, width: d.right - d.left, height: d.bottom - d.top }, score: d.score }));
}

/** Face boxes only (no landmarks), in `img` coordinates (whole pixels), best first. */
export async function detectFaceBoxes(img: RawImage, ctx: ModelContext, opts: FaceBoxesOptions = {}): Promise<{ box: Box; score: number }[]> {
  const small = fitLongSide(img, DETECTOR_INPUT);
  const found = await locateFaces(await rgbResized(img, small.width, small.height), small.width, small.height, ctx, opts);
  const sx = img.width / small.width;
  const sy = img.height / small.height;
  const out: { box: Box; score: number }[] = [];
  for (const { box: b, score } of found) {
    const box = clampBox({ left: b.left * sx, top: b.top * sy, width: b.width * sx, height: b.height * sy }, img.width, img.height);
    if (box) out.push({ box, score });
  }
  return out.sort((a, b) => b.score - a.score);
}

/**
 * Each box's 68 landmarks in `img` coordinates, computed on the face cropped from the full-resolution image
 * (boxes in whole pixels, inside the image); all faces in one batched run.
 */
export async function faceLandmarks(img: RawImage, boxes: readonly Box[], ctx: ModelContext): Promise<Point[][]> {
  ensureRegistered(ctx.models);
  if (boxes.length === 0) return [];
  // The net pads its input to a square and resizes it to 112: hand it each crop already at that scale.
  const plane = 3 * LANDMARK_INPUT * LANDMARK_INPUT;
  const batch = new Float32Array(boxes.length * plane);
  const sizes = await Promise.all(
    boxes.map(async (box, i) => {
      const small = fitLongSide(box, LANDMARK_INPUT);
      batch.set(landmarkInput(await rgbResized(img, small.width, small.height, box), small.width, small.height), i * plane);
      return small;
    }),
  );
  const out = await ctx.models.use<OnnxModel, Float32Array>(FACE_LANDMARKS.id, async (m) => {
    ctx.signal?.throwIfAborted();
    const r = await m.run({ image: new ort.Tensor('float32', batch, [boxes.length, 3, LANDMARK_INPUT, LANDMARK_INPUT]) });
    const data = r.landmarks?.data;
    if (!(data instanceof Float32Array)) throw new Error('the landmark net returned no float output');
    return data;
  });
  return boxes.map((box, i) => {
    const small = sizes[i] as { width: number; height: number };
    const sx = box.width / small.width;
    const sy = box.height / small.height;
    return landmarkPositions(out.subarray(i * 136, (i + 1) * 136), small.width, small.height).map((p) => ({ x: box.left + p.x * sx, y: box.top + p.y * sy }));
  });
}

/** Faces with boxes and 68 landmarks, in `img` coordinates, best first. */
export async function detectFaces(img: RawImage, ctx: ModelContext, opts: FaceBoxesOptions = {}): Promise<FaceDetection[]> {
  const found = await detectFaceBoxes(img, ctx, opts);
  const landmarks = await faceLandmarks(img, found.map((f) => f.box), ctx);
  return found.map(({ box, score }, i) => ({ box, score, landmarks: landmarks[i] as Point[] }));
}
