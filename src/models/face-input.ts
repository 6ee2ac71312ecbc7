// The input face-api's networks see, reproduced without TF.js: its NetInput.toBatchTensor pads an image with
// black to a square (at the bottom/right, or centred) and, when the square is not the network's size, resizes
// it with TF's bilinear resize without half-pixel centres (tf.image.resizeBilinear(x, size, false, false)).

/**
 * Planar float RGB (0..255) of size×size from interleaved RGB bytes. `centre` splits the padding as
 * face-api's padToSquare does: round(diff / 2) after the image, the rest before it.
 */
export function squareInput(rgb: Uint8Array, width: number, height: number, size: number, centre: boolean): Float32Array {
  if (rgb.length !== width * height * 3) throw new Error(`expected ${width * height * 3} RGB bytes, got ${rgb.length}`);
  const side = Math.max(width, height);
  const diff = side - Math.min(width, height);
  const before = centre ? diff - Math.round(diff * 0.5) : 0;
  const offX = width < height ? before : 0;
  const offY = height < width ? before : 0;
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  // The padded square's pixel (y, x), channel c.
  const at = (y: number, x: number, c: number): number => {
    const iy = y - offY;
    const ix = x - offX;
    return iy >= 0 && iy < height && ix >= 0 && ix < width ? (rgb[(iy * width + ix) * 3 + c] as number) : 0;
  };
  if (side === size) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < 3; c++) out[c * plane + y * size + x] = at(y, x, c);
      }
    }
    return out;
  }
  const scale = side / size;
  for (let y = 0; y < size; y++) {
    const sy = y * scale;
    const y0 = Math.floor(sy);
    const y1 = Math.min(y0 + 1, side - 1);
    const dy = sy - y0;
    for (let x = 0; x < size; x++) {
      const sx = x * scale;
      const x0 = Math.floor(sx);
      const x1 = Math.min(x0 + 1, side - 1);
      const dx = sx - x0;
      for (let c = 0; c < 3; c++) {
        const top = at(y0, x0, c) + (at(y0, x1, c) - at(y0, x0, c)) * dx;
        const bottom = at(y1, x0, c) + (at(y1, x1, c) - at(y1, x0, c)) * dx;
        out[c * plane + y * size + x] = top + (bottom - top) * dy;
      }
    }
  }
  return out;
}
