// The named model sets Atelier knows how to install (`atelier models pull NAME`) and use, which capability each
// serves, and how the contract's `model: v1|v2` and `preference: fast|optimal|best` choose among them. A model
// set is a folder in the diffusers ONNX layout under the models directory; anything placed there by hand with
// the same name and files is used the same way.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Capability, Preference } from './engine.js';
import type { PipelineHints } from './pipeline.js';
import { DIFFUSION_CORE_FILES, VAE_ENCODER_FILE, firstMissing, modelSetDir, readJson } from './paths.js';

export interface HubFile {
  /** Path in the hub repository, and in the installed folder. */
  path: string;
  /** Known in advance when stated; otherwise read from the hub's file metadata at pull time. */
  size?: number;
  sha256?: string;
  /** Installed when the repository has it; a set without it loses only the capabilities that need it. */
  optional?: boolean;
}

export interface ModelSetSpec {
  name: string;
  title: string;
  kind: 'diffusion' | 'caption';
  /** What the set serves when complete (img2img and inpaint also need vae_encoder/). */
  capabilities: Capability[];
  /** Hugging Face repository and revision (branch, tag or commit). */
  hub: { repo: string; revision: string };
  files: HubFile[];
  /** Approximate download size, for `models list` before anything is known from the hub. */
  approxBytes: number;
  licence: string;
  /** Needs onnxruntime's CUDA execution provider (graphs built from fused GPU-only kernels). */
  requiresCuda?: boolean;
  hints: PipelineHints;
  notes?: string;
}

const TOKENIZER = ['tokenizer/vocab.json', 'tokenizer/merges.txt', 'tokenizer/special_tokens_map.json', 'tokenizer/tokenizer_config.json'];

function diffusionFiles(opts: { unetWeights?: string; textWeights?: string; extra?: string[] } = {}): HubFile[] {
  const files: HubFile[] = [
    { path: 'model_index.json' },
    { path: 'scheduler/scheduler_config.json' },
    { path: 'text_encoder/model.onnx' },
    { path: 'unet/model.onnx' },
    { path: 'vae_decoder/model.onnx' },
    { path: VAE_ENCODER_FILE, optional: true },
    ...TOKENIZER.map((path) => ({ path, optional: !path.endsWith('vocab.json') && !path.endsWith('merges.txt') })),
  ];
  // External weights are also fetched by the companion rule in pull.ts (any weights file next to a model.onnx),
  // so a re-published repository that renames them still installs completely.
  if (opts.unetWeights) files.push({ path: `unet/${opts.unetWeights}`, optional: true });
  if (opts.textWeights) files.push({ path: `text_encoder/${opts.textWeights}`, optional: true });
  for (const path of opts.extra ?? []) files.push({ path, optional: true });
  return files;
}

export const MODEL_SETS: readonly ModelSetSpec[] = [
  {
    name: 'sd15-onnx',
    title: 'Stable Diffusion 1.5 (float32 ONNX export)',
    kind: 'diffusion',
    capabilities: ['txt2img', 'img2img', 'inpaint'],
    hub: { repo: 'onnx-community/stable-diffusion-v1-5-ONNX', revision: 'main' },
    files: diffusionFiles({ unetWeights: 'weights.pb', extra: ['unet/config.json', 'vae_decoder/config.json', 'vae_encoder/config.json'] }),
    approxBytes: 4.3e9,
    licence: 'CreativeML OpenRAIL-M',
    hints: { scheduler: 'euler_ancestral', classifierFree: true, steps: { fast: 15, optimal: 25, best: 40 } },
    notes: 'Inpainting with this set blends the original latents outside the mask at every step.',
  },
  {
    name: 'sd15-inpaint-onnx',
    title: 'Stable Diffusion 1.5 inpainting (9-channel UNet, ONNX)',
    kind: 'diffusion',
    capabilities: ['inpaint'],
    hub: { repo: 'stable-diffusion-v1-5/stable-diffusion-inpainting', revision: 'onnx' },
    files: diffusionFiles({ unetWeights: 'weights.pb' }),
    approxBytes: 4.3e9,
    licence: 'CreativeML OpenRAIL-M',
    hints: { scheduler: 'euler_ancestral', classifierFree: true, inChannels: 9, steps: { fast: 15, optimal: 25, best: 40 } },
    notes: "The 'onnx' branch of the SD 1.5 inpainting repository (diffusers' export script layout).",
  },
  {
    name: 'lcm-dreamshaper-v7-onnx',
    title: 'LCM Dreamshaper v7 (latent consistency, 2–8 steps)',
    kind: 'diffusion',
    capabilities: ['txt2img', 'img2img', 'inpaint'],
    hub: { repo: 'TheyCallMeHex/LCM-Dreamshaper-V7-ONNX', revision: 'main' },
    files: diffusionFiles({ unetWeights: 'model.onnx_data', extra: ['unet/config.json', 'vae_decoder/config.json', 'vae_encoder/config.json'] }),
    approxBytes: 4.2e9,
    licence: 'CreativeML OpenRAIL-M',
    hints: { scheduler: 'lcm', classifierFree: false, steps: { fast: 4, optimal: 6, best: 8 } },
    notes: 'Guidance-distilled: guidance_scale enters the UNet as an embedding (timestep_cond); negative prompts have no effect.',
  },
  {
    name: 'sd-turbo-onnx',
    title: 'SD-Turbo (SD 2.1 distilled, 1–4 steps, float16, CUDA)',
    kind: 'diffusion',
    capabilities: ['txt2img', 'img2img', 'inpaint'],
    hub: { repo: 'onnxruntime/sd-turbo', revision: 'main' },
    files: diffusionFiles(),
    approxBytes: 2.6e9,
    licence: 'Stability AI Non-Commercial Research Community License',
    requiresCuda: true,
    hints: { scheduler: 'euler_ancestral', classifierFree: false, steps: { fast: 1, optimal: 2, best: 4 } },
    notes: "onnxruntime's fused-kernel export (NhwcConv, GroupNorm): it only loads with the CUDA execution provider.",
  },
  {
    name: 'vit-gpt2-caption-onnx',
    title: 'ViT-GPT2 image captioning (ONNX)',
    kind: 'caption',
    capabilities: ['caption'],
    hub: { repo: 'Xenova/vit-gpt2-image-captioning', revision: 'main' },
    files: [
      { path: 'config.json' },
      { path: 'generation_config.json', optional: true },
      { path: 'preprocessor_config.json' },
      { path: 'tokenizer.json' },
      { path: 'onnx/encoder_model.onnx' },
      { path: 'onnx/decoder_model_merged.onnx' },
    ],
    approxBytes: 1.0e9,
    licence: 'Apache-2.0',
    hints: {},
    notes: 'Builds the scene prompt from the object image (prompt.generate).',
  },
];

