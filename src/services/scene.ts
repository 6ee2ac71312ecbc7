// POST /v1/scene/create: object in (URL or storage://), cut out, placed on a scene, the scene made (shadows on
// a colour, a locked template, or a generated background), the images encoded and stored like edit outputs.
//
// Which engine makes the background:
// - `effect: "shadows"` and templates in `lock` mode: no model beyond the cut-out; shadows and colour
//   harmonisation are computed from the object's alpha (src/pipeline/scene/).
// - prompt scenes and templates in `transform`/`adjust`: the diffusion engine inpaints around the fixed
//   object; its model set missing is a 503 before anything is fetched.
import { extname } from 'node:path';
import type { ImageObject, OutputImageObject } from '../contract/types.js';
import { ImageError, ValidationError } from '../errors.js';
import { caption, defaultSteps, getEngine, newSeed, type DiffusionEngine } from '../generative/engine.js';
import { models as defaultRegistry, type ModelRegistry } from '../models/registry.js';
import { WHITE, type Rgba } from '../pipeline/background.js';
import { asImageError, openInput, probeInput } from '../pipeline/decode.js';
import { checkOutputSize, type Size } from '../pipeline/geometry.js';
import type { PipelineLimits } from '../pipeline/index.js';
import { encodeOutput, planOutput, type OutputPlan } from '../pipeline/output.js';
import { fromRawImage, toRawImage, type RawImage } from '../pipeline/raw-image.js';
import { diffusionSize } from '../pipeline/scene/aspect.js';
import { lightWrap, matchColours } from '../pipeline/scene/harmonise.js';
import { flattenToRgb, maskGrowth, repaintMask, tintLayer } from '../pipeline/scene/inpaint.js';
import { alphaPlane, layerFromRaw, renderObjectLayer, resizeLayer, type Layer, type ObjectLayer } from '../pipeline/scene/layers.js';
import { cutOut } from '../pipeline/scene/object.js';
import { alphaBounds, planPlacement, type Box } from '../pipeline/scene/placement.js';
import { planScene, SCENE_GUIDANCE_SCALE, type DiffusionPlan, type ScenePlan } from '../pipeline/scene/plan.js';
import { backgroundLayer, composeScene, layerForEncoding, objectShadow, recompose } from '../pipeline/scene/render.js';
import { chooseView, shadowStyle, type ShadowView } from '../pipeline/scene/shadow.js';
import type { SceneCreateRequest } from '../contract/scene-schemas.js';
import { formatStorageUri, parseStorageUri } from '../storage/uri.js';
import type { EditService } from './edit.js';

export interface SceneServiceDeps {
  edit: EditService;
  limits: PipelineLimits;
  /** Where the background-removal model is loaded from (the process-wide registry unless a test gives one). */
  models?: ModelRegistry;
}

/** The answer's `data` (ScenePipelineResponseOut). */
export interface SceneResponse {
  input: ImageObject;
  output: OutputImageObject[];
  profiling: Record<string, unknown>;
}

/**
 * Templates are worked on at their own size up to this many pixels (4096×4096); larger ones are scaled
 * down first, which bounds the memory of a request (a few full-size RGBA layers) whatever is uploaded.
 */
export const MAX_TEMPLATE_PIXELS = 4096 * 4096;
/** Transform mode pulls the template this far towards `scene.color` before repainting it. */
const TEMPLATE_TINT = 0.35;
/** The backdrop a prompt scene without `color` starts from (it is repainted entirely). */
const NEUTRAL_BACKDROP: Rgba = { r: 128, g: 128, b: 128, alpha: 255 };
/** Appended to a caption when `prompt.generate` has no guidelines. */
const GENERATED_PROMPT_SUFFIX = 'professional product photography, studio lighting, high detail';

function since(t: number): number {
  return Math.round((performance.now() - t) * 100) / 100;
}

/** `photo.png` → `photo_2.png` for the second of several images; one image keeps the name. */
export function numberedName(name: string, index: number, count: number): string {
  if (count === 1) return name;
  const ext = extname(name);
  const stem = ext && ext.length < name.length ? name.slice(0, -ext.length) : name;
  return `${stem}_${index + 1}${ext}`;
}

