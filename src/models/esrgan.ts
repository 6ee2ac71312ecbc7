// Super-resolution with the ESRGAN-named models of UpscalerJS (@upscalerjs/esrgan-slim and -medium, MIT). Despite
// the name, the networks are RDNs (Residual Dense Networks, Zhang et al., CVPR 2018) trained on DIV2K with
// idealo's image-super-resolution code: "slim" has 2 dense blocks of 4 channels, "medium" 10 blocks of 64. The
// packages also ship x8 networks; they are not registered because they lost to x4 + Lanczos on every test photo
// (docs/models.md), so only x2, x3 and x4 are used. TF.js layers models, run on the wasm backend (src/models/runtime/tfjs.ts), taking
// and producing RGB in 0..255.
//
// Large images are cut into overlapping tiles. The network is split in two so that memory stays bounded at
// any scale: the body (everything up to the last low-resolution convolution) runs on a whole tile, and the tail
// (nearest-neighbour upsampling then one 3×3 convolution, whose activations are 3·s² channels at output
// resolution) runs on strips of that tile with a one-row halo, which reproduces the full network exactly.
// Tiles overlap by `overlap` input pixels; in each overlap the first `margin` pixels next to a tile's edge
// (where its zero padding shows) get no weight and the rest blend with a linear ramp. The weights of the tiles
// sum to one everywhere, so blending neither darkens nor brightens, and no seam is left.
import type * as TF from '@tensorflow/tfjs';
import { tfjs, loadTfjsLayersModel } from './runtime/tfjs.js';
import { models, type ModelFiles, type ModelRegistry, type ModelSpec } from './registry.js';
import type { RawImage } from '../pipeline/raw-image.js';

export type EsrganSize = 'slim' | 'medium';
export type EsrganScale = 2 | 3 | 4;
export const ESRGAN_SCALES: readonly EsrganScale[] = [2, 3, 4];

const PACKAGE: Record<EsrganSize, string> = { slim: '@upscalerjs/esrgan-slim', medium: '@upscalerjs/esrgan-medium' };
// Declared sizes (model.json + weights) for `models list` when the package is missing.
const SIZES: Record<EsrganSize, Record<EsrganScale, number>> = {
  slim: { 2: 900_636, 3: 919_596, 4: 946_140 },
  medium: { 2: 2_802_991, 3: 2_821_951, 4: 2_848_495 },
};

export function esrganModelId(size: EsrganSize, scale: EsrganScale): string {
  return `esrgan-${size}-x${scale}`;
}

export function esrganSpec(size: EsrganSize, scale: EsrganScale): ModelSpec {
  return {
    id: esrganModelId(size, scale),
    task: 'super-resolution',
    package: PACKAGE[size],
    files: [`models/x${scale}/model.json`, `models/x${scale}/group1-shard1of1.bin`],
    format: 'tfjs-layers',
    licence: 'MIT',
    source: `UpscalerJS ${PACKAGE[size]} 1.0.0 (github.com/thekevinscott/upscaler): RDN ${size === 'slim' ? 'C1-D2-G4' : 'C1-D10-G64'} x${scale}, trained on DIV2K`,
    sizeBytes: SIZES[size][scale],
    installHint: `npm install ${PACKAGE[size]}@1.0.0`,
  };
}

/** A loaded network, split into its low-resolution body and its upsampling tail. */
export interface EsrganNet {
  size: EsrganSize;
  scale: EsrganScale;
  /** Input RGB 0..255 → features at input resolution (3·s² channels). */
  body: TF.LayersModel;
  /** The tail convolution's weights: [3, 3, 3·s², 3] and [3]. */
  kernel: TF.Tensor4D;
  bias: TF.Tensor1D;
  /** Channels of the body's output. */
  features: number;
  /** The whole network as shipped (owns every weight; disposed on release). */
  full: TF.LayersModel;
}

async function loadEsrgan(files: ModelFiles, size: EsrganSize, scale: EsrganScale): Promise<EsrganNet> {
  const tf = await tfjs();
  const full = await loadTfjsLayersModel(files.files[0] as string);
  const names = full.layers.map((l) => l.name);
  const upIndex = names.indexOf('UPsample');
  const sr = full.layers[names.length - 1];
  // The split below relies on the idealo RDN layout: ... → UPN3 → UpSampling2D(nearest) → SR conv (linear).
  if (upIndex !== names.length - 2 || !sr || sr.name !== 'SR') {
    full.dispose();
    throw new Error(`unexpected ESRGAN graph ending in ${names.slice(-3).join(', ')}`);
  }
  const srConfig = sr.getConfig() as { activation?: string; padding?: string };
  const upConfig = full.layers[upIndex]!.getConfig() as { size?: number[]; interpolation?: string };
  const [kernel, bias] = sr.getWeights() as [TF.Tensor4D, TF.Tensor1D];
  // The tail strips carry a one-row halo, which is exactly right for a 3×3 'same' convolution only.
  const tailOk =
    (srConfig.activation ?? 'linear') === 'linear' &&
    srConfig.padding === 'same' &&
    (upConfig.interpolation ?? 'nearest') === 'nearest' &&
    upConfig.size?.[0] === scale &&
    upConfig.size?.[1] === scale &&
    kernel.shape[0] === 3 &&
    kernel.shape[1] === 3 &&
    kernel.shape[3] === 3;
  if (!tailOk) {
    full.dispose();
    throw new Error('unexpected ESRGAN tail (expected nearest upsampling and a linear 3×3 convolution to RGB)');
  }
  const before = full.layers[upIndex - 1]!;
  const body = tf.model({ inputs: full.inputs, outputs: before.output as TF.SymbolicTensor });
  return { size, scale, body, kernel, bias, features: kernel.shape[2], full };
}

