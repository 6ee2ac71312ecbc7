// Where the object goes on the scene: pure geometry, no pixels. All coordinates are scene pixels with the
// origin at the top-left (as rasters are stored); the contract's `position.y` counts from the bottom edge and
// is converted here, in one place.
//
// Placement types:
// - absolute: `position` is where the centre of the (rotated) object goes, x from the left edge, y from the
//   bottom edge, both relative to the scene. `scale` is relative to the scene: at 1 the rotated object's
//   bounding box just fits the scene (touching two opposite edges), at 0.5 it fits half the scene's width
//   and height. `rotation_degree` turns the object clockwise about its centre. Parts pushed past the edges
//   by the position are cut off.
// - original: the input's frame is fitted into the scene (whole frame visible, centred) and the object
//   keeps its place and size inside that frame.
// - padding: the object is fitted into the scene minus the padding on each side, centred.
// The object is its alpha's bounding box: transparent margins of the input do not count towards its size.
import { ValidationError } from '../../errors.js';
import { parsePadding, type PadValue, type ParsedPadding, type Size } from '../geometry.js';

/** A pixel rectangle, top-left origin. */
export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

export type PlacementSpec =
  | { type: 'absolute'; x: number; y: number; scale: number; rotation: number }
  | { type: 'original' }
  | { type: 'padding'; padding: ParsedPadding; raw: string };

export interface Placement {
  /** The part of the object image that is drawn: its alpha's bounding box. */
  source: Box;
  /** Size `source` is drawn at, before rotation, in scene pixels. */
  width: number;
  height: number;
  /** Clockwise, in degrees. */
  rotation: number;
  /** Centre of the drawn object in scene pixels (top-left origin). */
  centreX: number;
  centreY: number;
}

export const DEFAULT_POSITION = { x: 0.5, y: 0.5 } as const;
export const DEFAULT_SCALE = 1;

/**
 * Alpha values at or below this do not count as object. Matting models leave faint noise over the whole
 * frame; counting it would make every cut-out as large as its input.
 */
export const OBJECT_ALPHA_THRESHOLD = 8;

/**
 * The bounding box of the pixels whose alpha exceeds `threshold`, in an interleaved image whose last
 * channel is alpha; null when no pixel does.
 */
export function alphaBounds(
  data: Uint8Array,
  width: number,
  height: number,
  channels: number,
  threshold = OBJECT_ALPHA_THRESHOLD,
): Box | null {
  let minX = width;
  let minY = height;
  let maxX = -1;
  let maxY = -1;
  const a = channels - 1;
  for (let y = 0; y < height; y++) {
    const row = y * width * channels;
    let first = -1;
    let last = -1;
    for (let x = 0; x < width; x++) {
      if ((data[row + x * channels + a] as number) > threshold) {
        if (first < 0) first = x;
        last = x;
      }
    }
    if (first < 0) continue;
    if (first < minX) minX = first;
    if (last > maxX) maxX = last;
    if (y < minY) minY = y;
    maxY = y;
  }
  if (maxX < 0) return null;
  return { left: minX, top: minY, width: maxX - minX + 1, height: maxY - minY + 1 };
}

/** The size of the axis-aligned box around a `width`×`height` rectangle turned by `degrees`. */
export function rotatedBounds(width: number, height: number, degrees: number): Size {
  const r = (degrees * Math.PI) / 180;
  // Snap the trigonometry of right angles, so 90° gives exactly height×width and not 1e-16 more.
  const snap = (v: number): number => (Math.abs(v) < 1e-12 ? 0 : Math.abs(v));
  const c = snap(Math.cos(r));
  const s = snap(Math.sin(r));
  return { width: width * c + height * s, height: width * s + height * c };
}

const PADDING_FORMS =
  'one value for all sides or two values "HEIGHT WIDTH" separated by a space, each in percent ("10%") or pixels ("20px" or "20")';

