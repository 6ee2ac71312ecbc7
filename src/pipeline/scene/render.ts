// Putting a scene together from its layers: background (colour, transparency or template), shadow, object.
// The object always goes on last and from its own pixels, whatever made the background.
import type { Rgba } from '../background.js';
import type { Size } from '../geometry.js';
import type { RawImage } from '../raw-image.js';
import { alphaPlane, applyShadow, compositeOver, layerFromRaw, resizeLayer, solidLayer, type Layer, type ObjectLayer } from './layers.js';
import { renderShadow, type ShadowStyle } from './shadow.js';

export function copyLayer(layer: Layer): Layer {
  return { data: Buffer.from(layer.data), width: layer.width, height: layer.height };
}

/** A plain background: the colour, or fully transparent black. */
export function backgroundLayer(size: Size, colour: Rgba | 'transparent'): Layer {
  return solidLayer(size, colour === 'transparent' ? { r: 0, g: 0, b: 0, alpha: 0 } : colour);
}

/** The object's shadow mask for one style; an all-zero mask when no part of the object is in the scene. */
export async function objectShadow(object: ObjectLayer, style: ShadowStyle): Promise<Uint8Array> {
  const size = { width: object.width, height: object.height };
  if (!object.bounds) return new Uint8Array(size.width * size.height);
  return renderShadow(alphaPlane(object), size, object.bounds, style);
}

/** Background, then the shadow laid over it, then the object on top. `background` is not modified. */
export function composeScene(background: Layer, shadow: Uint8Array | null, object: ObjectLayer): Layer {
  const out = copyLayer(background);
  if (shadow) applyShadow(out, shadow);
  compositeOver(out, object);
  return out;
}

/**
 * A generated background (at the engine's working size) brought to the scene's size, with the object put
 * back over it from its own pixels: whatever the model painted where the object is, the object's opaque
 * pixels come out exactly as placed.
 */
export async function recompose(generated: RawImage, size: Size, object: ObjectLayer): Promise<Layer> {
  // layerFromRaw copies, so the result is ours to draw on.
  const out = await resizeLayer(layerFromRaw(generated), size);
  compositeOver(out, object);
  return out;
}

/** Whether every pixel is opaque (then the alpha channel can be dropped before encoding). */
export function isOpaqueLayer(layer: Layer): boolean {
  for (let i = 3; i < layer.data.length; i += 4) if (layer.data[i] !== 255) return false;
  return true;
}

/** The layer as the encoder's input: RGB when fully opaque, RGBA otherwise. */
export function layerForEncoding(layer: Layer): RawImage {
  if (!isOpaqueLayer(layer)) return { data: layer.data, width: layer.width, height: layer.height, channels: 4 };
  const n = layer.width * layer.height;
  const data = Buffer.allocUnsafe(n * 3);
  for (let p = 0; p < n; p++) {
    data[p * 3] = layer.data[p * 4] as number;
    data[p * 3 + 1] = layer.data[p * 4 + 1] as number;
    data[p * 3 + 2] = layer.data[p * 4 + 2] as number;
  }
  return { data, width: layer.width, height: layer.height, channels: 3 };
}
