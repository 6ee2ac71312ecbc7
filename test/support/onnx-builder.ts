// Small synthetic ONNX models with the same input/output signatures as a diffusers Stable Diffusion ONNX export
// (text_encoder, unet, vae_encoder, vae_decoder) plus a tiny CLIP tokenizer, written from TypeScript with
// onnx-proto. They run in milliseconds, so the whole diffusion pipeline (and the API on top of it) can be tested
// end to end without real weights. The maths is simple but not trivial:
// - text_encoder: e[b,t,:] = sin(ids[b,t]·w + pos[t]); hidden[b,t,:] = mean of e[b,0..t,:] (causal, like CLIP:
//   the padding positions carry the whole prompt)
// - unet: an ε-predictor for an x0 estimate that the text decides: x0 = Σ_t hidden[b,t,:]·P / 77 per latent
//   channel (+ mean(timestep_cond)·κ for LCM-style UNets) + β·sample at high noise, blended towards
//   sample/√ᾱ_t as the noise falls; ε = (sample − √ᾱ_t·x0) / √(1−ᾱ_t) with ᾱ looked up from the timestep. Every
//   scheduler converges to a prompt-coloured image that depends on the seed, low-strength img2img stays near
//   its input, and the output is affine in the text embedding. The 9-channel variant paints that estimate
//   inside the mask and keeps the masked image's latents outside it.
// - vae_encoder: 8×8 block means of R, G, B and a vertical-contrast channel (SpaceToDepth + Conv1x1)
// - vae_decoder: the inverse layout (Conv1x1 + DepthToSpace): a round trip is an 8×8 block mean plus contrast.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { bytesToUnicode } from '../../src/generative/tokenizer.js';
import { alphasCumprod, DEFAULT_SCHEDULER_CONFIG } from '../../src/generative/schedulers.js';

const { onnx } = onnxProto;
const DT = onnx.TensorProto.DataType;

export type FloatIo = 'float32' | 'float16';
type Dim = number | string;

type ElemType = FloatIo | 'int32' | 'int64' | 'bool';

function dtypeOf(t: ElemType): number {
  switch (t) {
    case 'bool':
      return DT.BOOL;
    case 'float16':
      return DT.FLOAT16;
    case 'int32':
      return DT.INT32;
    case 'int64':
      return DT.INT64;
    default:
      return DT.FLOAT;
  }
}

function valueInfo(name: string, type: ElemType, dims: Dim[]): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: dtypeOf(type),
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function floatTensor(name: string, dims: number[], values: ArrayLike<number>): OnnxTypes.ITensorProto {
  return { name, dims, dataType: DT.FLOAT, floatData: Array.from(values) };
}

function int64Tensor(name: string, dims: number[], values: number[]): OnnxTypes.ITensorProto {
  return { name, dims, dataType: DT.INT64, int64Data: values };
}

type Attr = number | string | number[];

function node(opType: string, input: string[], output: string[], attrs: Record<string, Attr> = {}): OnnxTypes.INodeProto {
  const attribute: OnnxTypes.IAttributeProto[] = Object.entries(attrs).map(([name, v]) =>
    Array.isArray(v)
      ? { name, type: onnx.AttributeProto.AttributeType.INTS, ints: v }
      : typeof v === 'number'
      ? Number.isInteger(v)
        ? { name, type: onnx.AttributeProto.AttributeType.INT, i: v }
        : { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: v }
      : { name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(v) },
  );
  return { opType, input, output, attribute, name: `${opType}_${output[0]}` };
}

/** Graph builder that casts float16 inputs to float32 on the way in and back on the way out. */
class Graph {
  readonly nodes: OnnxTypes.INodeProto[] = [];
  readonly inits: OnnxTypes.ITensorProto[] = [];
  readonly inputs: OnnxTypes.IValueInfoProto[] = [];
  readonly outputs: OnnxTypes.IValueInfoProto[] = [];
  private n = 0;

  tmp(prefix: string): string {
    return `${prefix}_${this.n++}`;
  }

  op(opType: string, input: string[], attrs: Record<string, Attr> = {}): string {
    const out = this.tmp(opType.toLowerCase());
    this.nodes.push(node(opType, input, [out], attrs));
    return out;
  }

  const(values: ArrayLike<number>, dims: number[]): string {
    const name = this.tmp('w');
    this.inits.push(floatTensor(name, dims, values));
    return name;
  }

