// `privacy.blur_car_plate` and `privacy.identity_crop`.
//
// Plates: vehicles are found first (CenterNet, COCO car/motorcycle/bus/truck); the text detector (PP-OCRv4 DB)
// then looks at the lower part of each vehicle at a resolution suited to that vehicle rather than to the whole
// image, so a plate on a car in a 12 MP photo is seen with enough pixels. Text boxes that lie in a vehicle's
// lower part and have a plate's proportions are blurred beyond reading; nothing else is touched. When no
// vehicle is found, nothing is blurred: blurring every short line of text in a photo (shirts, shop signs,
// captions) would damage images that contain no plate, and a plate is by definition on a vehicle. The number
// of vehicles and plates found goes into `profiling` so a caller can see what happened.
//
// Identity crop: everything above the mouth of every detected face is cut away (see mouthCutLine).
import sharp from 'sharp';
import { ImageError } from '../errors.js';
import type { RawImage } from './raw-image.js';
import type { ModelContext } from './model-context.js';
import { detectFaces, type Box, type FaceDetection } from '../models/faces.js';
import { detectText, type TextBox } from '../models/text-detector.js';
import { detectVehicles, type ObjectDetection } from '../models/vehicles.js';

export { detectFaces, type FaceDetection } from '../models/faces.js';

// ---------------------------------------------------------------------------------------------------------
// Plate geometry (pure)

/** Width/height range of a plate's text line (after the detector's unclip): EU ≈ 4.5, US ≈ 2.5–3. */
export const PLATE_ASPECT = { min: 2, max: 6 } as const;
/** A plate lies below this fraction of its vehicle's height, measured from the vehicle's top. */
const PLATE_MIN_DEPTH = 0.35;
/** Vehicles below this score are ignored. */
export const VEHICLE_MIN_SCORE = 0.3;
/** Long side of the text detector's input for one vehicle region. */
const PLATE_DET_SIDE = 960;
/** Vehicle regions smaller than this (pixels on the long side) are enlarged for the text detector, at most ×2. */
const PLATE_DET_MIN_SIDE = 480;

/** The part of a vehicle's box where its plate can be: the lower part, widened a little for plates at the edge. */
export function plateSearchRegion(vehicle: Box, imgWidth: number, imgHeight: number): Box {
  const padX = vehicle.width * 0.05;
  const top = vehicle.top + vehicle.height * PLATE_MIN_DEPTH;
  const left = Math.max(0, Math.floor(vehicle.left - padX));
  const right = Math.min(imgWidth, Math.ceil(vehicle.left + vehicle.width + padX));
  const bottom = Math.min(imgHeight, Math.ceil(vehicle.top + vehicle.height * 1.05));
  const t = Math.max(0, Math.floor(top));
  return { left, top: t, width: Math.max(1, right - left), height: Math.max(1, bottom - t) };
}

/**
 * Joins text boxes that sit on one line with small gaps (the detector may split "AB 123 CD" at the spaces),
 * so the aspect test sees the whole plate line.
 */
export function mergeTextLines(boxes: readonly TextBox[]): TextBox[] {
  const out = boxes.map((b) => ({ ...b }));
  let merged = true;
  while (merged) {
    merged = false;
    outer: for (let i = 0; i < out.length; i++) {
      for (let j = i + 1; j < out.length; j++) {
        const a = out[i] as TextBox;
        const b = out[j] as TextBox;
        const overlapY = Math.min(a.top + a.height, b.top + b.height) - Math.max(a.top, b.top);
        const gapX = Math.max(a.left, b.left) - Math.min(a.left + a.width, b.left + b.width);
        const h = Math.max(a.height, b.height);
        if (overlapY >= 0.5 * Math.min(a.height, b.height) && gapX <= h && Math.abs(a.height - b.height) <= 0.5 * h) {
          const left = Math.min(a.left, b.left);
          const top = Math.min(a.top, b.top);
          const right = Math.max(a.left + a.width, b.left + b.width);
          const bottom = Math.max(a.top + a.height, b.top + b.height);
          const score = (a.score * a.width + b.score * b.width) / (a.width + b.width);
          out[i] = { left, top, width: right - left, height: bottom - top, score };
          out.splice(j, 1);
          merged = true;
          break outer;
        }
      }
    }
  }
  return out;
}