/** `object.padding`: the grammar of the edit API's `padding`, errors named for the scene request. */
export function parseScenePadding(raw: string): ParsedPadding {
  try {
    return parsePadding(raw);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    throw new ValidationError(`object.padding must be ${PADDING_FORMS}; got ${JSON.stringify(raw)}.`, {
      field: 'object.padding',
      value: raw,
    });
  }
}

function padPixels(pad: PadValue, length: number): number {
  return pad.unit === 'px' ? pad.value : Math.round((length * pad.value) / 100);
}

/** Padding in pixels for a scene; refuses padding that leaves no room (half a side or more). */
export function scenePadding(padding: ParsedPadding, scene: Size, raw: string): { vertical: number; horizontal: number } {
  const vertical = padPixels(padding.vertical, scene.height);
  const horizontal = padPixels(padding.horizontal, scene.width);
  if (2 * vertical >= scene.height || 2 * horizontal >= scene.width) {
    throw new ValidationError(
      `object.padding ${JSON.stringify(raw)} is ${vertical}px vertically and ${horizontal}px horizontally on a ` +
        `${scene.width}x${scene.height} scene; padding must be less than half of the scene's height and width.`,
      { field: 'object.padding', value: raw, padding_px: { vertical, horizontal }, scene },
    );
  }
  return { vertical, horizontal };
}

/** Scale that makes `content` fit inside `box`, keeping its aspect ratio. */
function fitScale(content: Size, box: Size): number {
  return Math.min(box.width / content.width, box.height / content.height);
}

/**
 * Places the object (`object`: its alpha's bounding box inside an image of size `image`) on a scene of size
 * `scene`.
 */
export function planPlacement(spec: PlacementSpec, image: Size, object: Box, scene: Size): Placement {
  const base = { source: object, rotation: 0 };
  switch (spec.type) {
    case 'absolute': {
      const turned = rotatedBounds(object.width, object.height, spec.rotation);
      const f = spec.scale * fitScale(turned, scene);
      return {
        ...base,
        width: object.width * f,
        height: object.height * f,
        rotation: spec.rotation % 360,
        centreX: spec.x * scene.width,
        // The contract's y runs up from the bottom edge; rasters run down from the top.
        centreY: (1 - spec.y) * scene.height,
      };
    }
    case 'original': {
      const f = fitScale(image, scene);
      const frameLeft = (scene.width - image.width * f) / 2;
      const frameTop = (scene.height - image.height * f) / 2;
      return {
        ...base,
        width: object.width * f,
        height: object.height * f,
        centreX: frameLeft + (object.left + object.width / 2) * f,
        centreY: frameTop + (object.top + object.height / 2) * f,
      };
    }
    case 'padding': {
      const pad = scenePadding(spec.padding, scene, spec.raw);
      const inner = { width: scene.width - 2 * pad.horizontal, height: scene.height - 2 * pad.vertical };
      const f = fitScale(object, inner);
      return { ...base, width: object.width * f, height: object.height * f, centreX: scene.width / 2, centreY: scene.height / 2 };
    }
  }
}

/** The whole-pixel size `source` is resampled to (at least one pixel each way). */
export function drawnSize(p: Placement): Size {
  return { width: Math.max(1, Math.round(p.width)), height: Math.max(1, Math.round(p.height)) };
}

/** Top-left corner, in scene pixels, of a raster of size `raster` centred on the placement's centre. */
export function rasterOrigin(p: Placement, raster: Size): { left: number; top: number } {
  return { left: Math.round(p.centreX - raster.width / 2), top: Math.round(p.centreY - raster.height / 2) };
}

/**
 * The scene-space bounding box of the placed object's (rotated) drawing, before clipping to the scene;
 * used to size shadow work and harmonisation regions.
 */
export function placedBounds(p: Placement): Box {
  const turned = rotatedBounds(p.width, p.height, p.rotation);
  return {
    left: p.centreX - turned.width / 2,
    top: p.centreY - turned.height / 2,
    width: turned.width,
    height: turned.height,
  };
}