/**
 * The destination of image `index` of `count`: a folder destination is shared (the file names differ), a
 * file destination gets the image's number before its extension when there are several.
 */
export function numberedDestination(destination: string, index: number, count: number): string {
  if (count === 1) return destination;
  const uri = parseStorageUri(destination, 'output.destination');
  if (uri.folder) return destination;
  const segments = [...uri.segments];
  const last = segments.pop() as string;
  return formatStorageUri(uri.name, [...segments, numberedName(last, index, count)]);
}

interface Decoded {
  raw: RawImage;
  object: ImageObject;
}

async function decode(buf: Buffer, limits: PipelineLimits): Promise<Decoded> {
  const probe = await probeInput(buf, limits);
  const input = openInput(buf, probe, limits);
  try {
    return { raw: await toRawImage(input.open()), object: probe.object };
  } catch (err) {
    throw asImageError(err, probe.format);
  }
}

/** A template's working size: its own, or scaled down to MAX_TEMPLATE_PIXELS. */
export function templateSize(size: Size, maxPixels = MAX_TEMPLATE_PIXELS): Size {
  const pixels = size.width * size.height;
  if (pixels <= maxPixels) return size;
  const k = Math.sqrt(maxPixels / pixels);
  return { width: Math.max(1, Math.floor(size.width * k)), height: Math.max(1, Math.floor(size.height * k)) };
}

/** The placed object, known to have visible pixels in the scene. */
type PlacedObject = ObjectLayer & { bounds: Box };

/** The fixed size of an effect or prompt scene (templates take the template's). */
function sizeOf(plan: ScenePlan): Size {
  if (plan.scene.kind === 'template') throw new Error('a template scene has the size of its template');
  return plan.scene.size;
}

function diffusionOf(plan: ScenePlan): DiffusionPlan | undefined {
  if (plan.scene.kind === 'prompt') return plan.scene.diffusion;
  if (plan.scene.kind === 'template') return plan.scene.diffusion;
  return undefined;
}

export class SceneService {
  private readonly models: ModelRegistry;

  constructor(private readonly deps: SceneServiceDeps) {
    this.models = deps.models ?? defaultRegistry;
  }

  /** Validates what the schema cannot (prose rules, colours, padding grammar, destination) before any work. */
  precheck(owner: string, req: SceneCreateRequest): ScenePlan {
    const plan = planScene(req);
    this.deps.edit.checkDestination(owner, { destination: plan.destination });
    return plan;
  }

