// background.remove and background.blur: a foreground matte from ISNet, refined at the input's full
// resolution, then either returned as alpha (remove) or used to blur only what lies behind the subject (blur).
//
// The matte pipeline:
//   1. ISNet on the whole image (a stretched square) → foreground probability.
//   2. Resized to a working resolution (long side ≤ 1024) matching the image's aspect.
//   3. Category / selective rules on the working matte, with COCO boxes from the object detector.
//   4. Edge refinement by a colour guided filter whose coefficients are computed at the working resolution
//      and applied at full resolution (fast guided filter): the matte's edges follow the full-size photo.
//   5. A contrast curve that makes the interior solid and the exterior clean while keeping soft edges.
// Colours of semi-transparent edge pixels are then re-estimated (blur-fusion) so no old background shows.
import sharp from 'sharp';
import type { BackgroundBlurOptions, BackgroundCategory, BackgroundRemovalOptions } from '../contract/types.js';
import { ImageError, ValidationError } from '../errors.js';
import { predictMatte } from '../models/isnet.js';
import { COCO_LABELS, detectObjects, VEHICLE_LABELS } from '../models/vehicles.js';
import {
  blurFusionForeground,
  boundsAbove,
  connectedComponents,
  contrastCurve,
  dilate,
  discSum,
  gaussianBlur,
  guidedCoefficients,
  holesWithin,
  plane,
  resize,
  boxMean,
  sampleAt,
  RowSampler,
  type Plane,
} from './matte.js';
import { classesForText, understoodWords, type CocoClass } from './object-words.js';
import { DECODE_LUT, encode8 } from './tone.js';
import type { ModelContext } from './model-context.js';
import type { RawImage } from './raw-image.js';

/** Working resolution for the matte logic (long side). ISNet itself sees at most 1024². */
export const WORK_SIDE = 1024;
/**
 * Resolution of the guided filter's coefficients (long side). They vary slowly, so computing them at 512 and
 * applying them at full resolution matched or beat 1024 on the synthetic composites, at a quarter of the cost.
 */
export const GUIDE_SIDE = 512;
/** Alpha above this counts as the object for `clipping` (≈ 10/255: faint haze around the edge is ignored). */
export const CLIP_THRESHOLD = 0.04;
/** Detector score below which a box is not trusted. */
const MIN_SCORE = 0.3;

const CATEGORIES: readonly BackgroundCategory[] = ['general', 'cars', 'products'];

interface MatteRequest {
  category: BackgroundCategory;
  /** selective.object_to_keep, mapped to detector classes. */
  keep?: { text: string; classes: CocoClass[] };
  /** Where options live in the request, for error fields (`operations.background.remove`). */
  field: string;
}

interface CategoryTuning {
  /** Guided filter regularisation: larger smooths more across weak colour edges. */
  eps: number;
  /** Contrast curve on the refined matte: values ≤ lo become 0, ≥ hi become 1. */
  lo: number;
  hi: number;
  /** Remove components smaller than this share of the largest, and fill holes smaller than it. */
  speckle: number;
}

/**
 * general: soft edges kept (hair, fur). products: hard-edged objects, so a steeper curve (a narrower
 * transition band), a tighter guided filter (edges snap to colour edges), and specks and pin-holes (reflections
 * the network reads as background) cleaned. cars: as general, plus the vehicle rules in `applyVehicles`.
 */
const TUNING: Record<BackgroundCategory, CategoryTuning> = {
  general: { eps: 1e-4, lo: 0.06, hi: 0.94, speckle: 0 },
  cars: { eps: 1e-4, lo: 0.06, hi: 0.94, speckle: 0.01 },
  products: { eps: 1e-4, lo: 0.25, hi: 0.75, speckle: 0.01 },
};

// ---------------------------------------------------------------------------------------------------------
// Options

function parseCategory(value: unknown, field: string): BackgroundCategory {
  if (value === undefined || value === null) return 'general';
  if (typeof value === 'string' && (CATEGORIES as readonly string[]).includes(value)) return value as BackgroundCategory;
  throw new ValidationError(`category must be one of ${CATEGORIES.join(', ')}`, { field: `${field}.category` });
}

function parseSelective(value: unknown, field: string): MatteRequest['keep'] {
  if (value === undefined || value === null) return undefined;
  const f = `${field}.selective.object_to_keep`;
  const text = typeof value === 'object' ? (value as { object_to_keep?: unknown }).object_to_keep : undefined;
  if (typeof text !== 'string' || text.trim() === '') {
    throw new ValidationError('selective.object_to_keep must be a non-empty string naming an object', { field: f });
  }
  const classes = classesForText(text);
  if (!classes) {
    throw new ValidationError(
      `'${text}' is not an object Atelier can find. It understands the COCO objects (${COCO_LABELS.join(', ')}) and synonyms such as people, man, woman, child, vehicle, automobile, puppy, sofa, phone.`,
      { field: f, understood: understoodWords() },
    );
  }
  return { text, classes };
}

