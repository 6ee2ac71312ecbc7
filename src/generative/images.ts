// Pixels ↔ tensors for the VAE: RGB in [-1, 1], planar (NCHW), and masks reduced to latent resolution.
import sharp from 'sharp';
import type { RawImage } from '../pipeline/raw-image.js';
import type { MaskImage } from './engine.js';

/** Resizes an image to exactly width×height (no cropping: the caller chose the aspect ratio) as RGB. */
export async function resizeRgb(img: RawImage | MaskImage, width: number, height: number): Promise<Buffer> {
  let s = sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels }, limitInputPixels: false });
  if (img.channels === 4) s = s.removeAlpha();
  if (img.channels === 1) s = s.toColourspace('srgb');
  if (img.width !== width || img.height !== height) s = s.resize(width, height, { fit: 'fill', kernel: 'lanczos3' });
  const { data, info } = await s.raw().toBuffer({ resolveWithObject: true });
  if (info.channels === 3) return data;
  // Grey input: expand to RGB.
  const out = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) out.fill(data[i * info.channels] as number, i * 3, i * 3 + 3);
  return out;
}

/** Interleaved 8-bit RGB → planar float in [-1, 1]. */
export function rgbToTensor(rgb: Buffer, width: number, height: number): Float32Array {
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    out[i] = (rgb[i * 3] as number) / 127.5 - 1;
    out[plane + i] = (rgb[i * 3 + 1] as number) / 127.5 - 1;
    out[2 * plane + i] = (rgb[i * 3 + 2] as number) / 127.5 - 1;
  }
  return out;
}

/** Planar float in [-1, 1] → interleaved 8-bit RGB (rounded, clamped). */
export function tensorToRgb(t: Float32Array, width: number, height: number, offset = 0): Buffer {
  const plane = width * height;
  const out = Buffer.alloc(3 * plane);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < plane; i++) {
      const v = ((t[offset + c * plane + i] as number) + 1) * 127.5;
      out[i * 3 + c] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
    }
  }
  return out;
}

/**
 * The repaint mask at pixel resolution (1 = repaint, 0 = keep) from a mask image of any layout: the first
 * channel is read, values ≥ 128 repaint (diffusers binarises at 0.5 too).
 */
export async function maskToPixels(mask: RawImage | MaskImage, width: number, height: number): Promise<Uint8Array> {
  let s = sharp(mask.data, { raw: { width: mask.width, height: mask.height, channels: mask.channels }, limitInputPixels: false });
  if (mask.channels !== 1) s = s.extractChannel(0);
  if (mask.width !== width || mask.height !== height) s = s.resize(width, height, { fit: 'fill', kernel: 'nearest' });
  const { data, info } = await s.raw().toBuffer({ resolveWithObject: true });
  const out = new Uint8Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = (data[i * info.channels] as number) >= 128 ? 1 : 0;
  return out;
}

/**
 * The mask at latent resolution: a latent cell is repainted when any pixel of its block is, so every kept
 * latent covers kept pixels only (the kept area decodes from the original's latents).
 */
export function maskToLatent(pixels: Uint8Array, width: number, height: number, factor = 8): Float32Array {
  const lw = Math.floor(width / factor);
  const lh = Math.floor(height / factor);
  const out = new Float32Array(lw * lh);
  for (let y = 0; y < height; y++) {
    const ly = Math.min(lh - 1, Math.floor(y / factor));
    for (let x = 0; x < width; x++) {
      if (pixels[y * width + x]) out[ly * lw + Math.min(lw - 1, Math.floor(x / factor))] = 1;
    }
  }
  return out;
}

/** The init image with the repaint area set to 0 (mid grey), as inpainting UNets were trained to see it. */
export function maskImageTensor(image: Float32Array, pixels: Uint8Array): Float32Array {
  const plane = pixels.length;
  const out = new Float32Array(image.length);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < plane; i++) out[c * plane + i] = pixels[i] ? 0 : (image[c * plane + i] as number);
  }
  return out;
}

/** Resizes RGB pixels to the size a caller asked for when the model worked at an aligned size. */
export async function resizeOutput(rgb: Buffer, width: number, height: number, toWidth: number, toHeight: number): Promise<Buffer> {
  if (width === toWidth && height === toHeight) return rgb;
  return sharp(rgb, { raw: { width, height, channels: 3 } }).resize(toWidth, toHeight, { fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer();
}
