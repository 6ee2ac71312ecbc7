// A validated scene request turned into what the renderer needs, with the contract's defaults applied and
// the rules the contract states only in prose checked (422 in the same shape as schema errors). Pure: no I/O.
import type {
  SceneCreateRequest,
  SceneModel,
  SceneObject,
  ScenePreference,
  ScenePrompt,
  SceneTemplateMode,
  SceneView,
  SceneViewAuto,
} from '../../contract/scene-schemas.js';
import { MAX_SCENE_IMAGES } from '../../contract/scene-schemas.js';
import { ValidationError } from '../../errors.js';
import { parseBackgroundColour, WHITE, type BackgroundColour, type Rgba } from '../background.js';
import type { Size } from '../geometry.js';
import { resolveOutput, type ResolvedOutput } from '../output.js';
import { sceneSize } from './aspect.js';
import { DEFAULT_POSITION, DEFAULT_SCALE, parseScenePadding, type PlacementSpec } from './placement.js';

export const DEFAULT_NUMBER_OF_IMAGES = 4;
/** The contract's default scene output format (the edit API's is jpeg). */
export const DEFAULT_SCENE_FORMAT = 'png';
/** Classifier-free guidance for scene diffusion; the contract has no field for it. */
export const SCENE_GUIDANCE_SCALE = 7.5;
/** How much of the schedule each template mode runs over the template (inpainting strength). */
export const TEMPLATE_STRENGTH: Readonly<Record<Exclude<SceneTemplateMode, 'lock'>, number>> = {
  transform: 0.75,
  adjust: 0.4,
};
/**
 * Prompt scenes with a `color` start from a canvas of that colour and leave a little of it in place, so the
 * colour carries into the scene; without one the background is generated from noise alone.
 */
export const COLOURED_PROMPT_STRENGTH = 0.9;
/** What template scenes without a prompt are steered by. */
export const DEFAULT_TEMPLATE_PROMPT = 'professional product photography, natural light, high detail';

export type PromptPlan = { kind: 'text'; text: string } | { kind: 'generate'; guidelines?: string };

export interface DiffusionPlan {
  model: 'v1' | 'v2';
  preference?: ScenePreference;
  prompt: PromptPlan;
  negativePrompt?: string;
  steps?: number;
  strength: number;
}

export type ScenePlanKind =
  | { kind: 'shadows'; size: Size; background: BackgroundColour; view: SceneViewAuto }
  | { kind: 'template'; mode: SceneTemplateMode; templateUrl: string; view: SceneView; colour?: Rgba; diffusion?: DiffusionPlan }
  | { kind: 'prompt'; size: Size; colour?: Rgba; diffusion: DiffusionPlan };

export interface ScenePlan {
  objectUrl: string;
  placement: PlacementSpec;
  count: number;
  output: ResolvedOutput;
  destination?: string;
  scene: ScenePlanKind;
}

/** Whether the plan needs the diffusion engine (prompt scenes, templates in transform or adjust). */
export function usesDiffusion(plan: ScenePlan): boolean {
  return plan.scene.kind === 'prompt' || (plan.scene.kind === 'template' && plan.scene.diffusion !== undefined);
}

function placementOf(object: SceneObject): PlacementSpec {
  if (object.placement_type === 'original') return { type: 'original' };
  if (object.placement_type === 'padding') {
    return { type: 'padding', padding: parseScenePadding(object.padding), raw: object.padding };
  }
  const scale = object.scale ?? DEFAULT_SCALE;
  if (scale <= 0) {
    // The contract's integer branch admits 0, which would leave nothing of the object to place.
    throw new ValidationError('object.scale must be greater than 0 (from 0.01 to 1); 0 leaves no object to place.', {
      field: 'object.scale',
      value: scale,
    });
  }
  return {
    type: 'absolute',
    x: object.position?.x ?? DEFAULT_POSITION.x,
    y: object.position?.y ?? DEFAULT_POSITION.y,
    scale,
    rotation: object.rotation_degree ?? 0,
  };
}

/** `scene.color` of a generated scene: a hex colour (transparency makes no sense for a generated backdrop). */
function sceneColour(value: string | undefined): Rgba | undefined {
  if (value === undefined) return undefined;
  const parsed = colourOf(value);
  if (parsed.kind === 'transparent') {
    throw new ValidationError('scene.color: "transparent" is available for effect scenes only; use a hex colour here.', {
      field: 'scene.color',
      value,
    });
  }
  return parsed.rgba;
}