function parseCommon(opts: object | true, field: string): MatteRequest {
  if (opts === true) return { category: 'general', field };
  const o = opts as { category?: unknown; selective?: unknown };
  const keep = parseSelective(o.selective, field);
  return { category: parseCategory(o.category, field), field, ...(keep ? { keep } : {}) };
}

export interface RemovalPlan {
  clipping: boolean;
  request: MatteRequest;
}

export function parseRemovalOptions(opts: BackgroundRemovalOptions | true, field = 'operations.background.remove'): RemovalPlan {
  const request = parseCommon(opts, field);
  const clipping = opts !== true && opts.clipping === true;
  return { clipping, request };
}

export type BlurLevel = 'low' | 'medium' | 'high';

export interface BlurPlan {
  type: 'regular' | 'lens';
  level: BlurLevel;
  request: MatteRequest;
}

export function parseBlurOptions(opts: BackgroundBlurOptions | true, field = 'operations.background.blur'): BlurPlan {
  const request = parseCommon(opts, field);
  if (opts === true) return { type: 'regular', level: 'medium', request };
  const type = opts.type ?? 'regular';
  if (type !== 'regular' && type !== 'lens') throw new ValidationError('type must be regular or lens', { field: `${field}.type` });
  const level = opts.level ?? 'medium';
  if (level !== 'low' && level !== 'medium' && level !== 'high') {
    throw new ValidationError('level must be low, medium or high', { field: `${field}.level` });
  }
  return { type, level, request };
}

// ---------------------------------------------------------------------------------------------------------
// Pixels in and out

function workSize(width: number, height: number, side = WORK_SIDE): { width: number; height: number } {
  const scale = Math.min(1, side / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** RGB planes in 0..1 (sRGB-encoded values) at the given size. */
async function rgbPlanes(img: RawImage, width: number, height: number): Promise<[Plane, Plane, Plane]> {
  let data = img.data;
  let channels: number = img.channels;
  if (width !== img.width || height !== img.height) {
    data = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } })
      .removeAlpha()
      .resize(width, height, { fit: 'fill' })
      .raw()
      .toBuffer();
    channels = 3;
  }
  const n = width * height;
  const out: [Plane, Plane, Plane] = [plane(width, height), plane(width, height), plane(width, height)];
  for (let c = 0; c < 3; c++) {
    const d = out[c]!.data;
    for (let i = 0; i < n; i++) d[i] = (data[i * channels + c] as number) / 255;
  }
  return out;
}

function channelPlane(img: RawImage, c: number): Plane {
  const n = img.width * img.height;
  const p = plane(img.width, img.height);
  for (let i = 0; i < n; i++) p.data[i] = (img.data[i * img.channels + c] as number) / 255;
  return p;
}

async function cropRaw(img: RawImage, box: Box): Promise<RawImage> {
  const { data, info } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } })
    .extract({ left: box.left, top: box.top, width: box.width, height: box.height })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels as 3 | 4 };
}

interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

function scaleBox(d: Box, sx: number, sy: number): Box {
  return { left: d.left * sx, top: d.top * sy, width: d.width * sx, height: d.height * sy };
}

/** Box grown by `margin` of its size on each side, as integer pixels clipped to the image. */
function expandBox(b: Box, margin: number, width: number, height: number): Box {
  const left = Math.max(0, Math.floor(b.left - b.width * margin));
  const top = Math.max(0, Math.floor(b.top - b.height * margin));
  const right = Math.min(width, Math.ceil(b.left + b.width * (1 + margin)));
  const bottom = Math.min(height, Math.ceil(b.top + b.height * (1 + margin)));
  return { left, top, width: Math.max(1, right - left), height: Math.max(1, bottom - top) };
}

function now(): number {
  return performance.now();
}

// ---------------------------------------------------------------------------------------------------------
// The matte

interface Timings {
  [step: string]: number;
}

interface WorkMatte {
  mask: Plane;
  /** Full-resolution pixels per working pixel. */
  scaleX: number;
  scaleY: number;
  notes: Record<string, unknown>;
}

/** ISNet's matte of a whole image resized to (width, height). */
async function networkMatte(img: RawImage, width: number, height: number, ctx: ModelContext, t: Timings): Promise<{ mask: Plane; model: string }> {
  const start = now();
  const m = await predictMatte(ctx.models, img);
  t.inference_ms = (t.inference_ms ?? 0) + (now() - start);
  return { mask: resize(plane(m.size, m.size, m.mask), width, height), model: m.model };
}