export function modelSetSpec(name: string): ModelSetSpec | undefined {
  return MODEL_SETS.find((s) => s.name === name);
}

/** Files a capability needs from a set (relative paths). */
export function requiredFiles(spec: ModelSetSpec | undefined, capability: Capability): string[] {
  if (capability === 'caption' || spec?.kind === 'caption') {
    // Either decoder export works: the merged one (with key/value cache) or the plain one.
    return (spec?.files ?? [])
      .filter((f) => !f.optional)
      .map((f) => (f.path === 'onnx/decoder_model_merged.onnx' ? 'onnx/decoder_model_merged.onnx|onnx/decoder_model.onnx' : f.path));
  }
  const core = [...DIFFUSION_CORE_FILES];
  return capability === 'txt2img' ? core : [...core, VAE_ENCODER_FILE];
}

export interface InstalledState {
  installed: boolean;
  /** Capabilities the files on disk serve. */
  capabilities: Capability[];
  /** Why a capability of the set is not available. */
  missing?: string;
  bytesOnDisk: number;
}

function folderBytes(dir: string): number {
  let total = 0;
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile()) total += statSync(p).size;
    }
  };
  if (existsSync(dir)) walk(dir);
  return total;
}

/** What a set's folder on disk can do. */
export function installedState(name: string, env: NodeJS.ProcessEnv = process.env): InstalledState {
  const spec = modelSetSpec(name);
  const dir = modelSetDir(name, env);
  if (!existsSync(dir)) return { installed: false, capabilities: [], missing: 'not installed', bytesOnDisk: 0 };
  const wanted: Capability[] = spec?.capabilities ?? ['txt2img', 'img2img', 'inpaint'];
  const capabilities: Capability[] = [];
  let missing: string | undefined;
  for (const cap of wanted) {
    const gap = firstMissing(dir, requiredFiles(spec, cap));
    if (gap === undefined) capabilities.push(cap);
    else missing ??= `${cap} needs ${gap}`;
  }
  // A 9-channel set only inpaints, whatever files it has.
  const nine = spec?.hints.inChannels === 9 || readJson(join(dir, 'unet/config.json'))?.in_channels === 9;
  const caps = nine ? capabilities.filter((c) => c === 'inpaint') : capabilities;
  return { installed: caps.length > 0, capabilities: caps, ...(missing ? { missing } : {}), bytesOnDisk: folderBytes(dir) };
}

/**
 * Model sets to try for a request, best first (docs/generative.md has the table). `v1` (default) is the SD 1.5
 * family: full models for optimal/best, the LCM distillate for fast. `v2` is the distilled family: SD-Turbo
 * where CUDA runs it, LCM otherwise.
 */
export function candidates(capability: Capability, model: 'v1' | 'v2' = 'v1', preference: Preference = 'optimal'): string[] {
  if (capability === 'caption') return ['vit-gpt2-caption-onnx'];
  if (capability === 'inpaint') {
    if (model === 'v2') return ['sd-turbo-onnx', 'lcm-dreamshaper-v7-onnx', 'sd15-inpaint-onnx', 'sd15-onnx'];
    return preference === 'fast'
      ? ['lcm-dreamshaper-v7-onnx', 'sd15-inpaint-onnx', 'sd15-onnx']
      : ['sd15-inpaint-onnx', 'sd15-onnx', 'lcm-dreamshaper-v7-onnx'];
  }
  if (model === 'v2') return ['sd-turbo-onnx', 'lcm-dreamshaper-v7-onnx', 'sd15-onnx'];
  return preference === 'fast' ? ['lcm-dreamshaper-v7-onnx', 'sd15-onnx'] : ['sd15-onnx', 'lcm-dreamshaper-v7-onnx'];
}
