// Where model sets live: <ATELIER_DATA_DIR>/models/<set>/ (ATELIER_MODELS_DIR overrides the models folder).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export function modelsDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ATELIER_MODELS_DIR) return resolve(env.ATELIER_MODELS_DIR);
  return join(resolve(env.ATELIER_DATA_DIR || './data'), 'models');
}

export function modelSetDir(name: string, env: NodeJS.ProcessEnv = process.env): string {
  if (!/^[a-z0-9][a-z0-9._-]*$/i.test(name) || name.includes('..')) throw new Error(`invalid model set name '${name}'`);
  return join(modelsDir(env), name);
}

/** Parsed JSON of a file, or undefined when it is missing or unreadable. */
export function readJson(path: string): Record<string, unknown> | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const value = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The files a diffusion model set needs for txt2img; img2img and inpainting also need the VAE encoder. */
export const DIFFUSION_CORE_FILES = [
  'text_encoder/model.onnx',
  'unet/model.onnx',
  'vae_decoder/model.onnx',
  'tokenizer/vocab.json',
  'tokenizer/merges.txt',
] as const;
export const VAE_ENCODER_FILE = 'vae_encoder/model.onnx';

/** The first required file missing from `dir` (undefined when all exist); `a|b` accepts either file. */
export function firstMissing(dir: string, files: readonly string[]): string | undefined {
  return files.find((f) => !f.split('|').some((alt) => existsSync(join(dir, alt))));
}