function coverage(mask: Plane, box: Box): number {
  const x0 = Math.max(0, Math.floor(box.left));
  const y0 = Math.max(0, Math.floor(box.top));
  const x1 = Math.min(mask.width, Math.ceil(box.left + box.width));
  const y1 = Math.min(mask.height, Math.ceil(box.top + box.height));
  let on = 0;
  let all = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      all++;
      if ((mask.data[y * mask.width + x] as number) >= 0.5) on++;
    }
  }
  return all > 0 ? on / all : 0;
}

/**
 * When the whole-image matte barely covers a detected object (the network chose another subject), ISNet runs
 * again on a crop around that object and the crop's matte is merged in (maximum).
 */
async function ensureObjectMatte(img: RawImage, work: WorkMatte, box: Box, ctx: ModelContext, t: Timings): Promise<boolean> {
  if (coverage(work.mask, scaleBox(box, 1 / work.scaleX, 1 / work.scaleY)) >= 0.15) return false;
  const region = expandBox(box, 0.15, img.width, img.height);
  const crop = await cropRaw(img, region);
  const wr = expandBox(scaleBox(region, 1 / work.scaleX, 1 / work.scaleY), 0, work.mask.width, work.mask.height);
  const { mask } = await networkMatte(crop, wr.width, wr.height, ctx, t);
  const W = work.mask.width;
  for (let y = 0; y < wr.height; y++) {
    for (let x = 0; x < wr.width; x++) {
      const i = (wr.top + y) * W + wr.left + x;
      const v = mask.data[y * wr.width + x] as number;
      if (v > (work.mask.data[i] as number)) work.mask.data[i] = v;
    }
  }
  return true;
}

function binary(mask: Plane, threshold = 0.5): Uint8Array {
  const out = new Uint8Array(mask.data.length);
  for (let i = 0; i < out.length; i++) out[i] = (mask.data[i] as number) >= threshold ? 1 : 0;
  return out;
}

/** Soft (0..1) version of a binary mask: dilated by `r`, then box-smoothed by `r`, so soft matte edges survive. */
function softMembership(mask: Uint8Array, width: number, height: number, r: number): Float32Array {
  const d = dilate(mask, width, height, r);
  const f = new Float32Array(d.length);
  for (let i = 0; i < d.length; i++) f[i] = d[i] as number;
  return boxMean(plane(width, height, f), r).data;
}

/**
 * Keeps only the detected objects of the asked classes. Each connected component of the matte is given to the
 * tightest detected box (any class) holding most of it, so an object inside a larger one's box (a ball at a
 * player's feet) is told apart from it; components owned by the asked objects are kept, within their boxes.
 */
async function applySelective(img: RawImage, work: WorkMatte, request: MatteRequest, ctx: ModelContext, t: Timings): Promise<void> {
  const keep = request.keep as NonNullable<MatteRequest['keep']>;
  const start = now();
  const all = await detectObjects(img, ctx, { minScore: MIN_SCORE });
  t.detection_ms = (t.detection_ms ?? 0) + (now() - start);
  const isTarget = (label: string) => (keep.classes as readonly string[]).includes(label);
  const found = all.filter((d) => isTarget(d.label));
  if (found.length === 0) {
    throw new ImageError('object_not_found', `No ${keep.text} was found in the image (looked for: ${keep.classes.join(', ')}).`, {
      field: `${request.field}.selective.object_to_keep`,
      object_to_keep: keep.text,
      classes: keep.classes,
    });
  }
  // Instances scoring close to the best one: "the dog" keeps both dogs of a pair, not a blurry passer-by.
  const best = found.reduce((a, b) => (b.score > a.score ? b : a));
  const targets = found.filter((d) => d.score >= best.score * 0.7);
  // At most one extra network run: for the best instance, when the whole-image matte missed it.
  await ensureObjectMatte(img, work, best.box, ctx, t);

  const { width: W, height: H } = work.mask;
  const toWork = (b: Box) => expandBox(scaleBox(b, 1 / work.scaleX, 1 / work.scaleY), 0.05, W, H);
  const owners = all.map((d) => ({ box: toWork(d.box), target: targets.includes(d) }));
  const targetBoxes = owners.filter((o) => o.target).map((o) => o.box);
  const inTargets = new Uint8Array(W * H);
  for (const b of targetBoxes) for (let y = b.top; y < b.top + b.height; y++) inTargets.fill(1, y * W + b.left, y * W + b.left + b.width);

  const { labels, sizes } = connectedComponents(binary(work.mask), W, H);
  const count = sizes.length;
  // Pixels of each component inside each detection box, and inside the union of target boxes.
  const inside = owners.map(() => new Int32Array(count));
  const inTarget = new Int32Array(count);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const l = labels[i] as number;
      if (!l) continue;
      if (inTargets[i]) inTarget[l] = (inTarget[l] as number) + 1;
      owners.forEach((o, k) => {
        const b = o.box;
        if (x >= b.left && x < b.left + b.width && y >= b.top && y < b.top + b.height) {
          const arr = inside[k] as Int32Array;
          arr[l] = (arr[l] as number) + 1;
        }
      });
    }
  }
  const smallestTarget = Math.min(...targetBoxes.map((b) => b.width * b.height));
  const kept = new Uint8Array(count);
  for (let l = 1; l < count; l++) {
    const n = sizes[l] as number;
    let owner = -1;
    let ownerArea = Infinity;
    owners.forEach((o, k) => {
      const area = o.box.width * o.box.height;
      if (((inside[k] as Int32Array)[l] as number) >= 0.5 * n && area < ownerArea) {
        owner = k;
        ownerArea = area;
      }
    });
    if (owner >= 0) kept[l] = owners[owner]?.target ? 1 : 0;
    // Held by no box (a limb reaching out of its box): kept when a large part of it overlaps a target.
    else kept[l] = (inTarget[l] as number) >= 0.1 * smallestTarget ? 1 : 0;
  }
  const keptMask = new Uint8Array(W * H);
  for (let i = 0; i < labels.length; i++) if (kept[labels[i] as number] && inTargets[i]) keptMask[i] = 1;
  const soft = softMembership(keptMask, W, H, Math.max(2, Math.round(Math.max(W, H) / 256)));
  for (let i = 0; i < soft.length; i++) work.mask.data[i] = (work.mask.data[i] as number) * (soft[i] as number) * (inTargets[i] as number);
  work.notes.selective = { object_to_keep: keep.text, classes: keep.classes, instances: targets.length };
}