/** True when a text box has a plate's shape and place relative to `vehicle`. */
export function isPlateLike(text: Box, vehicle: Box): boolean {
  const aspect = text.width / text.height;
  if (aspect < PLATE_ASPECT.min || aspect > PLATE_ASPECT.max) return false;
  // A plate is a small part of its vehicle: not wider than 60% of it, not taller than a third of it.
  if (text.width > 0.6 * vehicle.width || text.height > vehicle.height / 3) return false;
  const cx = text.left + text.width / 2;
  const cy = text.top + text.height / 2;
  return cx >= vehicle.left && cx <= vehicle.left + vehicle.width && cy >= vehicle.top + PLATE_MIN_DEPTH * vehicle.height && cy <= vehicle.top + vehicle.height * 1.05;
}

/**
 * The rectangle to blur for a plate's text line: grown to cover the plate's border and any characters the
 * detector's box clipped (text boxes hug the glyphs; plates have a margin around them).
 */
export function plateBlurBox(text: Box, imgWidth: number, imgHeight: number): Box {
  const padY = text.height * 0.35;
  const padX = text.height * 0.35 + text.width * 0.06;
  const left = Math.max(0, Math.floor(text.left - padX));
  const top = Math.max(0, Math.floor(text.top - padY));
  const right = Math.min(imgWidth, Math.ceil(text.left + text.width + padX));
  const bottom = Math.min(imgHeight, Math.ceil(text.top + text.height + padY));
  return { left, top, width: right - left, height: bottom - top };
}

/** Blur strength for a region: block size of the pixelation and the Gaussian's sigma, from the box height. */
export function blurStrength(box: Box): { block: number; sigma: number; feather: number } {
  const block = Math.max(3, Math.round(Math.min(box.height, box.width) / 5));
  return { block, sigma: Math.max(2, block * 0.8), feather: Math.max(1, Math.round(Math.min(box.width, box.height) * 0.12)) };
}

/**
 * Makes the contents of `boxes` unreadable: each is pixelated (block ≈ a fifth of its height), then blurred,
 * and blended in with a feathered edge that ramps from the box's border inwards. Pixels outside the boxes are
 * never written; alpha is kept.
 */
export async function blurRegions(img: RawImage, boxes: readonly Box[]): Promise<RawImage> {
  const out = Buffer.from(img.data);
  const ch = img.channels;
  for (const box of boxes) {
    if (box.width < 2 || box.height < 2) continue;
    const { block, sigma, feather } = blurStrength(box);
    const cells = { width: Math.max(1, Math.round(box.width / block)), height: Math.max(1, Math.round(box.height / block)) };
    const blurred = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: ch }, limitInputPixels: false })
      .extract(box)
      // Averaging into a few cells destroys the glyphs; the blur then hides the cell edges.
      .resize(cells.width, cells.height, { fit: 'fill', kernel: 'linear' })
      .resize(box.width, box.height, { fit: 'fill', kernel: 'nearest' })
      .blur(sigma)
      .raw()
      .toBuffer();
    for (let y = 0; y < box.height; y++) {
      const dy = Math.min(y + 1, box.height - y);
      for (let x = 0; x < box.width; x++) {
        const d = Math.min(dy, x + 1, box.width - x);
        const a = Math.min(1, d / feather);
        const o = ((box.top + y) * img.width + box.left + x) * ch;
        const b = (y * box.width + x) * ch;
        for (let c = 0; c < 3; c++) {
          out[o + c] = Math.round((img.data[o + c] as number) * (1 - a) + (blurred[b + c] as number) * a);
        }
      }
    }
  }
  return { data: out, width: img.width, height: img.height, channels: img.channels };
}

// ---------------------------------------------------------------------------------------------------------

export interface PlateSearch {
  vehicles: ObjectDetection[];
  plates: Box[];
}