  shape(values: number[]): string {
    const name = this.tmp('shape');
    this.inits.push(int64Tensor(name, [values.length], values));
    return name;
  }

  /** Declares an input and returns a float32 (or integer) value name for it. */
  input(name: string, type: ElemType, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    if (type === 'float16') return this.op('Cast', [name], { to: DT.FLOAT });
    return name;
  }

  output(name: string, value: string, type: FloatIo, dims: Dim[]): void {
    this.outputs.push(valueInfo(name, type, dims));
    this.nodes.push(node(type === 'float16' ? 'Cast' : 'Identity', [value], [name], type === 'float16' ? { to: DT.FLOAT16 } : {}));
  }

  encode(name: string): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'atelier-test-onnx-builder',
      opsetImport: [{ domain: '', version: 17 }],
      graph: { name, node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

/** Deterministic pseudo-random weights in [-1, 1) (a fixed LCG, so every test run builds the same models). */
export function seededWeights(count: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

export interface TextEncoderOptions {
  hiddenSize?: number;
  idsType?: 'int32' | 'int64';
  io?: FloatIo;
  /** Also output `pooler_output` [B, D] (as transformers' CLIPTextModel export does). */
  pooler?: boolean;
}

/** The token-id → embedding weights of the synthetic text encoder. */
export function textEncoderWeights(hiddenSize: number): { w: Float32Array; pos: Float32Array } {
  return { w: seededWeights(hiddenSize, 11, 1), pos: seededWeights(77 * hiddenSize, 12, 0.1) };
}

export function buildTextEncoder(opts: TextEncoderOptions = {}): Uint8Array {
  const D = opts.hiddenSize ?? 8;
  const io = opts.io ?? 'float32';
  const g = new Graph();
  const ids = g.input('input_ids', opts.idsType ?? 'int32', ['batch', 'sequence']);
  const { w, pos } = textEncoderWeights(D);
  const f = g.op('Cast', [ids], { to: DT.FLOAT });
  const col = g.op('Unsqueeze', [f, g.shape([2])]); // [B,77,1]
  const e = g.op('Sin', [g.op('Add', [g.op('Mul', [col, g.const(w, [1, 1, D])]), g.const(pos, [1, 77, D])])]);
  const counts = g.const(Array.from({ length: 77 }, (_, t) => 1 / (t + 1)), [1, 77, 1]);
  const axis = g.tmp('axis');
  g.inits.push(int64Tensor(axis, [], [1]));
  const hidden = g.op('Mul', [g.op('CumSum', [e, axis]), counts]);
  g.output('last_hidden_state', hidden, io, ['batch', 'sequence', D]);
  if (opts.pooler) g.output('pooler_output', g.op('ReduceMean', [hidden], { axes: [1], keepdims: 0 }), io, ['batch', D]);
  return g.encode('text_encoder');
}

export interface UnetOptions {
  hiddenSize?: number;
  /** 4 (normal) or 9 (inpainting: latents + mask + masked-image latents). */
  inChannels?: 4 | 9;
  io?: FloatIo;
  timestepType?: FloatIo | 'int64';
  /** `[1]`, `[batch]` or a scalar timestep input. */
  timestepShape?: 'one' | 'batch' | 'scalar';
  /** Declare the channel dimension as a number (true) or symbolically as optimum exports do (false). */
  channelsInMetadata?: boolean;
  /** Guidance-embedding width of an LCM-distilled UNet (`timestep_cond` input), e.g. 256. */
  timestepCond?: number;
}

/** The text → target-latent projection of the synthetic UNet and its LCM guidance-embedding weight. */
export function unetWeights(hiddenSize: number): { proj: Float32Array; kappa: number; beta: number } {
  return { proj: seededWeights(hiddenSize * 4, 22, 0.3), kappa: 0.05, beta: 0.3 };
}

export function buildUnet(opts: UnetOptions = {}): Uint8Array {
  const D = opts.hiddenSize ?? 8;
  const C = opts.inChannels ?? 4;
  const io = opts.io ?? 'float32';
  const g = new Graph();
  const chanDim: Dim = opts.channelsInMetadata === false ? 'channels' : C;
  const sample = g.input('sample', io, ['batch', chanDim, 'height', 'width']);
  const tsShape: Dim[] = opts.timestepShape === 'scalar' ? [] : opts.timestepShape === 'batch' ? ['batch'] : [1];
  const timestep = g.input('timestep', opts.timestepType ?? 'int64', tsShape);
  const hidden = g.input('encoder_hidden_states', io, ['batch', 'sequence', D]);
  const cond = opts.timestepCond ? g.input('timestep_cond', io, ['batch', opts.timestepCond]) : undefined;
  const { proj, kappa, beta } = unetWeights(D);

  const channels = (from: number, to: number): string => {
    const starts = g.tmp('starts');
    const ends = g.tmp('ends');
    const axes = g.tmp('axes');
    g.inits.push(int64Tensor(starts, [1], [from]), int64Tensor(ends, [1], [to]), int64Tensor(axes, [1], [1]));
    return g.op('Slice', [sample, starts, ends, axes]);
  };
  const x = C === 4 ? sample : channels(0, 4);

  // ᾱ_t lookups: the timestep (any dtype, fractional for Euler) rounded to a table index.
  const ac = alphasCumprod(DEFAULT_SCHEDULER_CONFIG);
  const sqrtA = g.const(Array.from(ac, (a) => Math.sqrt(a)), [1000]);
  const invSqrtB = g.const(Array.from(ac, (a) => 1 / Math.sqrt(1 - a)), [1000]);
  const tFloat = g.op('Reshape', [g.op('Cast', [timestep], { to: DT.FLOAT }), g.shape([-1])]);
  const lo = g.const([0], []);
  const hi = g.const([999], []);
  const index = g.op('Cast', [g.op('Clip', [g.op('Round', [tFloat]), lo, hi])], { to: DT.INT64 });
  const sa = g.op('Reshape', [g.op('Gather', [sqrtA, index]), g.shape([-1, 1, 1, 1])]);
  const isb = g.op('Reshape', [g.op('Gather', [invSqrtB, index]), g.shape([-1, 1, 1, 1])]);

  // Target x0 per latent channel from the mean text embedding: [B,4,1,1].
  const meanTokens = g.op('ReduceMean', [hidden], { axes: [1], keepdims: 0 });
  let target = g.op('Reshape', [g.op('MatMul', [meanTokens, g.const(proj, [D, 4])]), g.shape([-1, 4, 1, 1])]);
  if (cond) {
    const c = g.op('ReduceMean', [cond], { axes: [1], keepdims: 1 }); // [B,1]
    target = g.op('Add', [target, g.op('Mul', [g.op('Reshape', [c, g.shape([-1, 1, 1, 1])]), g.const([kappa], [1])])]);
  }
  // Like a real denoiser, the x0 estimate leans on the prompt at high noise and on the sample itself at low
  // noise (weights 1−ᾱ and ᾱ); β·x keeps the result seed-dependent.
  const acTable = g.const(Array.from(ac), [1000]);
  const invSqrtA = g.const(Array.from(ac, (a) => 1 / Math.sqrt(a)), [1000]);
  const alpha = g.op('Reshape', [g.op('Gather', [acTable, index]), g.shape([-1, 1, 1, 1])]);
  const isa = g.op('Reshape', [g.op('Gather', [invSqrtA, index]), g.shape([-1, 1, 1, 1])]);
  const fromPrompt = g.op('Add', [target, g.op('Mul', [x, g.const([beta], [1])])]);
  const fromSample = g.op('Mul', [x, isa]);
  let x0 = g.op('Add', [g.op('Mul', [fromPrompt, g.op('Sub', [g.const([1], [1]), alpha])]), g.op('Mul', [fromSample, alpha])]);
  if (C === 9) {
    // Ideal inpainter: the masked image's latents where the mask is 0, the text's target where it is 1.
    const m = channels(4, 5);
    const kept = channels(5, 9);
    x0 = g.op('Add', [kept, g.op('Mul', [m, g.op('Sub', [x0, kept])])]);
  }
  const eps = g.op('Mul', [g.op('Sub', [x, g.op('Mul', [sa, x0])]), isb]);
  g.output('out_sample', eps, io, ['batch', 4, 'height', 'width']);
  return g.encode('unet');
}

/** Block means → latent: R, G, B and (top half − bottom half) of the grey level. */
function encoderWeights(): Float32Array {
  // SpaceToDepth(8) puts pixel (c, dy, dx) at channel (dy·8 + dx)·3 + c.
  const w = new Float32Array(4 * 192);
  for (let dy = 0; dy < 8; dy++) {
    for (let dx = 0; dx < 8; dx++) {
      for (let c = 0; c < 3; c++) {
        const ch = (dy * 8 + dx) * 3 + c;
        w[c * 192 + ch] = 1 / 64;
        w[3 * 192 + ch] = (dy < 4 ? 1 : -1) / (64 * 3);
      }
    }
  }
  return w;
}

/** Latent → 8×8 block: each colour channel's mean plus the contrast channel's vertical split. */
function decoderWeights(): Float32Array {
  // DepthToSpace(8, CRD) reads channel c·64 + dy·8 + dx for pixel (c, dy, dx).
  const w = new Float32Array(192 * 4);
  for (let c = 0; c < 3; c++) {
    for (let dy = 0; dy < 8; dy++) {
      for (let dx = 0; dx < 8; dx++) {
        const ch = c * 64 + dy * 8 + dx;
        w[ch * 4 + c] = 1;
        w[ch * 4 + 3] = dy < 4 ? 1 : -1;
      }
    }
  }
  return w;
}

export interface VaeOptions {
  io?: FloatIo;
  /** `latent_sample` (4 channels, diffusers' script) or `latent_parameters` (mean and log-variance, optimum). */
  encoderOutput?: 'latent_sample' | 'latent_parameters';
}

export function buildVaeEncoder(opts: VaeOptions = {}): Uint8Array {
  const io = opts.io ?? 'float32';
  const g = new Graph();
  const x = g.input('sample', io, ['batch', 3, 'height', 'width']);
  const blocks = g.op('SpaceToDepth', [x], { blocksize: 8 });
  let latent = g.op('Conv', [blocks, g.const(encoderWeights(), [4, 192, 1, 1])]);
  const name = opts.encoderOutput ?? 'latent_sample';
  if (name === 'latent_parameters') {
    // Mean then a constant log-variance of −4 (σ ≈ 0.14), as a real VAE's posterior has.
    const logvar = g.op('Add', [g.op('Mul', [latent, g.const([0], [1])]), g.const([-4], [1])]);
    latent = g.op('Concat', [latent, logvar], { axis: 1 });
  }
  g.output(name, latent, io, ['batch', name === 'latent_parameters' ? 8 : 4, 'height_latent', 'width_latent']);
  return g.encode('vae_encoder');
}

export function buildVaeDecoder(opts: VaeOptions = {}): Uint8Array {
  const io = opts.io ?? 'float32';
  const g = new Graph();
  const z = g.input('latent_sample', io, ['batch', 4, 'height_latent', 'width_latent']);
  const depth = g.op('Conv', [z, g.const(decoderWeights(), [192, 4, 1, 1])]);
  const img = g.op('DepthToSpace', [depth], { blocksize: 8, mode: 'CRD' });
  g.output('sample', img, io, ['batch', 3, 'height', 'width']);
  return g.encode('vae_decoder');
}

/** Words of the tiny vocabulary with their ids in the real CLIP vocabulary (openai/clip-vit-large-patch14). */
export const CLIP_WORD_IDS: Record<string, number> = {
  photo: 1125,
  of: 539,
  cat: 2368,
  dog: 1929,
  tree: 2677,
  it: 585,
  "'s": 568,
  toy: 5988,
  running: 2761,
  fast: 1953,
  dogs: 3255,
  and: 537,
  cats: 3989,
  on: 525,
  beach: 2117,
};

/**
 * A tiny CLIP tokenizer: the 512 byte tokens in CLIP's order (so single characters get their real ids, e.g.
 * `a</w>` = 320, `!</w>` = 256), the words above with their real ids, and left-to-right merges that build
 * them. Intermediate merge products get ids from 40000 up.
 */
export function tinyTokenizer(): { vocab: Record<string, number>; merges: string } {
  // CLIP's vocabulary lists bytes in bytes_to_unicode()'s insertion order: the printable bytes by value (they map
  // to themselves), then the others, which map to U+0100, U+0101, ... in turn.
  const chars = bytesToUnicode();
  const byteOrder = [...chars].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
  const vocab: Record<string, number> = {};
  byteOrder.forEach((c, i) => {
    vocab[c] = i;
    vocab[`${c}</w>`] = i + 256;
  });
  const merges: string[] = [];
  let next = 40000;
  for (const [word, id] of Object.entries(CLIP_WORD_IDS)) {
    const letters = Array.from(word);
    let left = letters[0]!;
    for (let i = 1; i < letters.length; i++) {
      const last = i === letters.length - 1;
      const right = last ? `${letters[i]}</w>` : letters[i]!;
      const merge = `${left} ${right}`;
      if (!merges.includes(merge)) merges.push(merge);
      left += right;
      if (vocab[left] === undefined) vocab[left] = last ? id : next++;
    }
  }
  vocab['<|startoftext|>'] = 49406;
  vocab['<|endoftext|>'] = 49407;
  return { vocab, merges: `#version: 0.2\n${merges.join('\n')}\n` };
}

export interface SyntheticModelSetOptions extends UnetOptions, VaeOptions {
  idsType?: 'int32' | 'int64';
  /** scheduler/scheduler_config.json; SD 1.5's PNDM config by default. */
  scheduler?: Record<string, unknown>;
  /** Written to vae_decoder/config.json; omitted → the engine's default 0.18215. */
  scalingFactor?: number;
  /** Write unet/config.json with in_channels (how optimum exports tell an inpainting UNet). */
  unetConfig?: boolean;
  /** Leave out vae_encoder/ (a txt2img-only set). */
  noEncoder?: boolean;
}

export const SD15_SCHEDULER_CONFIG = {
  _class_name: 'PNDMScheduler',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  clip_sample: false,
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  trained_betas: null,
};

/** Writes a complete diffusers-layout ONNX model set into `dir` (created). */
export function writeSyntheticModelSet(dir: string, opts: SyntheticModelSetOptions = {}): void {
  const io = opts.io ?? 'float32';
  const D = opts.hiddenSize ?? 8;
  const write = (rel: string, data: Uint8Array | string): void => {
    const path = join(dir, rel);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, data);
  };
  const inpaint = opts.inChannels === 9;
  write(
    'model_index.json',
    JSON.stringify({
      _class_name: inpaint ? 'OnnxStableDiffusionInpaintPipeline' : 'OnnxStableDiffusionPipeline',
      _diffusers_version: '0.27.0',
      text_encoder: ['onnxruntime', 'OnnxRuntimeModel'],
      unet: ['onnxruntime', 'OnnxRuntimeModel'],
      vae_decoder: ['onnxruntime', 'OnnxRuntimeModel'],
      ...(opts.noEncoder ? {} : { vae_encoder: ['onnxruntime', 'OnnxRuntimeModel'] }),
      tokenizer: ['transformers', 'CLIPTokenizer'],
      scheduler: ['diffusers', String(opts.scheduler?._class_name ?? 'PNDMScheduler')],
    }, null, 2),
  );
  write('text_encoder/model.onnx', buildTextEncoder({ hiddenSize: D, idsType: opts.idsType ?? 'int32', io }));
  write('unet/model.onnx', buildUnet(opts));
  if (opts.unetConfig) write('unet/config.json', JSON.stringify({ in_channels: opts.inChannels ?? 4, sample_size: 64 }));
  write('vae_decoder/model.onnx', buildVaeDecoder({ io }));
  if (opts.scalingFactor !== undefined) write('vae_decoder/config.json', JSON.stringify({ scaling_factor: opts.scalingFactor }));
  if (!opts.noEncoder) write('vae_encoder/model.onnx', buildVaeEncoder({ io, encoderOutput: opts.encoderOutput ?? 'latent_sample' }));
  const tok = tinyTokenizer();
  write('tokenizer/vocab.json', JSON.stringify(tok.vocab));
  write('tokenizer/merges.txt', tok.merges);
  write('tokenizer/special_tokens_map.json', JSON.stringify({ bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', pad_token: '<|endoftext|>', unk_token: '<|endoftext|>' }));
  write('scheduler/scheduler_config.json', JSON.stringify(opts.scheduler ?? SD15_SCHEDULER_CONFIG, null, 2));
}

/** Words of the synthetic caption vocabulary, in GPT-2 byte-level form (Ġ = a leading space). */
const CAPTION_WORDS = ['Ġwhite', 'Ġblack', 'Ġcat', 'Ġdog', 'Ġsitting', 'Ġon', 'Ġgrass'];

/**
 * A synthetic vision-encoder/GPT-2-decoder caption model (transformers.js layout). Greedy decoding reads
 * "a white cat sitting on grass" for a bright image and "a black dog sitting on grass" for a dark one: the
 * decoder's logits are a next-token table on the last input token plus an image-brightness bias that only
 * decides between "white" and "black". `merged` gives the decoder the key/value-cache inputs and
 * `use_cache_branch` flag of optimum's decoder_model_merged.onnx.
 */
export function writeSyntheticCaptionSet(dir: string, opts: { merged?: boolean } = {}): void {
  const write = (rel: string, data: Uint8Array | string): void => {
    const path = join(dir, rel);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, data);
  };
  const byteChars = [...bytesToUnicode()].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
  const vocab: Record<string, number> = {};
  byteChars.forEach((c, i) => (vocab[c] = i));
  CAPTION_WORDS.forEach((w, i) => (vocab[w] = 256 + i));
  const eos = 256 + CAPTION_WORDS.length;
  vocab['<|endoftext|>'] = eos;
  const V = eos + 1;
  const id = (t: string): number => vocab[t]!;

  // Next-token table: logits[prev][next].
  const table = new Float32Array(V * V);
  const link = (from: number, to: number, logit = 10): void => void (table[from * V + to] = logit);
  link(eos, id('a'));
  link(id('a'), id('Ġwhite'), 5);
  link(id('a'), id('Ġblack'), 5);
  link(id('Ġwhite'), id('Ġcat'));
  link(id('Ġblack'), id('Ġdog'));
  link(id('Ġcat'), id('Ġsitting'));
  link(id('Ġdog'), id('Ġsitting'));
  link(id('Ġsitting'), id('Ġon'));
  link(id('Ġon'), id('Ġgrass'));
  link(id('Ġgrass'), eos);
  const bias = new Float32Array(V);
  bias[id('Ġwhite')] = 2;
  bias[id('Ġblack')] = -2;

  const enc = new Graph();
  const px = enc.input('pixel_values', 'float32', ['batch', 3, 224, 224]);
  const mean = enc.op('ReduceMean', [px], { axes: [1, 2, 3], keepdims: 1 }); // [B,1,1,1]
  const hiddenEnc = enc.op('Mul', [enc.op('Reshape', [mean, enc.shape([-1, 1, 1])]), enc.const(new Float32Array(8).fill(1), [1, 4, 2])]);
  enc.output('last_hidden_state', hiddenEnc, 'float32', ['batch', 4, 2]);

  const dec = new Graph();
  const ids = dec.input('input_ids', 'int64', ['batch', 'sequence']);
  const encHidden = dec.input('encoder_hidden_states', 'float32', ['batch', 'encoder_sequence', 2]);
  let logits = dec.op('Gather', [dec.const(table, [V, V]), ids]); // [B,T,V]
  const brightness = dec.op('Reshape', [dec.op('ReduceMean', [encHidden], { axes: [1, 2], keepdims: 1 }), dec.shape([-1, 1, 1])]);
  logits = dec.op('Add', [logits, dec.op('Mul', [brightness, dec.const(bias, [1, 1, V])])]);
  if (opts.merged) {
    const flag = dec.input('use_cache_branch', 'bool', [1]);
    logits = dec.op('Add', [logits, dec.op('Mul', [dec.op('Cast', [flag], { to: DT.FLOAT }), dec.const([0], [1])])]);
    // The "cache" grows by one [B,2,T,4] slice per call, as a real decoder's present.* do.
    const grow = dec.op('Mul', [dec.op('Cast', [dec.op('Unsqueeze', [dec.op('Unsqueeze', [ids, dec.shape([1])]), dec.shape([3])])], { to: DT.FLOAT }), dec.const(new Float32Array(8).fill(0), [1, 2, 1, 4])]);
    for (const kind of ['key', 'value']) {
      const past = dec.input(`past_key_values.0.${kind}`, 'float32', ['batch', 2, 'past_sequence', 4]);
      dec.output(`present.0.${kind}`, dec.op('Concat', [past, grow], { axis: 2 }), 'float32', ['batch', 2, 'total_sequence', 4]);
    }
  }
  dec.output('logits', logits, 'float32', ['batch', 'sequence', V]);

  write('onnx/encoder_model.onnx', enc.encode('encoder'));
  write(opts.merged ? 'onnx/decoder_model_merged.onnx' : 'onnx/decoder_model.onnx', dec.encode('decoder'));
  write('config.json', JSON.stringify({ decoder_start_token_id: eos, eos_token_id: eos, pad_token_id: eos, decoder: { n_head: 2, n_embd: 8 } }));
  write('preprocessor_config.json', JSON.stringify({ size: { height: 224, width: 224 }, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5], rescale_factor: 1 / 255 }));
  write('tokenizer.json', JSON.stringify({ model: { type: 'BPE', vocab, merges: [] }, added_tokens: [{ id: eos, content: '<|endoftext|>', special: true }] }));
}