/** cars: every vehicle is kept whole: the matte is completed in its box and holes (windows) are filled. */
async function applyVehicles(img: RawImage, work: WorkMatte, ctx: ModelContext, t: Timings): Promise<void> {
  const start = now();
  const vehicles = (await detectObjects(img, ctx, { minScore: MIN_SCORE })).filter((d) => VEHICLE_LABELS.includes(d.label));
  t.detection_ms = (t.detection_ms ?? 0) + (now() - start);
  work.notes.vehicles = vehicles.length;
  const { width: W, height: H } = work.mask;
  // At most one extra network run, for the largest vehicle when the whole-image matte missed it.
  const largest = vehicles.reduce<(typeof vehicles)[number] | undefined>((a, b) => (!a || b.box.width * b.box.height > a.box.width * a.box.height ? b : a), undefined);
  if (largest) await ensureObjectMatte(img, work, largest.box, ctx, t);
  for (const v of vehicles) {
    const b = expandBox(scaleBox(v.box, 1 / work.scaleX, 1 / work.scaleY), 0.02, W, H);
    const holes = holesWithin(binary(work.mask), W, H, { left: b.left, top: b.top, right: b.left + b.width, bottom: b.top + b.height });
    for (let i = 0; i < holes.length; i++) if (holes[i]) work.mask.data[i] = 1;
  }
}

/** Drops specks smaller than `share` of the largest component and fills pin-holes of the same scale. */
function cleanSpeckles(work: WorkMatte, share: number): void {
  const { width: W, height: H } = work.mask;
  const bin = binary(work.mask);
  const { labels, sizes } = connectedComponents(bin, W, H);
  const largest = Math.max(0, ...sizes);
  if (largest === 0) return;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i] as number;
    if (l && (sizes[l] as number) < share * largest) work.mask.data[i] = 0;
  }
  const inverse = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) inverse[i] = labels[i] && (sizes[labels[i] as number] as number) >= share * largest ? 0 : 1;
  const holes = connectedComponents(inverse, W, H);
  // A background region that does not touch the border and is tiny is a pin-hole in the object.
  const touches = new Uint8Array(holes.sizes.length);
  for (let x = 0; x < W; x++) {
    touches[holes.labels[x] as number] = 1;
    touches[holes.labels[(H - 1) * W + x] as number] = 1;
  }
  for (let y = 0; y < H; y++) {
    touches[holes.labels[y * W] as number] = 1;
    touches[holes.labels[y * W + W - 1] as number] = 1;
  }
  for (let i = 0; i < holes.labels.length; i++) {
    const l = holes.labels[i] as number;
    if (l && !touches[l] && (holes.sizes[l] as number) < share * largest) work.mask.data[i] = 1;
  }
}

export interface FullMatte {
  /** Alpha 0..1 at the input's resolution. */
  alpha: Plane;
  notes: Record<string, unknown>;
  timings: Timings;
}

/**
 * The subject's alpha matte at full resolution, after category and selective rules. Throws the registry's 503
 * when ISNet is not installed, a 422 when the selected object is absent.
 */