  async create(owner: string, plan: ScenePlan, opts: { signal?: AbortSignal } = {}): Promise<SceneResponse> {
    const started = performance.now();
    const { signal } = opts;
    const { limits } = this.deps;
    const profiling: Record<string, unknown> = {};

    // A missing model set answers 503 before anything is fetched or decoded.
    const diffusion = diffusionOf(plan);
    const engine = diffusion
      ? await getEngine({ capability: 'inpaint', model: diffusion.model, ...(diffusion.preference ? { preference: diffusion.preference } : {}) })
      : undefined;

    let t = performance.now();
    const [objectFile, templateFile] = await Promise.all([
      this.deps.edit.fetchInput(owner, plan.objectUrl, signal),
      plan.scene.kind === 'template' ? this.deps.edit.fetchInput(owner, plan.scene.templateUrl, signal) : undefined,
    ]);
    profiling.fetch_ms = since(t);
    signal?.throwIfAborted();

    t = performance.now();
    const input = await decode(objectFile.data, limits);
    let template = templateFile ? await decode(templateFile.data, limits) : undefined;
    profiling.decode_ms = since(t);
    if (template) {
      const size = templateSize({ width: template.raw.width, height: template.raw.height });
      if (size.width !== template.raw.width || size.height !== template.raw.height) {
        profiling.template_scaled_from = { width: template.raw.width, height: template.raw.height };
        template = { ...template, raw: await toRawImage(fromRawImage(template.raw).resize(size.width, size.height, { kernel: 'lanczos3' })) };
      }
      checkOutputSize(size, limits, 'scene.template_url');
    }
    signal?.throwIfAborted();

    t = performance.now();
    const cut = await cutOut(input.raw, { models: this.models, signal, profiling });
    profiling.cutout = cut.source;
    profiling.cutout_ms = since(t);
    const objectBox = alphaBounds(cut.image.data, cut.image.width, cut.image.height, cut.image.channels);
    if (!objectBox) {
      throw new ImageError('empty_object', 'object.image_url: the object image is fully transparent; there is no object to place.', {
        field: 'object.image_url',
      });
    }
    signal?.throwIfAborted();

    const scene: Size =
      plan.scene.kind === 'template' && template ? { width: template.raw.width, height: template.raw.height } : sizeOf(plan);
    t = performance.now();
    const placement = planPlacement(plan.placement, { width: cut.image.width, height: cut.image.height }, objectBox, scene);
    const layer = await renderObjectLayer(cut.image, placement, scene);
    if (!layer.bounds) {
      throw new ValidationError('object.position: the object would lie entirely outside the scene.', { field: 'object.position' });
    }
    const object: PlacedObject = { ...layer, bounds: layer.bounds };
    profiling.scene = scene;
    profiling.placement = { type: plan.placement.type, ...object.bounds, rotation: placement.rotation };
    profiling.place_ms = since(t);
    signal?.throwIfAborted();

    const images = await this.render(plan, object, scene, template?.raw, cut.image, engine, profiling, signal);

    const outPlan = planOutput(plan.output, { space: 'rgb' });
    const output: OutputImageObject[] = [];
    let encodeMs = 0;
    let storeMs = 0;
    const count = images.length;
    for (let i = 0; i < count; i++) {
      signal?.throwIfAborted();
      // Taken off the list so each image's layer can be freed as soon as it is written.
      const layer = images.shift() as Layer;
      t = performance.now();
      const encoded = await this.encode(layer, outPlan);
      encodeMs += performance.now() - t;
      t = performance.now();
      output.push(
        await this.deps.edit.storeOutput(
          owner,
          plan.destination === undefined ? undefined : numberedDestination(plan.destination, i, count),
          numberedName(objectFile.name, i, count),
          encoded.data,
          encoded.info,
          { signal },
        ),
      );
      storeMs += performance.now() - t;
    }
    profiling.encode_ms = Math.round(encodeMs * 100) / 100;
    profiling.store_ms = Math.round(storeMs * 100) / 100;
    profiling.total_ms = since(started);
    return { input: input.object, output, profiling };
  }

  private async render(
    plan: ScenePlan,
    object: PlacedObject,
    scene: Size,
    template: RawImage | undefined,
    cutImage: RawImage,
    engine: DiffusionEngine | undefined,
    profiling: Record<string, unknown>,
    signal: AbortSignal | undefined,
  ): Promise<Layer[]> {
    const s = plan.scene;
    const t = performance.now();
    if (s.kind === 'shadows') {
      const view: ShadowView = s.view === 'auto' ? chooseView(alphaPlane(object), scene, object.bounds) : s.view;
      profiling.view = s.view === 'auto' ? `${view} (auto)` : view;
      profiling.background = s.background.kind === 'transparent' ? 'transparent' : hex(s.background.rgba);
      const canvas = backgroundLayer(scene, s.background.kind === 'transparent' ? 'transparent' : s.background.rgba);
      const images = await this.withShadows(canvas, object, view, plan.count, signal);
      profiling.shadow_ms = since(t);
      return images;
    }
    if (s.kind === 'template' && s.mode === 'lock') {
      const base = layerFromRaw(template!);
      const stats = matchColours(object, base);
      const size = Math.sqrt(object.bounds.width * object.bounds.height);
      await lightWrap(object, base, Math.max(1.5, 0.01 * size));
      profiling.view = s.view;
      profiling.harmonisation = {
        colour_transfer: stats ? { object_lab_mean: stats.object.mean.map(round2), template_lab_mean: stats.template.mean.map(round2) } : null,
        light_wrap: true,
      };
      const images = await this.withShadows(base, object, s.view, plan.count, signal);
      profiling.compose_ms = since(t);
      return images;
    }
    return this.generate(plan, object, scene, template, cutImage, engine!, profiling, signal);
  }

  private async withShadows(background: Layer, object: ObjectLayer, view: ShadowView, count: number, signal?: AbortSignal): Promise<Layer[]> {
    const images: Layer[] = [];
    for (let i = 0; i < count; i++) {
      signal?.throwIfAborted();
      images.push(composeScene(background, await objectShadow(object, shadowStyle(view, i)), object));
    }
    return images;
  }