/** Vehicles in `img` and the plate rectangles to blur on them. */
export async function findPlates(img: RawImage, ctx: ModelContext): Promise<PlateSearch> {
  const vehicles = await detectVehicles(img, ctx, { minScore: VEHICLE_MIN_SCORE });
  const plates: Box[] = [];
  for (const v of vehicles) {
    ctx.signal?.throwIfAborted();
    const region = plateSearchRegion(v.box, img.width, img.height);
    if (region.width < 8 || region.height < 8) continue;
    const long = Math.max(region.width, region.height);
    const minSide = Math.min(PLATE_DET_MIN_SIDE, long * 2);
    const texts = mergeTextLines(await detectText(img, ctx, { region, limitSide: PLATE_DET_SIDE, minSide }));
    for (const t of texts) {
      if (!isPlateLike(t, v.box)) continue;
      const box = plateBlurBox(t, img.width, img.height);
      // The same plate seen through two overlapping vehicle boxes is blurred once.
      if (!plates.some((p) => p.left === box.left && p.top === box.top && p.width === box.width && p.height === box.height)) plates.push(box);
    }
  }
  return { vehicles, plates };
}

export async function blurCarPlates(img: RawImage, ctx: ModelContext): Promise<RawImage> {
  const started = performance.now();
  const { vehicles, plates } = await findPlates(img, ctx);
  const result = plates.length > 0 ? await blurRegions(img, plates) : img;
  ctx.profiling.blur_car_plate = {
    ms: Math.round(performance.now() - started),
    method: 'centernet+ppocr-v4-det+pixelate-gaussian',
    vehicles: vehicles.length,
    plates: plates.length,
  };
  return result;
}

// ---------------------------------------------------------------------------------------------------------
// Identity crop

const MOUTH = { from: 48, to: 67 } as const;
/** Brows (17–26), nose (27–35) and eyes (36–47): all of these must end up above the cut. */
const UPPER_FACE = { from: 17, to: 47 } as const;

/**
 * The first row kept for one face: the top of the mouth (highest of the 20 mouth points), but never above the
 * lowest brow, eye or nose point, so a tilted head cannot leave a nostril or an eye corner below the line.
 */
export function faceCutLine(face: Pick<FaceDetection, 'landmarks'>): number {
  const pts = face.landmarks;
  if (pts.length < 68) throw new Error('a face needs 68 landmarks');
  let mouthTop = Infinity;
  for (let i = MOUTH.from; i <= MOUTH.to; i++) mouthTop = Math.min(mouthTop, (pts[i] as { y: number }).y);
  let upperBottom = -Infinity;
  for (let i = UPPER_FACE.from; i <= UPPER_FACE.to; i++) upperBottom = Math.max(upperBottom, (pts[i] as { y: number }).y);
  return Math.ceil(Math.max(mouthTop, upperBottom + 1));
}

/**
 * With several faces the lowest cut line wins: cutting each face at its own mouth is impossible with one
 * horizontal cut across the full width, and a higher line would leave the lower faces' eyes in the image.
 */
export function mouthCutLine(faces: readonly Pick<FaceDetection, 'landmarks'>[]): number {
  let line = 0;
  for (const f of faces) line = Math.max(line, faceCutLine(f));
  return line;
}

export async function identityCrop(img: RawImage, ctx: ModelContext): Promise<RawImage> {
  const started = performance.now();
  const faces = await detectFaces(img, ctx);
  if (faces.length === 0) {
    throw new ImageError('no_face_found', 'privacy.identity_crop found no face in the image, so there is no mouth line to cut at.', {
      field: 'operations.privacy.identity_crop',
    });
  }
  const cut = Math.max(0, mouthCutLine(faces));
  if (cut >= img.height) {
    throw new ImageError('nothing_left', 'privacy.identity_crop would remove the whole image: the mouth line is at its bottom edge.', {
      field: 'operations.privacy.identity_crop',
      cut_line: cut,
    });
  }
  const rowBytes = img.width * img.channels;
  const data = Buffer.from(img.data.subarray(cut * rowBytes, img.height * rowBytes));
  ctx.profiling.identity_crop = {
    ms: Math.round(performance.now() - started),
    method: 'ssd-mobilenetv1+landmark68',
    faces: faces.length,
    cut_line: cut,
  };
  return { data, width: img.width, height: img.height - cut, channels: img.channels };
}