export async function subjectMatte(img: RawImage, request: MatteRequest, ctx: ModelContext): Promise<FullMatte> {
  const t: Timings = {};
  const tuning = TUNING[request.category];
  const ws = workSize(img.width, img.height);
  const { mask, model } = await networkMatte(img, ws.width, ws.height, ctx, t);
  ctx.signal?.throwIfAborted();
  let start = now();
  const work: WorkMatte = {
    mask,
    scaleX: img.width / ws.width,
    scaleY: img.height / ws.height,
    notes: { model, category: request.category },
  };
  t.prepare_ms = now() - start;
  if (request.category === 'cars') await applyVehicles(img, work, ctx, t);
  if (request.keep) await applySelective(img, work, request, ctx, t);
  if (tuning.speckle > 0) cleanSpeckles(work, tuning.speckle);
  ctx.signal?.throwIfAborted();

  start = now();
  const gs = workSize(img.width, img.height, GUIDE_SIDE);
  const guide = await rgbPlanes(img, gs.width, gs.height);
  const r = Math.max(2, Math.round(Math.max(gs.width, gs.height) / 256));
  const coeffs = guidedCoefficients(guide, resize(work.mask, gs.width, gs.height), r, tuning.eps);
  const alpha = applyGuided(img, coeffs, tuning);
  t.refine_ms = now() - start;
  return { alpha, notes: { ...work.notes, guided_radius: r, guided_eps: tuning.eps }, timings: t };
}

/**
 * Full-resolution alpha from working-resolution guided-filter coefficients: q = a·I + b with a and b upsampled
 * bilinearly, then the contrast curve. Row-by-row so only the output plane is full size.
 */
function applyGuided(img: RawImage, coeffs: [Plane, Plane, Plane, Plane], tuning: CategoryTuning): Plane {
  const { width: W, height: H } = img;
  const samplers = coeffs.map((c) => new RowSampler(c, W, H));
  const rows = coeffs.map(() => new Float32Array(W));
  const [aR, aG, aB, b] = rows as [Float32Array, Float32Array, Float32Array, Float32Array];
  const out = plane(W, H);
  const ch = img.channels;
  const d = img.data;
  for (let y = 0; y < H; y++) {
    samplers.forEach((s, k) => s.row(y, rows[k] as Float32Array));
    for (let x = 0, i = y * W, p = i * ch; x < W; x++, i++, p += ch) {
      const q =
        (aR[x] as number) * ((d[p] as number) / 255) +
        (aG[x] as number) * ((d[p + 1] as number) / 255) +
        (aB[x] as number) * ((d[p + 2] as number) / 255) +
        (b[x] as number);
      let a = contrastCurve(q, tuning.lo, tuning.hi);
      if (ch === 4) a *= (d[p + 3] as number) / 255;
      out.data[i] = a;
    }
  }
  return out;
}

/** Largest side at which edge colours are estimated; larger images get the correction upsampled. */
export const FOREGROUND_SIDE = 2048;

/**
 * Foreground colours (blur-fusion) of all three channels, sRGB 0..1 planes at full resolution. Above
 * FOREGROUND_SIDE the estimate runs on a reduced copy and only its correction (F − I) is upsampled, and only
 * onto semi-transparent pixels: opaque pixels are their own foreground, transparent ones are never seen.
 */
async function foregroundPlanes(img: RawImage, alpha: Plane): Promise<[Plane, Plane, Plane]> {
  const { width: W, height: H } = img;
  const fs = workSize(W, H, FOREGROUND_SIDE);
  const side = Math.max(fs.width, fs.height);
  const large = Math.max(3, Math.round(side * 0.025));
  const small = Math.max(1, Math.round(side * 0.002));
  if (fs.width === W && fs.height === H) {
    return blurFusionForeground([0, 1, 2].map((c) => channelPlane(img, c)), alpha, large, small) as [Plane, Plane, Plane];
  }
  const reduced = await resizeRaw(img, fs.width, fs.height);
  const I = [0, 1, 2].map((c) => channelPlane(reduced, c));
  const F = blurFusionForeground(I, resize(alpha, fs.width, fs.height), large, small);
  const out = [0, 1, 2].map((c) => channelPlane(img, c)) as [Plane, Plane, Plane];
  for (let c = 0; c < 3; c++) {
    const diff = F[c] as Plane;
    const base = (I[c] as Plane).data;
    for (let i = 0; i < diff.data.length; i++) diff.data[i] = (diff.data[i] as number) - (base[i] as number);
  }
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const a = alpha.data[i] as number;
      if (a <= 0 || a >= 1) continue;
      for (let c = 0; c < 3; c++) {
        const o = (out[c] as Plane).data;
        const v = (o[i] as number) + sampleAt(F[c] as Plane, x, y, W, H);
        o[i] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
    }
  }
  return out;
}

