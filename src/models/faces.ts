// Face boxes and 68-point landmarks from face-api's networks (SSD MobileNet V1 face detector, 68-point
// landmark net; weights from @vladmandic/face-api/model, MIT). The networks' code is face-api's own
// `face-api.node-wasm.js` build, which requires our @tensorflow/tfjs and wasm backend instead of bundling a
// TF.js of its own, so it runs on the backend src/models/runtime/tfjs.ts initialised. Weights are read from
// the package's manifest + .bin through the registry (never face-api's own fetch/fs loaders), so a missing
// package answers 503 like every other model.
//
// Resolution strategy: the detector sees the whole image with its long side at 512 (the network's input);
// landmarks are computed on each face cropped from the full-resolution image, so the mouth line is precise
// on large inputs.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import sharp from 'sharp';
import type * as TF from '@tensorflow/tfjs';
import { tfjs } from './runtime/tfjs.js';
import { models, packageRoot, type ModelFiles, type ModelRegistry, type ModelSpec } from './registry.js';
import type { RawImage } from '../pipeline/raw-image.js';
import type { ModelContext } from '../pipeline/model-context.js';

const require = createRequire(import.meta.url);

export const FACE_API_PACKAGE = '@vladmandic/face-api';
const FACE_API_INSTALL = 'npm install @vladmandic/face-api@1.7.15';

export const FACE_DETECTOR: ModelSpec = {
  id: 'face-ssd-mobilenetv1',
  task: 'face-detection',
  package: FACE_API_PACKAGE,
  files: ['model/ssd_mobilenetv1_model-weights_manifest.json', 'model/ssd_mobilenetv1_model.bin', 'dist/face-api.node-wasm.js'],
  format: 'tfjs-faceapi',
  licence: 'MIT',
  source: 'SSD MobileNet V1 face detector trained on WIDER FACE (face-api.js, github.com/justadudewhohacks/face-api.js), packaged by @vladmandic/face-api',
  sizeBytes: 5_731_432,
  installHint: FACE_API_INSTALL,
};

export const FACE_LANDMARKS: ModelSpec = {
  id: 'face-landmark-68',
  task: 'face-landmarks',
  package: FACE_API_PACKAGE,
  files: ['model/face_landmark_68_model-weights_manifest.json', 'model/face_landmark_68_model.bin', 'dist/face-api.node-wasm.js'],
  format: 'tfjs-faceapi',
  licence: 'MIT',
  source: '68-point face landmark net (face-api.js, github.com/justadudewhohacks/face-api.js), packaged by @vladmandic/face-api',
  sizeBytes: 451_567,
  installHint: FACE_API_INSTALL,
};

/** The detector's input side: face-api's SSD pads to a square and resizes to 512. */
export const DETECTOR_INPUT = 512;
/** The landmark net's input side. */
const LANDMARK_INPUT = 112;
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

// ---------------------------------------------------------------------------------------------------------
// The slice of face-api this adapter uses, typed here rather than through face-api's bundled declarations
// (which carry their own copy of the TF.js types).

interface FaceApiBox {
  x: number;
  y: number;
  width: number;
  height: number;
}
interface FaceApiDetection {
  score: number;
  box: FaceApiBox;
}
interface SsdNet {
  loadFromWeightMap(map: TF.NamedTensorMap): void;
  locateFaces(input: TF.Tensor3D, options: unknown): Promise<FaceApiDetection[]>;
  dispose(): void;
}
interface LandmarkNet {
  loadFromWeightMap(map: TF.NamedTensorMap): void;
  detectLandmarks(input: TF.Tensor3D): Promise<{ positions: Point[] } | { positions: Point[] }[]>;
  dispose(): void;
}
interface FaceApi {
  SsdMobilenetv1: new () => SsdNet;
  FaceLandmark68Net: new () => LandmarkNet;
  SsdMobilenetv1Options: new (o: { minConfidence: number; maxResults: number }) => unknown;
}

let faceApi: FaceApi | undefined;

/** face-api's node-wasm build, loaded once after our TF.js backend is ready (it shares that backend). */
async function loadFaceApi(): Promise<FaceApi> {
  await tfjs();
  if (!faceApi) {
    const root = packageRoot(FACE_API_PACKAGE);
    if (!root) throw new Error(`${FACE_API_PACKAGE} not found`);
    faceApi = require(`${root}/dist/face-api.node-wasm.js`) as FaceApi;
  }
  return faceApi;
}

interface WeightsManifest {
  paths: string[];
  weights: TF.io.WeightsManifestEntry[];
}

/** Decodes a TF.js weights manifest and its shards (quantised uint8 → float32) into named tensors. */
export async function readWeightMap(manifestPath: string): Promise<TF.NamedTensorMap> {
  const tf = await tfjs();
  const groups = JSON.parse(readFileSync(manifestPath, 'utf8')) as WeightsManifest[];
  const dir = manifestPath.slice(0, manifestPath.lastIndexOf('/') + 1);
  const specs: TF.io.WeightsManifestEntry[] = [];
  const shards: Buffer[] = [];
  for (const g of groups) {
    specs.push(...g.weights);
    for (const p of g.paths) shards.push(readFileSync(dir + p));
  }
  const all = Buffer.concat(shards);
  const buffer = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  return tf.io.decodeWeights(buffer, specs);
}