function colourOf(value: string): BackgroundColour {
  try {
    return parseBackgroundColour(value);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    throw new ValidationError(
      `scene.color must be a hex colour ("#rgb", "#rrggbb" or "#rrggbbaa") or "transparent"; got ${JSON.stringify(value)}.`,
      { field: 'scene.color', value },
    );
  }
}

/** The prompt rules the contract gives in prose: `text` excludes `generate`, `guidelines` needs it. */
export function promptOf(prompt: ScenePrompt): PromptPlan {
  if (typeof prompt === 'string') return { kind: 'text', text: prompt };
  if (prompt.generate === true) {
    if (prompt.text !== undefined) {
      throw new ValidationError('scene.prompt.text is not allowed when scene.prompt.generate is true.', {
        field: 'scene.prompt.text',
      });
    }
    return prompt.guidelines === undefined ? { kind: 'generate' } : { kind: 'generate', guidelines: prompt.guidelines };
  }
  if (prompt.guidelines !== undefined) {
    throw new ValidationError('scene.prompt.guidelines is only available when scene.prompt.generate is true.', {
      field: 'scene.prompt.guidelines',
    });
  }
  if (prompt.text === undefined) {
    throw new ValidationError('scene.prompt needs "text", or "generate": true to write the prompt from the object image.', {
      field: 'scene.prompt.text',
    });
  }
  return { kind: 'text', text: prompt.text };
}

function engineModel(model: SceneModel | undefined): 'v1' | 'v2' {
  return model === 'v2' || model === 'v2-beta' ? 'v2' : 'v1';
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}

export function planScene(req: SceneCreateRequest): ScenePlan {
  const output = typeof req.output === 'string' ? { destination: req.output } : (req.output ?? {});
  const count = output.number_of_images ?? DEFAULT_NUMBER_OF_IMAGES;
  if (!Number.isInteger(count) || count < 1 || count > MAX_SCENE_IMAGES) {
    throw new ValidationError(`output.number_of_images must be from 1 to ${MAX_SCENE_IMAGES}.`, {
      field: 'output.number_of_images',
      value: count,
    });
  }
  const resolved = resolveOutput({
    format: output.format ?? DEFAULT_SCENE_FORMAT,
    ...optional('destination', output.destination),
  });
  const placement = placementOf(req.object);
  const s = req.scene;
  let scene: ScenePlanKind;
  if ('effect' in s) {
    const background = s.color === undefined ? ({ kind: 'colour', rgba: WHITE } as const) : colourOf(s.color);
    scene = { kind: 'shadows', size: sceneSize(s.aspect_ratio), background, view: s.view ?? 'auto' };
  } else if ('template_url' in s) {
    const mode = s.template_mode ?? 'transform';
    const colour = sceneColour(s.color);
    scene = {
      kind: 'template',
      mode,
      templateUrl: s.template_url,
      view: s.view,
      ...optional('colour', colour),
      ...(mode === 'lock'
        ? {}
        : {
            diffusion: {
              model: engineModel(s.model),
              prompt: s.prompt === undefined ? { kind: 'text', text: DEFAULT_TEMPLATE_PROMPT } : promptOf(s.prompt),
              ...optional('negativePrompt', s.negative_prompt),
              ...optional('steps', s.steps),
              strength: TEMPLATE_STRENGTH[mode],
            } satisfies DiffusionPlan,
          }),
    };
  } else {
    const colour = sceneColour(s.color);
    scene = {
      kind: 'prompt',
      size: sceneSize(s.aspect_ratio),
      ...optional('colour', colour),
      diffusion: {
        model: engineModel(s.model),
        ...optional('preference', s.preference),
        prompt: promptOf(s.prompt),
        ...optional('negativePrompt', s.negative_prompt),
        ...optional('steps', s.steps),
        strength: colour ? COLOURED_PROMPT_STRENGTH : 1,
      },
    };
  }
  return {
    objectUrl: req.object.image_url,
    placement,
    count,
    output: resolved,
    ...optional('destination', output.destination),
    scene,
  };
}