function record(ctx: ModelContext, key: string, value: Record<string, unknown>): void {
  ctx.profiling[key] = value;
}

function roundTimings(t: Timings): Record<string, number> {
  return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Math.round(v)]));
}

// ---------------------------------------------------------------------------------------------------------
// background.remove

/**
 * Removes the background: RGBA at the input's resolution with the matte as alpha and edge colours cleaned of
 * the old background. `clipping` crops to the object's bounds (alpha > CLIP_THRESHOLD); with no object at all
 * the full-size transparent image is returned (nothing to crop to).
 */
export async function removeBackground(img: RawImage, opts: BackgroundRemovalOptions | true, ctx: ModelContext): Promise<RawImage> {
  const plan = parseRemovalOptions(opts);
  const started = now();
  const matte = await subjectMatte(img, plan.request, ctx);
  ctx.signal?.throwIfAborted();
  const start = now();
  const fg = await foregroundPlanes(img, matte.alpha);
  const { width: W, height: H } = img;
  const out = Buffer.allocUnsafe(W * H * 4);
  for (let i = 0, o = 0; i < W * H; i++, o += 4) {
    out[o] = Math.round((fg[0].data[i] as number) * 255);
    out[o + 1] = Math.round((fg[1].data[i] as number) * 255);
    out[o + 2] = Math.round((fg[2].data[i] as number) * 255);
    out[o + 3] = Math.round((matte.alpha.data[i] as number) * 255);
  }
  matte.timings.foreground_ms = now() - start;
  let result: RawImage = { data: out, width: W, height: H, channels: 4 };
  let bounds: Box | undefined;
  if (plan.clipping) {
    bounds = boundsAbove(matte.alpha, CLIP_THRESHOLD);
    if (bounds) result = cropRgba(result, bounds);
  }
  record(ctx, 'background_remove', {
    method: 'isnet+guided-filter+blur-fusion',
    ...matte.notes,
    ...(plan.clipping ? { clipping: bounds ?? 'no object found; not cropped' } : {}),
    ...roundTimings(matte.timings),
    total_ms: Math.round(now() - started),
  });
  return result;
}

function cropRgba(img: RawImage, b: Box): RawImage {
  const out = Buffer.allocUnsafe(b.width * b.height * 4);
  for (let y = 0; y < b.height; y++) {
    const src = ((b.top + y) * img.width + b.left) * 4;
    img.data.copy(out, y * b.width * 4, src, src + b.width * 4);
  }
  return { data: out, width: b.width, height: b.height, channels: 4 };
}

// ---------------------------------------------------------------------------------------------------------
// background.blur

/** Gaussian sigma as a share of the image's long side (regular blur). */
const REGULAR_SIGMA: Record<BlurLevel, number> = { low: 0.006, medium: 0.012, high: 0.024 };
/** Largest disc radius as a share of the long side (lens blur, far background). */
const LENS_RADIUS: Record<BlurLevel, number> = { low: 0.01, medium: 0.02, high: 0.035 };
/** How much highlights are amplified before the lens blur, so they spread into visible bokeh discs. */
const BOKEH_GAIN: Record<BlurLevel, number> = { low: 2, medium: 3, high: 4 };

/**
 * Weight of a pixel as background for the normalised-convolution blur: 1 where alpha is 0, falling to 0 at
 * alpha 0.5, so the subject (and its mixed edge pixels) never smears into the blurred background.
 */
function backgroundWeight(alpha: Plane): Plane {
  const w = plane(alpha.width, alpha.height);
  for (let i = 0; i < w.data.length; i++) {
    const v = Math.max(0, 1 - 2 * (alpha.data[i] as number));
    w.data[i] = v * v;
  }
  return w;
}

function linearPlane(img: RawImage, c: number): Plane {
  const n = img.width * img.height;
  const p = plane(img.width, img.height);
  for (let i = 0; i < n; i++) p.data[i] = DECODE_LUT[img.data[i * img.channels + c] as number] as number;
  return p;
}

/**
 * Blurs the background only: regular = Gaussian (sigma by level, relative to the long side), lens = depth of
 * field (disc blur growing with distance from the subject's focus plane, highlights blooming into bokeh).
 * The subject, re-composited through the soft matte with its cleaned edge colours, stays sharp.
 */
