// Super-resolution with the ESRGAN-named models of UpscalerJS (@upscalerjs/esrgan-slim and -medium, MIT). Despite
// the name, the networks are RDNs (Residual Dense Networks, Zhang et al., CVPR 2018) trained on DIV2K with
// idealo's image-super-resolution code: "slim" has 2 dense blocks of 4 channels, "medium" 10 blocks of 64. The
// packages also ship x8 networks; they are not registered because they lost to x4 + Lanczos on every test photo
// (docs/models.md), so only x2, x3 and x4 are used. The packages hold TF.js layers models; they are converted to
// ONNX when loaded (src/models/runtime/keras-to-onnx.ts, which also folds the final nearest upsampling and
// convolution into a low-resolution convolution + DepthToSpace) and run on onnxruntime with every core. They
// take and produce RGB in 0..255, planar (NCHW) in the converted graph.
//
// Large images are cut into overlapping tiles so that activation memory stays bounded. Tiles overlap by
// `overlap` input pixels; in each overlap the first `margin` pixels next to a tile's edge (where its zero
// padding shows) get no weight and the rest blend with a linear ramp. The weights of the tiles sum to one
// everywhere, so blending neither darkens nor brightens, and no seam is left.
import { readModelArtifacts } from './runtime/tfjs.js';
import { kerasToOnnx } from './runtime/keras-to-onnx.js';
import { loadOnnx, ort, type OnnxModel } from './runtime/onnx.js';
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

/** A loaded network: the converted graph on onnxruntime, planar RGB 0..255 in and out. */
export interface EsrganNet {
  size: EsrganSize;
  scale: EsrganScale;
  /** The converted graph (ONNX bytes): planar RGB 0..255 in and out. */
  graph: Uint8Array;
  /** The session opened at load, kept warm: used on CUDA and for single-tile calls on the CPU. */
  model: OnnxModel;
  /** The graph's input and output names. */
  input: string;
  output: string;
}

async function loadEsrgan(files: ModelFiles, size: EsrganSize, scale: EsrganScale): Promise<EsrganNet> {
  const graph = kerasToOnnx(await readModelArtifacts(files.files[0] as string));
  const model = await loadOnnx(graph);
  const net = { size, scale, graph, model, input: model.inputNames[0] as string, output: model.outputNames[0] as string };
  // The tiling below needs RGB in, RGB out at exactly `scale` times the size: check once on a small input.
  try {
    const probe = await runPlanar(model, net, new Float32Array(3 * 8 * 8), 8, 8);
    if (probe.dims.join() !== [1, 3, 8 * scale, 8 * scale].join()) {
      throw new Error(`${esrganModelId(size, scale)} maps an 8×8 RGB input to [${probe.dims.join(', ')}], not [1, 3, ${8 * scale}, ${8 * scale}]`);
    }
  } catch (err) {
    await model.release();
    throw err;
  }
  return net;
}

async function runPlanar(
  model: OnnxModel,
  names: Pick<EsrganNet, 'input' | 'output'>,
  planes: Float32Array,
  width: number,
  height: number,
): Promise<ort.Tensor> {
  const result = await model.run({ [names.input]: new ort.Tensor('float32', planes, [1, 3, height, width]) });
  const out = result[names.output];
  if (!out) throw new Error(`the ESRGAN graph returned no ${names.output}`);
  return out;
}

/**
 * The session one upscale runs its tiles on. On the CPU, several tiles get a session of their own with
 * onnxruntime's memory arena: reusing the previous tile's activation buffers instead of mapping fresh pages for
 * every tile saves about 30% of the CPU time, but an arena keeps its peak allocated for as long as the session
 * lives, so this one lives only for the call (opening it takes ~10 ms). One tile, or CUDA, uses the warm session.
 */
async function sessionFor(net: EsrganNet, tiles: number): Promise<{ model: OnnxModel; close: () => Promise<void> }> {
  if (tiles === 1 || net.model.device !== 'cpu') return { model: net.model, close: async () => {} };
  const model = await loadOnnx(net.graph, { memArena: true });
  return { model, close: () => model.release() };
}