export function registerEsrganModels(registry: ModelRegistry): void {
  for (const size of ['slim', 'medium'] as const) {
    for (const scale of ESRGAN_SCALES) {
      registry.register(esrganSpec(size, scale), (f) => loadEsrgan(f, size, scale), (net) => net.full.dispose());
    }
  }
}

registerEsrganModels(models);

/** Registers the ESRGAN specs into a registry that does not know them yet (tests build their own). */
export function ensureEsrganRegistered(registry: ModelRegistry): void {
  if (!registry.has(esrganModelId('medium', 2))) registerEsrganModels(registry);
}

// ---------------------------------------------------------------------------------------------------------
// Tiling (pure)

export interface Span {
  start: number;
  end: number;
}

/**
 * Spans of at most `tile` pixels covering [0, length), consecutive ones overlapping by at least `overlap`. The
 * fewest tiles that can do it are used, each shrunk to what they need (evenly spread), so that a length just over
 * one tile costs two half tiles rather than two full ones. One span when the length fits in a tile.
 */
export function tileSpans(length: number, tile: number, overlap: number): Span[] {
  // Keeps each span longer than twice the overlap even in the worst case (length = tile + 1), so no output
  // pixel is ever covered by three tiles.
  if (tile < 3 * overlap + 2) throw new Error(`tile (${tile}) must be at least 3 × overlap + 2 (overlap ${overlap})`);
  if (length <= tile) return [{ start: 0, end: length }];
  const n = Math.ceil((length - overlap) / (tile - overlap));
  const size = Math.ceil((length + (n - 1) * overlap) / n);
  const spans: Span[] = [];
  for (let i = 0; i < n; i++) {
    const start = Math.floor((i * (length - size)) / (n - 1));
    spans.push({ start, end: start + size });
  }
  return spans;
}

/**
 * Blend weights of span `index` for each output pixel it covers (output = input × scale): 0 over the `margin`
 * input pixels next to an edge shared with a neighbour, a linear ramp across the rest of the overlap, 1 inside.
 * The weights of neighbouring spans sum to exactly 1 at every output pixel.
 */
export function spanWeights(spans: readonly Span[], index: number, scale: number, margin: number): Float32Array {
  const span = spans[index] as Span;
  const prev = spans[index - 1];
  const next = spans[index + 1];
  const out = new Float32Array((span.end - span.start) * scale);
  for (let k = 0; k < out.length; k++) {
    // Centre of the output pixel in input coordinates.
    const u = (span.start * scale + k + 0.5) / scale;
    let w = 1;
    if (prev) w *= ramp(u, span.start + margin, prev.end - margin);
    if (next) w *= 1 - ramp(u, next.start + margin, span.end - margin);
    out[k] = w;
  }
  return out;
}

function ramp(u: number, from: number, to: number): number {
  if (u <= from) return 0;
  if (u >= to) return 1;
  return (u - from) / (to - from);
}

// ---------------------------------------------------------------------------------------------------------
// Inference

export interface TilingOptions {
  /** Largest tile side in input pixels (default 256). */
  tile?: number;
  /** Overlap between neighbouring tiles in input pixels (default 32). */
  overlap?: number;
  /** Input pixels next to a shared tile edge that get no weight (default 8; the rest of the overlap is a ramp). */
  margin?: number;
  /** Output rows per tail strip are chosen so a strip's upsampled activations stay under this many bytes. */
  stripBytes?: number;
  signal?: AbortSignal;
}

export const DEFAULT_TILING = { tile: 256, overlap: 32, margin: 8, stripBytes: 48 * 1024 * 1024 } as const;

/** Gives the event loop a turn between tiles (inference itself blocks it) and honours cancellation. */
async function yieldTurn(signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  signal?.throwIfAborted();
}

/**
 * Runs the network over `img` (RGB or RGBA; alpha is ignored here, callers scale it separately) and returns
 * RGB at exactly `scale` times its size.
 */