export async function blurBackground(img: RawImage, opts: BackgroundBlurOptions | true, ctx: ModelContext): Promise<RawImage> {
  const plan = parseBlurOptions(opts);
  const started = now();
  const matte = await subjectMatte(img, plan.request, ctx);
  ctx.signal?.throwIfAborted();
  let start = now();
  const fg = await foregroundPlanes(img, matte.alpha);
  matte.timings.foreground_ms = now() - start;
  start = now();
  const background = plan.type === 'regular' ? await regularBackground(img, matte.alpha, plan.level) : await lensBackground(img, matte.alpha, plan.level);
  matte.timings.blur_ms = now() - start;

  const { width: W, height: H } = img;
  const ch = img.channels;
  const out = Buffer.allocUnsafe(W * H * ch);
  // The blurred background comes at a reduced resolution (it holds no detail); it is upsampled row by row.
  const samplers = background.map((p) => new RowSampler(p, W, H));
  const rows = [new Float32Array(W), new Float32Array(W), new Float32Array(W)];
  for (let y = 0; y < H; y++) {
    samplers.forEach((s, k) => s.row(y, rows[k] as Float32Array));
    for (let x = 0, i = y * W, o = i * ch; x < W; x++, i++, o += ch) {
      const a = matte.alpha.data[i] as number;
      for (let c = 0; c < 3; c++) {
        const f = DECODE_LUT[Math.round((fg[c]!.data[i] as number) * 255)] as number;
        out[o + c] = encode8(a * f + (1 - a) * ((rows[c] as Float32Array)[x] as number));
      }
      if (ch === 4) out[o + 3] = img.data[o + 3] as number;
    }
  }
  record(ctx, 'background_blur', {
    method: plan.type === 'regular' ? 'isnet+gaussian-normalised-convolution' : 'isnet+depth-of-field-disc-blur',
    type: plan.type,
    level: plan.level,
    ...matte.notes,
    ...roundTimings(matte.timings),
    total_ms: Math.round(now() - started),
  });
  return { data: out, width: W, height: H, channels: ch };
}

/**
 * Background in linear light, Gaussian-blurred by normalised convolution (subject excluded). A blur of sigma
 * leaves nothing finer than ~sigma, so it runs on a copy reduced until sigma is 4 px and is returned at that
 * size (the caller samples it).
 */
async function regularBackground(img: RawImage, alpha: Plane, level: BlurLevel): Promise<[Plane, Plane, Plane]> {
  const sigmaFull = Math.max(1, REGULAR_SIGMA[level] * Math.max(img.width, img.height));
  const f = Math.max(1, sigmaFull / 4);
  const rw = Math.max(1, Math.round(img.width / f));
  const rh = Math.max(1, Math.round(img.height / f));
  const sigma = sigmaFull * (rw / img.width);
  const small = await resizeRaw(img, rw, rh);
  const w = backgroundWeight(resize(alpha, rw, rh));
  const den = gaussianBlur(w, sigma);
  // Deep inside a large subject no background is near: fall back to a four-times wider blur, then to the mean.
  let wide: Plane | undefined;
  for (const v of den.data) {
    if (v < 1e-3) {
      wide = gaussianBlur(w, sigma * 4);
      break;
    }
  }
  const out: Plane[] = [];
  for (let c = 0; c < 3; c++) {
    const L = linearPlane(small, c);
    const num = plane(rw, rh);
    let total = 0;
    let weight = 0;
    for (let i = 0; i < num.data.length; i++) {
      const v = (L.data[i] as number) * (w.data[i] as number);
      num.data[i] = v;
      total += v;
      weight += w.data[i] as number;
    }
    const blurred = gaussianBlur(num, sigma);
    const wideNum = wide ? gaussianBlur(num, sigma * 4) : undefined;
    const mean = weight > 0 ? total / weight : 0;
    for (let i = 0; i < num.data.length; i++) {
      const d = den.data[i] as number;
      if (d >= 1e-3) blurred.data[i] = (blurred.data[i] as number) / d;
      else if (wide && wideNum && (wide.data[i] as number) >= 1e-6) blurred.data[i] = (wideNum.data[i] as number) / (wide.data[i] as number);
      else blurred.data[i] = mean;
    }
    out.push(blurred);
  }
  return out as [Plane, Plane, Plane];
}

/**
 * Where the subject meets its ground (the focus plane) and a horizon above which everything is far:
 * the bottom of the subject (98th percentile of its rows) and a little below its top. Without a subject,
 * the usual thirds of a landscape photo.
 */
export function focusPlane(alpha: Plane): { focusY: number; horizonY: number } {
  const H = alpha.height;
  const W = alpha.width;
  const rows = new Float64Array(H);
  let total = 0;
  for (let y = 0; y < H; y++) {
    let s = 0;
    for (let x = 0; x < W; x++) if ((alpha.data[y * W + x] as number) >= 0.5) s++;
    rows[y] = s;
    total += s;
  }
  if (total < W * H * 0.001) return { focusY: H * 0.75, horizonY: H * 0.4 };
  let acc = 0;
  let top = 0;
  let bottom = H - 1;
  let topSet = false;
  for (let y = 0; y < H; y++) {
    acc += rows[y] as number;
    if (!topSet && acc >= total * 0.02) {
      top = y;
      topSet = true;
    }
    if (acc >= total * 0.98) {
      bottom = y;
      break;
    }
  }
  return { focusY: bottom, horizonY: Math.min(bottom, top + (bottom - top) * 0.1) };
}

