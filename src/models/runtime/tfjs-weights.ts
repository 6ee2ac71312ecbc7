// TF.js weights manifests (`*-weights_manifest.json` + binary shards) decoded to Float32Arrays without loading
// TensorFlow.js, so that networks rebuilt as ONNX graphs (face-api's) need no TF.js backend. Dequantisation
// follows tfjs-core's io.decodeWeights: uint8/uint16 values map to `q * scale + min` (computed in double,
// stored as float32), float16 values are widened.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { halfToFloat } from './onnx-proto.js';

export interface WeightTensor {
  shape: number[];
  data: Float32Array;
}

interface Quantization {
  dtype: 'uint8' | 'uint16' | 'float16';
  scale?: number;
  min?: number;
}

interface ManifestEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: Quantization;
}

interface ManifestGroup {
  paths: string[];
  weights: ManifestEntry[];
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

/**
 * Decodes the entries of a manifest laid out back to back in `buffer`. Float32 entries (plain or quantised)
 * are returned; int32/bool entries (graph constants such as reshape sizes) are skipped over.
 */
export function decodeWeightEntries(buffer: Uint8Array, entries: readonly ManifestEntry[]): Map<string, WeightTensor> {
  const out = new Map<string, WeightTensor>();
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let offset = 0;
  for (const e of entries) {
    const count = e.shape.reduce((n, d) => n * d, 1);
    const q = e.quantization;
    const width = BYTES[q ? q.dtype : e.dtype];
    if (width === undefined) throw new Error(`weight ${e.name}: unsupported dtype ${q ? q.dtype : e.dtype}`);
    const size = count * width;
    if (offset + size > buffer.byteLength) throw new Error(`weight ${e.name} runs past the end of the weight data`);
    if (e.dtype === 'float32') {
      const data = new Float32Array(count);
      if (!q) {
        for (let i = 0; i < count; i++) data[i] = view.getFloat32(offset + i * 4, true);
      } else if (q.dtype === 'float16') {
        for (let i = 0; i < count; i++) data[i] = halfToFloat(view.getUint16(offset + i * 2, true));
      } else {
        if (q.scale === undefined || q.min === undefined) throw new Error(`weight ${e.name}: quantisation without scale and min`);
        const { scale, min } = q;
        for (let i = 0; i < count; i++) {
          const v = q.dtype === 'uint8' ? view.getUint8(offset + i) : view.getUint16(offset + i * 2, true);
          data[i] = v * scale + min;
        }
      }
      out.set(e.name, { shape: [...e.shape], data });
    }
    offset += size;
  }
  if (offset !== buffer.byteLength) throw new Error(`the manifest describes ${offset} bytes of weights, the shards hold ${buffer.byteLength}`);
  return out;
}

/** Reads a weights manifest and its shards (in manifest order) and decodes every float32 weight. */
export function readWeightsManifest(manifestPath: string): Map<string, WeightTensor> {
  const groups = JSON.parse(readFileSync(manifestPath, 'utf8')) as ManifestGroup[];
  const dir = dirname(manifestPath);
  const entries: ManifestEntry[] = [];
  const shards: Buffer[] = [];
  for (const g of groups) {
    entries.push(...g.weights);
    for (const p of g.paths) shards.push(readFileSync(join(dir, p)));
  }
  return decodeWeightEntries(Buffer.concat(shards), entries);
}