async function loadSsd(files: ModelFiles): Promise<SsdNet> {
  const api = await loadFaceApi();
  const net = new api.SsdMobilenetv1();
  net.loadFromWeightMap(await readWeightMap(files.files[0] as string));
  return net;
}

async function loadLandmarks(files: ModelFiles): Promise<LandmarkNet> {
  const api = await loadFaceApi();
  const net = new api.FaceLandmark68Net();
  net.loadFromWeightMap(await readWeightMap(files.files[0] as string));
  return net;
}

function registerDetector(registry: ModelRegistry): void {
  registry.register(FACE_DETECTOR, loadSsd, (net) => net.dispose());
}

function registerLandmarks(registry: ModelRegistry): void {
  registry.register(FACE_LANDMARKS, loadLandmarks, (net) => net.dispose());
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

/** RGB pixels of `img` (alpha dropped, composited on nothing: detectors look at colour only). */
async function rgbResized(img: RawImage, width: number, height: number, region?: Box): Promise<Buffer> {
  let s = sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels }, limitInputPixels: false });
  if (region) s = s.extract({ left: region.left, top: region.top, width: region.width, height: region.height });
  if (img.channels === 4) s = s.removeAlpha();
  const w = region ? region.width : img.width;
  const h = region ? region.height : img.height;
  if (w !== width || h !== height) s = s.resize(width, height, { fit: 'fill', kernel: 'linear' });
  return s.raw().toBuffer();
}

function toFloat(data: Buffer): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i] as number;
  return out;
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

/** Face boxes only (no landmarks), in `img` coordinates, best first. */
export async function detectFaceBoxes(img: RawImage, ctx: ModelContext, opts: FaceBoxesOptions = {}): Promise<{ box: Box; score: number }[]> {
  ensureRegistered(ctx.models);
  const tf = await tfjs();
  const api = await loadFaceApi();
  const small = fitLongSide(img, DETECTOR_INPUT);
  const pixels = toFloat(await rgbResized(img, small.width, small.height));
  const options = new api.SsdMobilenetv1Options({ minConfidence: opts.minScore ?? FACE_MIN_SCORE, maxResults: MAX_FACES });
  const found = await ctx.models.use<SsdNet, FaceApiDetection[]>(FACE_DETECTOR.id, async (net) => {
    ctx.signal?.throwIfAborted();
    const input = tf.tensor3d(pixels, [small.height, small.width, 3], 'float32');
    try {
      return await net.locateFaces(input, options);
    } finally {
      input.dispose();
    }
  });
  const sx = img.width / small.width;
  const sy = img.height / small.height;
  const out: { box: Box; score: number }[] = [];
  for (const d of found) {
    const box = clampBox({ left: d.box.x * sx, top: d.box.y * sy, width: d.box.width * sx, height: d.box.height * sy }, img.width, img.height);
    if (box) out.push({ box, score: d.score });
  }
  return out.sort((a, b) => b.score - a.score);
}

/** The 68 landmarks of the face in `box`, computed on the face cropped from the full-resolution image. */
async function landmarksFor(img: RawImage, box: Box, ctx: ModelContext): Promise<Point[]> {
  const tf = await tfjs();
  // The net pads its input to a square and resizes it to 112: hand it the crop already at that scale.
  const small = fitLongSide(box, LANDMARK_INPUT);
  const pixels = toFloat(await rgbResized(img, small.width, small.height, box));
  const result = await ctx.models.use<LandmarkNet, Point[]>(FACE_LANDMARKS.id, async (net) => {
    ctx.signal?.throwIfAborted();
    const input = tf.tensor3d(pixels, [small.height, small.width, 3], 'float32');
    try {
      const r = await net.detectLandmarks(input);
      const one = Array.isArray(r) ? r[0] : r;
      if (!one) throw new Error('the landmark net returned nothing');
      return one.positions.map((p) => ({ x: p.x, y: p.y }));
    } finally {
      input.dispose();
    }
  });
  const sx = box.width / small.width;
  const sy = box.height / small.height;
  return result.map((p) => ({ x: box.left + p.x * sx, y: box.top + p.y * sy }));
}

/** Faces with boxes and 68 landmarks, in `img` coordinates, best first. */
export async function detectFaces(img: RawImage, ctx: ModelContext, opts: FaceBoxesOptions = {}): Promise<FaceDetection[]> {
  const boxes = await detectFaceBoxes(img, ctx, opts);
  const faces: FaceDetection[] = [];
  for (const { box, score } of boxes) {
    faces.push({ box, score, landmarks: await landmarksFor(img, box, ctx) });
  }
  return faces;
}