/**
 * Blur radius (as a share of the largest radius) of a pixel row: the ground plane recedes from the focus row
 * up to the horizon, where everything is at full blur; rows below the focus come nearer the camera and blur
 * again, less steeply; nothing outside the subject is fully sharp (it stands apart from its background).
 */
export function lensRadiusShare(y: number, focusY: number, horizonY: number, height: number): number {
  const floor = 0.2;
  let d: number;
  if (y <= focusY) d = focusY - horizonY > 1 ? Math.min(1, (focusY - y) / (focusY - horizonY)) : 1;
  else d = 0.6 * Math.min(1, (y - focusY) / Math.max(1, height - focusY));
  return floor + (1 - floor) * d;
}

/** Lens blur at working resolution (returned at that size; the caller samples it), in linear light. */
async function lensBackground(img: RawImage, alpha: Plane, level: BlurLevel): Promise<[Plane, Plane, Plane]> {
  const ws = workSize(img.width, img.height);
  const scale = Math.max(img.width, img.height) / Math.max(ws.width, ws.height);
  const a = resize(alpha, ws.width, ws.height);
  const w = backgroundWeight(a);
  const { focusY, horizonY } = focusPlane(a);
  const rMax = Math.max(1.5, (LENS_RADIUS[level] * Math.max(img.width, img.height)) / scale);
  const shares = [0.2, 0.4, 0.7, 1];
  const n = ws.width * ws.height;

  // Working-resolution linear RGB with highlights amplified (bokeh).
  const small = await resizeRaw(img, ws.width, ws.height);
  const L: Plane[] = [0, 1, 2].map((c) => linearPlane(small, c));
  const gain = BOKEH_GAIN[level];
  for (let i = 0; i < n; i++) {
    const y = 0.2126 * (L[0]!.data[i] as number) + 0.7152 * (L[1]!.data[i] as number) + 0.0722 * (L[2]!.data[i] as number);
    const s = Math.max(0, Math.min(1, (y - 0.55) / 0.45));
    const g = 1 + gain * s * s;
    for (const p of L) p.data[i] = (p.data[i] as number) * g;
  }
  // One blurred layer per radius; each disc blur runs on a plane reduced so the disc has ≤ 8 px radius.
  const layers = shares.map((share) => {
    const r = rMax * share;
    const f = Math.max(1, r / 8);
    const rw = Math.max(1, Math.round(ws.width / f));
    const rh = Math.max(1, Math.round(ws.height / f));
    const wSmall = resize(w, rw, rh);
    const den = resize(discSum(wSmall, r / f), ws.width, ws.height);
    return L.map((p) => {
      const num = plane(ws.width, ws.height);
      for (let i = 0; i < n; i++) num.data[i] = (p.data[i] as number) * (w.data[i] as number);
      const blurred = resize(discSum(resize(num, rw, rh), r / f), ws.width, ws.height);
      for (let i = 0; i < n; i++) {
        const d = den.data[i] as number;
        blurred.data[i] = d > 1e-4 ? (blurred.data[i] as number) / d : p.data[i] as number;
      }
      return blurred;
    });
  });
  const out = [plane(ws.width, ws.height), plane(ws.width, ws.height), plane(ws.width, ws.height)];
  for (let y = 0; y < ws.height; y++) {
    const share = lensRadiusShare(y, focusY, horizonY, ws.height);
    let k = 0;
    while (k < shares.length - 2 && share > (shares[k + 1] as number)) k++;
    const s0 = shares[k] as number;
    const s1 = shares[k + 1] as number;
    const t = Math.max(0, Math.min(1, (share - s0) / (s1 - s0)));
    for (let c = 0; c < 3; c++) {
      const l0 = layers[k]![c]!.data;
      const l1 = layers[k + 1]![c]!.data;
      const o = out[c]!.data;
      for (let x = 0, i = y * ws.width; x < ws.width; x++, i++) o[i] = (l0[i] as number) * (1 - t) + (l1[i] as number) * t;
    }
  }
  return out as [Plane, Plane, Plane];
}

/** The image's RGB resized with sharp (area-averaging down), as 8-bit pixels for the LUT decoders. */
async function resizeRaw(img: RawImage, width: number, height: number): Promise<RawImage> {
  if (width === img.width && height === img.height) return img;
  const data = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels }, limitInputPixels: false })
    .removeAlpha()
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer();
  return { data, width, height, channels: 3 };
}
