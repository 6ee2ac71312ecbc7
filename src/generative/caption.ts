// Image captioning with a vision-encoder / GPT-2-decoder ONNX export (transformers.js / optimum layout:
// onnx/encoder_model.onnx, onnx/decoder_model_merged.onnx or onnx/decoder_model.onnx, tokenizer.json,
// preprocessor_config.json, config.json). Greedy decoding with the key/value cache when the decoder has one.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { ort } from '../models/runtime/onnx.js';
import type { RawImage } from '../pipeline/raw-image.js';
import { bytesToUnicode } from './tokenizer.js';
import { floatTensor, intTensor, openSession, readFloats, type ComponentSession, type TensorSpec } from './session.js';
import { readJson } from './paths.js';

export interface Captioner {
  describe(img: RawImage, maxTokens?: number): Promise<string>;
  release(): Promise<void>;
}

interface Preprocess {
  width: number;
  height: number;
  mean: number[];
  std: number[];
  rescale: number;
}

function numbers(v: unknown, fallback: number[]): number[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'number') ? (v as number[]) : fallback;
}

/** ViTImageProcessor settings (size, mean, std, rescale factor). */
export function readPreprocess(dir: string): Preprocess {
  const cfg = readJson(join(dir, 'preprocessor_config.json')) ?? {};
  const size = cfg.size;
  let width = 224;
  let height = 224;
  if (typeof size === 'number') width = height = size;
  else if (size && typeof size === 'object') {
    const s = size as Record<string, unknown>;
    if (typeof s.width === 'number') width = s.width;
    if (typeof s.height === 'number') height = s.height;
    if (typeof s.shortest_edge === 'number') width = height = s.shortest_edge;
  }
  return {
    width,
    height,
    mean: numbers(cfg.image_mean, [0.5, 0.5, 0.5]),
    std: numbers(cfg.image_std, [0.5, 0.5, 0.5]),
    rescale: typeof cfg.rescale_factor === 'number' ? cfg.rescale_factor : 1 / 255,
  };
}

/** Resized, normalised planar pixels [1, 3, h, w]. */
export async function pixelValues(img: RawImage, pre: Preprocess): Promise<Float32Array> {
  const rgb = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } })
    .removeAlpha()
    .resize(pre.width, pre.height, { fit: 'fill', kernel: 'cubic' })
    .raw()
    .toBuffer();
  const plane = pre.width * pre.height;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const mean = pre.mean[c] ?? 0.5;
    const std = pre.std[c] ?? 0.5;
    for (let i = 0; i < plane; i++) out[c * plane + i] = ((rgb[i * 3 + c] as number) * pre.rescale - mean) / std;
  }
  return out;
}

