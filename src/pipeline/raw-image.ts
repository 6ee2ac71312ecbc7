// Raw pixels as the pipeline's steps exchange them when a step has to touch pixels itself (adjustments,
// BMP decoding). Always 8-bit sRGB, interleaved, straight (non-premultiplied) alpha when there are 4 channels.
import sharp, { type Sharp } from 'sharp';

export interface RawImage {
  data: Buffer;
  width: number;
  height: number;
  channels: 3 | 4;
}

/**
 * Materialises a sharp pipeline as 8-bit sRGB pixels. Inputs with 1 or 2 channels (grey, grey+alpha) are
 * expanded to RGB / RGBA so every step downstream handles only the two layouts.
 */
export async function toRawImage(image: Sharp): Promise<RawImage> {
  const { data, info } = await image.toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (info.channels === 3 || info.channels === 4) {
    return { data, width: info.width, height: info.height, channels: info.channels };
  }
  // Grey (1) or grey+alpha (2) survived the colourspace conversion: expand by hand.
  const hasAlpha = info.channels === 2;
  const outChannels = hasAlpha ? 4 : 3;
  const pixels = info.width * info.height;
  const out = Buffer.allocUnsafe(pixels * outChannels);
  for (let i = 0; i < pixels; i++) {
    const g = data[i * info.channels] as number;
    const o = i * outChannels;
    out[o] = g;
    out[o + 1] = g;
    out[o + 2] = g;
    if (hasAlpha) out[o + 3] = data[i * 2 + 1] as number;
  }
  return { data: out, width: info.width, height: info.height, channels: outChannels };
}

/** Wraps raw pixels into a sharp instance for further processing or encoding. */
export function fromRawImage(img: RawImage): Sharp {
  return sharp(img.data, {
    raw: { width: img.width, height: img.height, channels: img.channels },
    limitInputPixels: false,
  });
}

export function rawHasAlpha(img: RawImage): boolean {
  return img.channels === 4;
}
