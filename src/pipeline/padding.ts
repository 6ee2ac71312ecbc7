// Executes a PaddingPlan with sharp: the image keeps its size, its content shrinks into the inner box and the
// margins are painted with `fill`.
import type { Sharp } from 'sharp';
import type { PaddingPlan } from './geometry.js';
import { toSharpColour, type Rgba } from './background.js';
import { RESIZE_KERNEL } from './resizing.js';

/** `image` must be a fresh pipeline (no resize yet) over an image of `plan.output` size. */
export function applyPadding(image: Sharp, plan: PaddingPlan, fill: Rgba): Sharp {
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