  private async generate(
    plan: ScenePlan,
    object: ObjectLayer,
    scene: Size,
    template: RawImage | undefined,
    cutImage: RawImage,
    engine: DiffusionEngine,
    profiling: Record<string, unknown>,
    signal: AbortSignal | undefined,
  ): Promise<Layer[]> {
    const s = plan.scene;
    const diffusion = diffusionOf(plan)!;
    let t = performance.now();

    // The starting image at scene size: the backdrop (template, possibly tinted, or a plain colour), for
    // templates the object's shadow, and the object.
    let init: Layer;
    if (s.kind === 'template') {
      const base = layerFromRaw(template!);
      if (s.mode === 'transform' && s.colour) tintLayer(base, s.colour, TEMPLATE_TINT);
      init = composeScene(base, await objectShadow(object, shadowStyle(s.view, 0)), object);
      profiling.view = s.view;
    } else {
      init = composeScene(backgroundLayer(scene, s.kind === 'prompt' && s.colour ? { ...s.colour, alpha: 255 } : NEUTRAL_BACKDROP), null, object);
    }
    const work = diffusionSize(scene);
    const initWork = flattenToRgb(await resizeLayer(init, work), WHITE);
    const objectWork = await resizeLayer(object, work);
    const mask = repaintMask(objectWork, maskGrowth(work));
    profiling.prepare_ms = since(t);
    signal?.throwIfAborted();

    let prompt: string;
    if (diffusion.prompt.kind === 'text') {
      prompt = diffusion.prompt.text;
    } else {
      t = performance.now();
      const described = await caption(await objectOnWhite(cutImage));
      prompt = `${described}, ${diffusion.prompt.guidelines ?? GENERATED_PROMPT_SUFFIX}`;
      profiling.caption_ms = since(t);
    }
    // Distilled sets (LCM, Turbo) are tuned for far fewer steps; the engine says how many.
    const steps = diffusion.steps ?? defaultSteps(diffusion.preference, engine);
    t = performance.now();
    const result = await engine.inpaint(
      {
        prompt,
        ...(diffusion.negativePrompt ? { negativePrompt: diffusion.negativePrompt } : {}),
        width: work.width,
        height: work.height,
        steps,
        guidanceScale: SCENE_GUIDANCE_SCALE,
        seed: newSeed(),
        numberOfImages: plan.count,
        init: initWork,
        mask,
        strength: diffusion.strength,
      },
      signal,
    );
    profiling.diffusion = {
      model_set: result.modelSet,
      scheduler: result.scheduler,
      steps: result.steps,
      requested_steps: steps,
      guidance_scale: SCENE_GUIDANCE_SCALE,
      strength: diffusion.strength,
      working_size: work,
      prompt,
      ...(diffusion.negativePrompt ? { negative_prompt: diffusion.negativePrompt } : {}),
      timings: result.timings,
    };
    profiling.seeds = result.seeds;
    profiling.diffusion_ms = since(t);
    if (result.images.length !== plan.count) {
      throw new Error(`the diffusion engine returned ${result.images.length} images for ${plan.count} asked`);
    }
    t = performance.now();
    const images: Layer[] = [];
    for (const generated of result.images) images.push(await recompose(generated, scene, object));
    profiling.compose_ms = since(t);
    return images;
  }

  private async encode(layer: Layer, plan: OutputPlan): Promise<{ data: Buffer; info: ImageObject }> {
    const { data, info } = await encodeOutput(fromRawImage(layerForEncoding(layer)), plan);
    return { data, info };
  }
}

/** The cut-out object cropped to its alpha and flattened on white: what the captioning model looks at. */
async function objectOnWhite(img: RawImage): Promise<RawImage> {
  const box = alphaBounds(img.data, img.width, img.height, img.channels);
  let pipeline = fromRawImage(img);
  if (box) pipeline = pipeline.extract(box);
  return toRawImage(pipeline.flatten({ background: '#ffffff' }));
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

function hex(c: Rgba): string {
  return `#${[c.r, c.g, c.b, c.alpha].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

