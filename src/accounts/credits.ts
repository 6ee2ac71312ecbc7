// What one produced image costs, in credits. The table is documented in docs/credits.md; it mirrors the
// shape of Claid's pricing (a base cost per image, more for model-based operations) without its numbers.
import type { ImageOperations } from '../contract/types.js';
import type { ScenePlan } from '../pipeline/scene/plan.js';

export const CREDIT_COSTS = {
  /** Any edit: decode, resize, adjust, encode. */
  edit: 1,
  /** Each model-based operation family used in an edit. */
  backgroundRemoval: 1,
  backgroundBlur: 1,
  upscale: 1,
  decompressOrPolish: 1,
  privacy: 1,
  outpaint: 2,
  styleTransfer: 4,
  /** Each image of POST /v1/image/generate. */
  generatedImage: 4,
  /** Each output image of an AI edit. */
  aiEditImage: 4,
  /** Each image of a scene made without diffusion: shadows on a colour, or a template in lock mode. */
  sceneComposite: 1,
  /** Each image of a scene whose background is generated (prompt scenes, templates in transform/adjust). */
  sceneGenerated: 4,
  /** Once per scene request whose prompt is written from the object (`prompt.generate`). */
  sceneAutoPrompt: 1,
} as const;

const enabled = (v: unknown): boolean => v !== undefined && v !== null && v !== false;

export function costOfEdit(ops: ImageOperations): number {
  let cost = CREDIT_COSTS.edit;
  const bg = ops.background;
  if (enabled(bg?.remove)) cost += CREDIT_COSTS.backgroundRemoval;
  if (enabled(bg?.blur)) cost += CREDIT_COSTS.backgroundBlur;
  const r = ops.restorations;
  if (enabled(r?.upscale)) cost += CREDIT_COSTS.upscale;
  if (enabled(r?.decompress) || r?.polish === true) cost += CREDIT_COSTS.decompressOrPolish;
  if (ops.privacy?.blur_car_plate === true || ops.privacy?.identity_crop === true) cost += CREDIT_COSTS.privacy;
  const fit = ops.resizing?.fit;
  if (fit === 'outpaint' || (typeof fit === 'object' && fit.type === 'outpaint')) cost += CREDIT_COSTS.outpaint;
  if (ops.generative?.style_transfer) cost += CREDIT_COSTS.styleTransfer;
  return cost;
}

/** POST /v1/image/generate: per image asked for (the contract's default is 4 images). */
export function costOfGenerate(numberOfImages: number | undefined): number {
  return CREDIT_COSTS.generatedImage * (numberOfImages ?? 4);
}

/** An AI edit: per output image asked for (default 1). */
export function costOfAiEdit(numberOfImages: number | undefined): number {
  return CREDIT_COSTS.aiEditImage * (numberOfImages ?? 1);
}

/** POST /v1/scene/create: per image asked for (default 4), by what makes the background. */
export function costOfScene(plan: ScenePlan): number {
  const s = plan.scene;
  const generated = s.kind === 'prompt' || (s.kind === 'template' && s.diffusion !== undefined);
  const perImage = generated ? CREDIT_COSTS.sceneGenerated : CREDIT_COSTS.sceneComposite;
  const diffusion = s.kind === 'shadows' ? undefined : s.diffusion;
  const autoPrompt = diffusion?.prompt.kind === 'generate' ? CREDIT_COSTS.sceneAutoPrompt : 0;
  return perImage * plan.count + autoPrompt;
}
