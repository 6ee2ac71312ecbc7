// Scene sizes. Each contract aspect ratio maps to one fixed output size: the exact ratio, both sides
// multiples of 8, with the area closest to 1024×1024 (the size the reference answers show for 1:1). Diffusion
// runs at a working size whose sides are multiples of 64 (what the UNets' down/upsampling stack needs); the
// result is resampled to the output size, and the object is composited afterwards at output resolution.
import type { SceneAspectRatio } from '../../contract/scene-schemas.js';
import type { Size } from '../geometry.js';

export const SCENE_SIZES: Readonly<Record<SceneAspectRatio, Size>> = {
  '1:1': { width: 1024, height: 1024 },
  '4:3': { width: 1184, height: 888 },
  '3:4': { width: 888, height: 1184 },
  '3:2': { width: 1248, height: 832 },
  '2:3': { width: 832, height: 1248 },
  '5:4': { width: 1160, height: 928 },
  '4:5': { width: 928, height: 1160 },
  '16:9': { width: 1408, height: 792 },
  '9:16': { width: 792, height: 1408 },
  '21:9': { width: 1568, height: 672 },
};

export const DEFAULT_ASPECT_RATIO: SceneAspectRatio = '1:1';

export function sceneSize(aspect: SceneAspectRatio | undefined): Size {
  return SCENE_SIZES[aspect ?? DEFAULT_ASPECT_RATIO];
}

/** Pixels the diffusion models are run at, about one megapixel. */
export const DIFFUSION_AREA = 1024 * 1024;
const DIFFUSION_MULTIPLE = 64;

/**
 * The working size for diffusion on a scene of `size`: scaled to about DIFFUSION_AREA pixels, each side
 * rounded to a multiple of 64 (at least 64). The aspect ratio drifts by at most half a 64-pixel step per side.
 */
export function diffusionSize(size: Size, area = DIFFUSION_AREA): Size {
  const k = Math.sqrt(area / (size.width * size.height));
  const round = (v: number): number => Math.max(DIFFUSION_MULTIPLE, Math.round(v / DIFFUSION_MULTIPLE) * DIFFUSION_MULTIPLE);
  return { width: round(size.width * k), height: round(size.height * k) };
}
