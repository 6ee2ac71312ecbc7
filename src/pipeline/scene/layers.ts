// Scene rasters: the placed object layer, plain canvases, and straight-alpha compositing. Every layer is
// 8-bit RGBA at scene size with straight (non-premultiplied) alpha, like RawImage. Compositing is written
// so that pixels a layer does not touch (alpha 0) keep their exact values, and pixels a layer covers fully
// (alpha 255) take the layer's exact values: the object's opaque pixels reach the output unaltered.
import sharp from 'sharp';
import type { Size } from '../geometry.js';
import type { Rgba } from '../background.js';
import { fromRawImage, type RawImage } from '../raw-image.js';
import { alphaBounds, drawnSize, rasterOrigin, type Box, type Placement } from './placement.js';

/** An RGBA raster at scene size. */
export interface Layer {
  data: Buffer;
  width: number;
  height: number;
}

export interface ObjectLayer extends Layer {
  /** Bounding box of the object's visible pixels inside the scene; null when it fell entirely outside. */
  bounds: Box | null;
}

export function emptyLayer(size: Size): Layer {
  return { data: Buffer.alloc(size.width * size.height * 4), width: size.width, height: size.height };
}

export function solidLayer(size: Size, colour: Rgba): Layer {
  const data = Buffer.allocUnsafe(size.width * size.height * 4);
  for (let i = 0; i < data.length; i += 4) {
    data[i] = colour.r;
    data[i + 1] = colour.g;
    data[i + 2] = colour.b;
    data[i + 3] = colour.alpha;
  }
  return { data, width: size.width, height: size.height };
}

/** A RawImage (3 or 4 channels) as an RGBA layer; shares nothing with the input. */
export function layerFromRaw(img: RawImage): Layer {
  if (img.channels === 4) return { data: Buffer.from(img.data), width: img.width, height: img.height };
  const n = img.width * img.height;
  const data = Buffer.allocUnsafe(n * 4);
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    data[i * 4] = img.data[j] as number;
    data[i * 4 + 1] = img.data[j + 1] as number;
    data[i * 4 + 2] = img.data[j + 2] as number;
    data[i * 4 + 3] = 255;
  }
  return { data, width: img.width, height: img.height };
}

export function layerToRaw(layer: Layer): RawImage {
  return { data: layer.data, width: layer.width, height: layer.height, channels: 4 };
}

/** The alpha channel of a layer as its own plane. */
export function alphaPlane(layer: Layer): Uint8Array {
  const n = layer.width * layer.height;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = layer.data[i * 4 + 3] as number;
  return out;
}

/**
 * Draws the object as `placement` says onto a transparent scene-sized layer: its bounding box is cut from
 * `object` (RGBA), resampled to the placed size (Lanczos, alpha premultiplied by sharp), turned clockwise,
 * and copied in with clipping at the scene's edges. When the placed size equals the source size and there is
 * no rotation, the pixels are copied as they are.
 */
export async function renderObjectLayer(object: RawImage, placement: Placement, scene: Size): Promise<ObjectLayer> {
  const { source } = placement;
  const size = drawnSize(placement);
  let pixels: Buffer;
  let raster: Size;
  if (size.width === source.width && size.height === source.height && placement.rotation === 0) {
    pixels = cropRgba(object, source);
    raster = size;
  } else {
    let pipeline = fromRawImage(object).ensureAlpha().extract(source);
    if (size.width !== source.width || size.height !== source.height) {
      pipeline = pipeline.resize(size.width, size.height, { fit: 'fill', kernel: 'lanczos3' });
    }
    // sharp applies extract/resize before rotate in one pipeline only for multiples of 90°; materialise first
    // so the order is always: cut, scale, turn.
    if (placement.rotation !== 0) {
      const scaled = await pipeline.raw().toBuffer({ resolveWithObject: true });
      pipeline = sharp(scaled.data, { raw: { width: scaled.info.width, height: scaled.info.height, channels: 4 } }).rotate(
        placement.rotation,
        { background: { r: 0, g: 0, b: 0, alpha: 0 } },
      );
    }
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    pixels = data;
    raster = { width: info.width, height: info.height };
  }
  const origin = rasterOrigin(placement, raster);
  const layer = emptyLayer(scene);
  blit(layer, pixels, raster, origin.left, origin.top);
  return { ...layer, bounds: alphaBounds(layer.data, layer.width, layer.height, 4) };
}

function cropRgba(img: RawImage, box: Box): Buffer {
  const out = Buffer.allocUnsafe(box.width * box.height * 4);
  const c = img.channels;
  for (let y = 0; y < box.height; y++) {
    for (let x = 0; x < box.width; x++) {
      const s = ((box.top + y) * img.width + box.left + x) * c;
      const d = (y * box.width + x) * 4;
      out[d] = img.data[s] as number;
      out[d + 1] = img.data[s + 1] as number;
      out[d + 2] = img.data[s + 2] as number;
      out[d + 3] = c === 4 ? (img.data[s + 3] as number) : 255;
    }
  }
  return out;
}