export async function esrganUpscale(net: EsrganNet, img: RawImage, options: TilingOptions = {}): Promise<RawImage> {
  const tf = await tfjs();
  const tile = options.tile ?? DEFAULT_TILING.tile;
  const overlap = options.overlap ?? DEFAULT_TILING.overlap;
  const margin = options.margin ?? DEFAULT_TILING.margin;
  if (2 * margin >= overlap) throw new Error(`margin (${margin}) must be less than half the overlap (${overlap})`);
  const stripBytes = options.stripBytes ?? DEFAULT_TILING.stripBytes;
  const s = net.scale;
  const W = img.width;
  const H = img.height;
  const OW = W * s;
  const OH = H * s;
  const out = Buffer.allocUnsafe(OW * OH * 3);
  const xs = tileSpans(W, tile, overlap);
  const ys = tileSpans(H, tile, overlap);
  const xWeights = xs.map((_, i) => spanWeights(xs, i, s, margin));

  // Accumulates the current row of tiles at output resolution; rows above the next tile row's top are final.
  let band = new Float32Array(0);
  let bandTop = 0;
  for (let ty = 0; ty < ys.length; ty++) {
    const sy = ys[ty] as Span;
    const yWeights = spanWeights(ys, ty, s, margin);
    const top = sy.start * s;
    const bottom = sy.end * s;
    // Carry the rows this tile row shares with the previous one.
    const next = new Float32Array((bottom - top) * OW * 3);
    if (band.length > 0) next.set(band.subarray((top - bandTop) * OW * 3));
    band = next;
    bandTop = top;
    for (let tx = 0; tx < xs.length; tx++) {
      await yieldTurn(options.signal);
      const sx = xs[tx] as Span;
      const hr = await runTile(tf, net, img, sx, sy, stripBytes);
      accumulate(band, OW, hr, sx, sy, s, xWeights[tx] as Float32Array, yWeights);
    }
    const finalEnd = ty + 1 < ys.length ? (ys[ty + 1] as Span).start * s : OH;
    writeRows(band, out, OW, top, finalEnd - top, top);
  }
  return { data: out, width: OW, height: OH, channels: 3 };
}

/** The network's output for one tile: Float32 RGB at scale × the tile's size. */
async function runTile(tf: typeof TF, net: EsrganNet, img: RawImage, sx: Span, sy: Span, stripBytes: number): Promise<Float32Array> {
  const s = net.scale;
  const tw = sx.end - sx.start;
  const th = sy.end - sy.start;
  const input = new Float32Array(tw * th * 3);
  const c = img.channels;
  for (let y = 0; y < th; y++) {
    let i = ((sy.start + y) * img.width + sx.start) * c;
    let o = y * tw * 3;
    for (let x = 0; x < tw; x++, i += c, o += 3) {
      input[o] = img.data[i] as number;
      input[o + 1] = img.data[i + 1] as number;
      input[o + 2] = img.data[i + 2] as number;
    }
  }
  const features = tf.tidy(() => net.body.predict(tf.tensor4d(input, [1, th, tw, 3])) as TF.Tensor4D);
  try {
    const result = new Float32Array(th * s * tw * s * 3);
    // Input rows per strip so that the upsampled strip (features × s² × width × 4 bytes) fits the budget.
    const bytesPerRow = net.features * s * s * tw * 4;
    const rows = Math.max(1, Math.min(th, Math.floor(stripBytes / bytesPerRow)));
    for (let r0 = 0; r0 < th; r0 += rows) {
      const r1 = Math.min(th, r0 + rows);
      // One input row of halo on each side inside the tile gives the 3×3 convolution its true neighbours.
      const h0 = Math.max(0, r0 - 1);
      const h1 = Math.min(th, r1 + 1);
      const strip = tf.tidy(() => {
        const part = features.slice([0, h0, 0, 0], [1, h1 - h0, tw, net.features]);
        const up = tf.image.resizeNearestNeighbor(part, [(h1 - h0) * s, tw * s]);
        const y = tf.add(tf.conv2d(up, net.kernel, 1, 'same'), net.bias) as TF.Tensor4D;
        return y.slice([0, (r0 - h0) * s, 0, 0], [1, (r1 - r0) * s, tw * s, 3]);
      });
      const data = (await strip.data()) as Float32Array;
      strip.dispose();
      result.set(data, r0 * s * tw * s * 3);
    }
    return result;
  } finally {
    features.dispose();
  }
}

function accumulate(
  band: Float32Array,
  OW: number,
  hr: Float32Array,
  sx: Span,
  sy: Span,
  s: number,
  wx: Float32Array,
  wy: Float32Array,
): void {
  const tw = (sx.end - sx.start) * s;
  const th = (sy.end - sy.start) * s;
  const left = sx.start * s;
  for (let y = 0; y < th; y++) {
    const rowWeight = wy[y] as number;
    if (rowWeight === 0) continue;
    let i = y * tw * 3;
    let o = (y * OW + left) * 3;
    for (let x = 0; x < tw; x++, i += 3, o += 3) {
      const w = rowWeight * (wx[x] as number);
      if (w === 0) continue;
      band[o] = (band[o] as number) + w * (hr[i] as number);
      band[o + 1] = (band[o + 1] as number) + w * (hr[i + 1] as number);
      band[o + 2] = (band[o + 2] as number) + w * (hr[i + 2] as number);
    }
  }
}

function writeRows(band: Float32Array, out: Buffer, OW: number, bandTop: number, rows: number, firstRow: number): void {
  const from = (firstRow - bandTop) * OW * 3;
  const to = from + rows * OW * 3;
  let o = firstRow * OW * 3;
  for (let i = from; i < to; i++, o++) {
    const v = band[i] as number;
    out[o] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
  }
}
