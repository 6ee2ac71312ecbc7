// The object of a scene: the input's own transparency when it has some, otherwise a cut-out by the
// background-removal model.
//
// Precedence: an input that is already cut out (an alpha channel with a real transparent area) is used as it
// is. Its alpha was made on purpose (often by hand, or by a better tool), and the contract asks for inputs
// with transparent backgrounds; running the model over it could only lose detail. An opaque input (JPEG, or
// PNG/WebP whose alpha is all opaque) goes through the model; when the model is not installed this is the
// registry's 503 naming the package to install, never a guess.
import { removeBackground } from '../background-ai.js';
import type { ModelContext } from '../model-context.js';
import type { RawImage } from '../raw-image.js';

/** Alpha below this counts as a transparent pixel. */
const TRANSPARENT_ALPHA = 128;
/**
 * Share of the pixels that must be transparent for the input to count as cut out: a few stray transparent
 * pixels (an anti-aliased corner, a GIF's keyed colour in a photo) do not make a cut-out.
 */
export const CUT_OUT_FRACTION = 0.005;

/** Whether an image carries a real transparent area (not merely an alpha channel). */
export function hasTransparency(img: RawImage, minFraction = CUT_OUT_FRACTION): boolean {
  if (img.channels !== 4) return false;
  const n = img.width * img.height;
  const needed = Math.max(1, Math.ceil(n * minFraction));
  let count = 0;
  for (let i = 3; i < img.data.length; i += 4) {
    if ((img.data[i] as number) < TRANSPARENT_ALPHA && ++count >= needed) return true;
  }
  return false;
}

export type CutOutSource = 'input_alpha' | 'model';

export interface CutOut {
  /** RGBA, the input's size. */
  image: RawImage;
  source: CutOutSource;
}

export async function cutOut(img: RawImage, ctx: ModelContext): Promise<CutOut> {
  if (hasTransparency(img)) return { image: img, source: 'input_alpha' };
  return { image: await removeBackground(img, true, ctx), source: 'model' };
}