/** Copies an RGBA raster into `layer` with its top-left at (left, top), clipped to the layer. */
function blit(layer: Layer, pixels: Buffer, raster: Size, left: number, top: number): void {
  const x0 = Math.max(0, left);
  const y0 = Math.max(0, top);
  const x1 = Math.min(layer.width, left + raster.width);
  const y1 = Math.min(layer.height, top + raster.height);
  if (x1 <= x0 || y1 <= y0) return;
  for (let y = y0; y < y1; y++) {
    const src = ((y - top) * raster.width + (x0 - left)) * 4;
    pixels.copy(layer.data, (y * layer.width + x0) * 4, src, src + (x1 - x0) * 4);
  }
}

/**
 * `src` over `dst`, in place, straight alpha. Exact where `src` is fully transparent (dst kept) or fully
 * opaque (src copied).
 */
export function compositeOver(dst: Layer, src: Layer): void {
  const d = dst.data;
  const s = src.data;
  for (let i = 0; i < d.length; i += 4) {
    const sa = s[i + 3] as number;
    if (sa === 0) continue;
    if (sa === 255) {
      d[i] = s[i] as number;
      d[i + 1] = s[i + 1] as number;
      d[i + 2] = s[i + 2] as number;
      d[i + 3] = 255;
      continue;
    }
    const a = sa / 255;
    const da = (d[i + 3] as number) / 255;
    const outA = a + da * (1 - a);
    const k = da * (1 - a);
    d[i] = Math.round(((s[i] as number) * a + (d[i] as number) * k) / outA);
    d[i + 1] = Math.round(((s[i + 1] as number) * a + (d[i + 1] as number) * k) / outA);
    d[i + 2] = Math.round(((s[i + 2] as number) * a + (d[i + 2] as number) * k) / outA);
    d[i + 3] = Math.round(outA * 255);
  }
}

/**
 * Lays a black shadow of opacity `mask` (0..255 per pixel) over `dst`, in place. On opaque pixels this
 * darkens the colour (multiplies it by 1 − opacity); on transparent ones it leaves semi-transparent black,
 * so a transparent background keeps the shadow in its alpha. Pixels where the mask is 0 are untouched.
 */
export function applyShadow(dst: Layer, mask: Uint8Array): void {
  const d = dst.data;
  for (let p = 0, i = 0; p < mask.length; p++, i += 4) {
    const m = mask[p] as number;
    if (m === 0) continue;
    const a = m / 255;
    const da = (d[i + 3] as number) / 255;
    const outA = a + da * (1 - a);
    const k = (da * (1 - a)) / outA;
    d[i] = Math.round((d[i] as number) * k);
    d[i + 1] = Math.round((d[i + 1] as number) * k);
    d[i + 2] = Math.round((d[i + 2] as number) * k);
    d[i + 3] = Math.round(outA * 255);
  }
}

/** Resamples a layer (or RawImage) to `size` with Lanczos; alpha is premultiplied by sharp while resampling. */
export async function resizeLayer(layer: Layer, size: Size): Promise<Layer> {
  if (layer.width === size.width && layer.height === size.height) return layer;
  const data = await fromRawImage(layerToRaw(layer))
    .resize(size.width, size.height, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  return { data, width: size.width, height: size.height };
}

/** Gaussian blur of one 8-bit plane (sharp; `sigma` in pixels, below 0.3 the plane is returned as is). */
export async function blurPlane(plane: Uint8Array, size: Size, sigma: number): Promise<Uint8Array> {
  if (sigma < 0.3) return plane;
  const data = await sharp(Buffer.from(plane.buffer, plane.byteOffset, plane.byteLength), {
    raw: { width: size.width, height: size.height, channels: 1 },
  })
    .blur(sigma)
    // libvips reads a one-band raw image as b-w and sharp writes it back as sRGB: keep the one band.
    .extractChannel(0)
    .raw()
    .toBuffer();
  if (data.length !== plane.length) throw new Error(`blur returned ${data.length} bytes for a ${plane.length}-pixel plane`);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Gaussian blur of an RGBA layer's colour (alpha kept). Used for light wrap, where alpha is not wanted. */
export async function blurRgb(layer: Layer, sigma: number): Promise<Buffer> {
  const { data } = await sharp(layer.data, { raw: { width: layer.width, height: layer.height, channels: 4 } })
    .removeAlpha()
    .blur(Math.max(0.3, sigma))
    .raw()
    .toBuffer({ resolveWithObject: true });
  return data;
}
