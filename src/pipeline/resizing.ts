// Executes a ResizePlan with sharp. Sizes come from geometry.ts already rounded; sharp is always told the
// exact output size, so its own rounding never decides a dimension.
import sharp, { type Sharp } from 'sharp';
import type { ResizePlan } from './geometry.js';
import { toSharpColour, type Rgba } from './background.js';

/** Lanczos-3: the sharpest of libvips' kernels without visible ringing on photos, and sharp's default. */
export const RESIZE_KERNEL = 'lanczos3' as const;

/** The libvips crop strategy used for a plan, as reported in profiling. */
export function cropMethod(plan: ResizePlan): string | undefined {
  if (plan.mode !== 'crop') return undefined;
  return plan.crop === 'smart' ? 'attention' : 'centre';
}

/**
 * Adds the resize to `image`. `fill` paints the canvas margins (a transparent fill adds an alpha channel).
 * The caller must not have added another resize to the same pipeline: sharp keeps only the last one.
 */
export function applyResize(image: Sharp, plan: ResizePlan, fill: Rgba): Sharp {
  switch (plan.mode) {
    case 'scale':
    case 'cover':
    case 'bounds':
      // The plan already keeps the aspect ratio; 'fill' just makes sharp honour both sides to the pixel.
      return image.resize({ width: plan.output.width, height: plan.output.height, fit: 'fill', kernel: RESIZE_KERNEL });
    case 'crop':
      return image.resize({
        width: plan.output.width,
        height: plan.output.height,
        fit: 'cover',
        // Attention: libvips' saliency search (skin tones, saturation, edges) picks the region to keep.
        position: plan.crop === 'smart' ? sharp.strategy.attention : 'centre',
        kernel: RESIZE_KERNEL,
      });
    case 'canvas': {
      const { output, content, offset } = plan;
      return image
        .resize({ width: content.width, height: content.height, fit: 'fill', kernel: RESIZE_KERNEL })
        .extend({
          top: offset.top,
          left: offset.left,
          bottom: output.height - content.height - offset.top,
          right: output.width - content.width - offset.left,
          background: toSharpColour(fill),
        });
    }
  }
}