export function registerEsrganModels(registry: ModelRegistry): void {
  for (const size of ['slim', 'medium'] as const) {
    for (const scale of ESRGAN_SCALES) {
      registry.register(esrganSpec(size, scale), (f) => loadEsrgan(f, size, scale), (net) => net.model.release());
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
  /** Largest tile side in input pixels (default DEFAULT_TILING.tile). */
  tile?: number;
  /** Overlap between neighbouring tiles in input pixels (default 32). */
  overlap?: number;
  /** Input pixels next to a shared tile edge that get no weight (default 8; the rest of the overlap is a ramp). */
  margin?: number;
  signal?: AbortSignal;
}

// 256-pixel tiles: measured on medium at 1 MP, 320 to 544 save only 5-10% of the time (smaller tiles stay in
// cache better, which offsets most of the saved overlap) for +130 MB to +1.3 GB of peak memory. The overlap
// covers the networks' receptive field (18 pixels) with room for the blend ramp.
export const DEFAULT_TILING = { tile: 256, overlap: 32, margin: 8 } as const;

/** Gives the event loop a turn between tiles and honours cancellation. */
async function yieldTurn(signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  signal?.throwIfAborted();
}

/**
 * Runs the network over `img` (RGB or RGBA; alpha is ignored here, callers scale it separately) and returns
 * RGB at exactly `scale` times its size.
 */
export async function esrganUpscale(net: EsrganNet, img: RawImage, options: TilingOptions = {}): Promise<RawImage> {
  const tile = options.tile ?? DEFAULT_TILING.tile;
  const overlap = options.overlap ?? DEFAULT_TILING.overlap;
  const margin = options.margin ?? DEFAULT_TILING.margin;
  if (2 * margin >= overlap) throw new Error(`margin (${margin}) must be less than half the overlap (${overlap})`);
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
  const session = await sessionFor(net, xs.length * ys.length);
  try {
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
        const hr = await runTile(session.model, net, img, sx, sy);
        accumulate(band, OW, hr, sx, sy, s, xWeights[tx] as Float32Array, yWeights);
      }
      const finalEnd = ty + 1 < ys.length ? (ys[ty + 1] as Span).start * s : OH;
      writeRows(band, out, OW, top, finalEnd - top, top);
    }
  } finally {
    await session.close();
  }
  return { data: out, width: OW, height: OH, channels: 3 };
}

/** The network's output for one tile: Float32 planar RGB at scale × the tile's size. */
async function runTile(model: OnnxModel, net: EsrganNet, img: RawImage, sx: Span, sy: Span): Promise<Float32Array> {
  const tw = sx.end - sx.start;
  const th = sy.end - sy.start;
  const plane = tw * th;
  const input = new Float32Array(plane * 3);
  const c = img.channels;
  for (let y = 0; y < th; y++) {
    let i = ((sy.start + y) * img.width + sx.start) * c;
    let o = y * tw;
    for (let x = 0; x < tw; x++, i += c, o++) {
      input[o] = img.data[i] as number;
      input[o + plane] = img.data[i + 1] as number;
      input[o + 2 * plane] = img.data[i + 2] as number;
    }
  }
  return (await runPlanar(model, net, input, tw, th)).data as Float32Array;
}

/** Adds a tile's planar output, weighted, into the interleaved band. */
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
  const plane = tw * th;
  const left = sx.start * s;
  for (let y = 0; y < th; y++) {
    const rowWeight = wy[y] as number;
    if (rowWeight === 0) continue;
    let i = y * tw;
    let o = (y * OW + left) * 3;
    for (let x = 0; x < tw; x++, i++, o += 3) {
      const w = rowWeight * (wx[x] as number);
      if (w === 0) continue;
      band[o] = (band[o] as number) + w * (hr[i] as number);
      band[o + 1] = (band[o + 1] as number) + w * (hr[i + plane] as number);
      band[o + 2] = (band[o + 2] as number) + w * (hr[i + 2 * plane] as number);
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