/** GPT-2 byte-level decoding: vocabulary strings back to UTF-8 text. */
export function decodeTokens(ids: readonly number[], idToToken: readonly (string | undefined)[]): string {
  const byteOf = new Map<string, number>();
  bytesToUnicode().forEach((ch, b) => byteOf.set(ch, b));
  const bytes: number[] = [];
  for (const id of ids) {
    for (const ch of idToToken[id] ?? '') {
      const b = byteOf.get(ch);
      if (b !== undefined) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

interface TokenizerJson {
  model?: { vocab?: Record<string, number> };
  added_tokens?: { id: number; content: string }[];
}

function readVocabulary(dir: string): (string | undefined)[] {
  const tj = join(dir, 'tokenizer.json');
  let vocab: Record<string, number> | undefined;
  let added: { id: number; content: string }[] = [];
  if (existsSync(tj)) {
    const parsed = JSON.parse(readFileSync(tj, 'utf8')) as TokenizerJson;
    vocab = parsed.model?.vocab;
    added = parsed.added_tokens ?? [];
  } else if (existsSync(join(dir, 'vocab.json'))) {
    vocab = JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8')) as Record<string, number>;
  }
  if (!vocab) throw new Error(`${dir}: no tokenizer.json or vocab.json`);
  const out: (string | undefined)[] = [];
  for (const [token, id] of Object.entries(vocab)) out[id] = token;
  for (const a of added) out[a.id] = undefined; // special tokens never appear in the caption
  return out;
}

interface DecoderConfig {
  startId: number;
  eosId: number;
  heads: number;
  headDim: number;
}

function readDecoderConfig(dir: string): DecoderConfig {
  const cfg = readJson(join(dir, 'config.json')) ?? {};
  const dec = (cfg.decoder as Record<string, unknown> | undefined) ?? {};
  const gen = readJson(join(dir, 'generation_config.json')) ?? {};
  const pick = (...vals: unknown[]): number | undefined => vals.find((v): v is number => typeof v === 'number');
  const eosId = pick(gen.eos_token_id, cfg.eos_token_id, dec.eos_token_id) ?? 50256;
  const startId = pick(gen.decoder_start_token_id, cfg.decoder_start_token_id, dec.bos_token_id) ?? eosId;
  const heads = pick(dec.n_head, dec.num_attention_heads) ?? 12;
  const embd = pick(dec.n_embd, dec.hidden_size) ?? 768;
  return { startId, eosId, heads, headDim: embd / heads };
}

function argmaxLast(logits: Float32Array, dims: readonly number[]): number {
  const vocab = dims[dims.length - 1] as number;
  const base = logits.length - vocab;
  let best = 0;
  let bestValue = -Infinity;
  for (let v = 0; v < vocab; v++) {
    const x = logits[base + v] as number;
    if (x > bestValue) {
      bestValue = x;
      best = v;
    }
  }
  return best;
}

function dimOr(spec: TensorSpec, index: number, fallback: number): number {
  const d = spec.shape[index];
  return typeof d === 'number' && d > 0 ? d : fallback;
}

export async function loadCaptionModel(dir: string): Promise<Captioner> {
  const onnxDir = existsSync(join(dir, 'onnx')) ? join(dir, 'onnx') : dir;
  const decoderFile = ['decoder_model_merged.onnx', 'decoder_model.onnx'].map((f) => join(onnxDir, f)).find((f) => existsSync(f));
  if (!decoderFile) throw new Error(`${dir}: no decoder_model_merged.onnx or decoder_model.onnx`);
  const encoder = await openSession(join(onnxDir, 'encoder_model.onnx'));
  let decoder: ComponentSession;
  try {
    decoder = await openSession(decoderFile);
  } catch (err) {
    await encoder.release();
    throw err;
  }
  const pre = readPreprocess(dir);
  const vocab = readVocabulary(dir);
  const cfg = readDecoderConfig(dir);
  const pastInputs = decoder.inputs.filter((s) => s.name.startsWith('past_key_values'));
  const cacheFlag = decoder.input('use_cache_branch');
  const idsSpec = decoder.input('input_ids') as TensorSpec;
  const encSpec = decoder.input('encoder_hidden_states') as TensorSpec;

  return {
    async describe(img, maxTokens = 20) {
      const encIn = encoder.inputs[0] as TensorSpec;
      const encOut = await encoder.run({ [encIn.name]: floatTensor(encIn, await pixelValues(img, pre), [1, 3, pre.height, pre.width]) });
      const hiddenTensor = encOut.last_hidden_state ?? encOut[encoder.outputs[0]?.name ?? ''];
      if (!hiddenTensor) throw new Error('caption encoder returned nothing');
      const hidden = floatTensor(encSpec, readFloats(hiddenTensor), hiddenTensor.dims);

      const tokens: number[] = [cfg.startId];
      let past: Record<string, ort.Tensor> | undefined;
      for (let step = 0; step < maxTokens; step++) {
        const useCache = past !== undefined && pastInputs.length > 0;
        const ids = useCache ? [tokens[tokens.length - 1] as number] : tokens;
        const feeds: Record<string, ort.Tensor> = {
          [idsSpec.name]: intTensor(idsSpec, ids, [1, ids.length]),
          [encSpec.name]: hidden,
        };
        for (const s of decoder.inputs) {
          if (s.name === 'attention_mask') feeds[s.name] = intTensor(s, new Array<number>(tokens.length).fill(1), [1, tokens.length]);
          if (s.name === 'encoder_attention_mask') feeds[s.name] = intTensor(s, new Array<number>(hidden.dims[1] as number).fill(1), [1, hidden.dims[1] as number]);
        }
        if (cacheFlag) feeds[cacheFlag.name] = new ort.Tensor('bool', Uint8Array.of(useCache ? 1 : 0), [1]);
        for (const s of pastInputs) {
          const prev = past?.[s.name.replace('past_key_values', 'present')];
          if (useCache && prev) feeds[s.name] = prev;
          else {
            // An empty cache: the merged decoder's no-cache branch ignores it, but the input must exist.
            const dims = [1, dimOr(s, 1, cfg.heads), 0, dimOr(s, 3, cfg.headDim)];
            feeds[s.name] = floatTensor(s, new Float32Array(0), dims);
          }
        }
        const out = await decoder.run(feeds);
        const logits = out.logits ?? out[decoder.outputs[0]?.name ?? ''];
        if (!logits) throw new Error('caption decoder returned no logits');
        const next = argmaxLast(readFloats(logits), logits.dims);
        if (pastInputs.length > 0) past = out;
        if (next === cfg.eosId) break;
        tokens.push(next);
      }
      return decodeTokens(tokens.slice(1), vocab).replace(/\s+/g, ' ').trim();
    },
    async release() {
      await Promise.all([encoder.release(), decoder.release()]);
    },
  };
}
