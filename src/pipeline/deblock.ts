// JPEG-artifact removal without a neural model, from three published pieces:
//  1. The H.264/AVC in-loop deblocking filter (List, Joch, Lainema, Bjøntegaard, Karczewicz, "Adaptive
//     deblocking filter", IEEE TCSVT 13(7), 2003) run on JPEG's 8×8 grid: it smooths a block edge only where the
//     step across it is small enough to be a quantisation artefact (alpha) and both sides are flat (beta), so
//     real edges survive. Thresholds come from the file's quantisation steps instead of H.264's QP tables.
//  2. A bilateral filter (Tomasi & Manduchi, ICCV 1998) with a range sigma tied to the quantisation step, which
//     removes ringing ("mosquito noise") inside blocks without blurring edges.
//  3. The quantisation-constraint projection of POCS deblocking (Zakhor, "Iterative procedures for reduction of
//     blocking effects in transform image coding", IEEE TCSVT 2(1), 1992; Yang, Galatsanos, Katsaggelos, 1993):
//     every 8×8 luminance block's DCT coefficients are clamped back into the quantisation interval the decoded
//     file proves they came from, so the result stays consistent with the compressed data and cannot drift
//     further from the original than the smoothing step did.
// All loops are O(pixels) over typed arrays.
import { ijgScale } from './jpeg-quality.js';

export interface GridOffset {
  /** Column of the first block boundary (0..7). */
  x: number;
  /** Row of the first block boundary (0..7). */
  y: number;
}

/** Mean absolute difference between horizontal neighbours (x-1, x) for each x mod 8, and likewise for rows. */
export function boundaryProfile(plane: ArrayLike<number>, w: number, h: number): { columns: Float64Array; rows: Float64Array } {
  const colSum = new Float64Array(8);
  const colCount = new Float64Array(8);
  const rowSum = new Float64Array(8);
  const rowCount = new Float64Array(8);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 1; x < w; x++) {
      const d = Math.abs((plane[row + x] as number) - (plane[row + x - 1] as number));
      const k = x & 7;
      colSum[k] = (colSum[k] as number) + d;
      colCount[k] = (colCount[k] as number) + 1;
    }
    if (y > 0) {
      const k = y & 7;
      let s = 0;
      for (let x = 0; x < w; x++) s += Math.abs((plane[row + x] as number) - (plane[row - w + x] as number));
      rowSum[k] = (rowSum[k] as number) + s;
      rowCount[k] = (rowCount[k] as number) + w;
    }
  }
  const columns = new Float64Array(8);
  const rows = new Float64Array(8);
  for (let k = 0; k < 8; k++) {
    columns[k] = (colCount[k] as number) > 0 ? (colSum[k] as number) / (colCount[k] as number) : 0;
    rows[k] = (rowCount[k] as number) > 0 ? (rowSum[k] as number) / (rowCount[k] as number) : 0;
  }
  return { columns, rows };
}

/**
 * Blockiness: the mean absolute step across the 8×8 grid's boundaries divided by the mean step between
 * neighbours inside blocks. About 1 for natural images, well above 1 for blocky JPEGs.
 */
export function blockiness(plane: ArrayLike<number>, w: number, h: number, grid: GridOffset = { x: 0, y: 0 }): number {
  const { columns, rows } = boundaryProfile(plane, w, h);
  const at = (p: Float64Array, k: number) => p[k] as number;
  let inside = 0;
  for (let k = 0; k < 8; k++) {
    if (k !== grid.x) inside += at(columns, k);
    if (k !== grid.y) inside += at(rows, k);
  }
  inside /= 14;
  const boundary = (at(columns, grid.x) + at(rows, grid.y)) / 2;
  return inside > 0 ? boundary / inside : 1;
}

/**
 * Where the 8×8 grid lies: the column and row phase with the largest mean step. A decoded JPEG has it at (0, 0)
 * unless the image was cropped or rotated after decoding; a phase that does not stand out falls back to 0.
 */
export function detectGrid(plane: ArrayLike<number>, w: number, h: number): GridOffset {
  const { columns, rows } = boundaryProfile(plane, w, h);
  return { x: dominantPhase(columns), y: dominantPhase(rows) };
}

function dominantPhase(p: Float64Array): number {
  let best = 0;
  let sum = 0;
  for (let k = 0; k < 8; k++) {
    sum += p[k] as number;
    if ((p[k] as number) > (p[best] as number)) best = k;
  }
  const others = (sum - (p[best] as number)) / 7;
  return (p[best] as number) > others * 1.05 ? best : 0;
}

export interface EdgeFilterParams {
  /** Largest step across the edge that is treated as an artefact. */
  alpha: number;
  /** Largest step between neighbours on either side for that side to count as flat. */
  beta: number;
  /** Clip of the normal filter's correction (H.264's tc0); unused by the strong filter. */
  tc: number;
  /** H.264's bS = 4 (intra) filter: smooths up to three samples each side instead of a clipped correction. */
  strong: boolean;
}

/**
 * The H.264 deblocking filter on every vertical then every horizontal 8-pixel grid line of `plane`, in place.
 * Edges closer than 4 pixels to the image border are left alone (the filter reads 4 samples each side).
 */
export function deblockPlane(plane: Float32Array, w: number, h: number, grid: GridOffset, f: EdgeFilterParams): void {
  for (let x = grid.x; x < w; x += 8) {
    if (x < 4 || x + 4 > w) continue;
    for (let y = 0; y < h; y++) filterEdge(plane, y * w + x, 1, f);
  }
  for (let y = grid.y; y < h; y += 8) {
    if (y < 4 || y + 4 > h) continue;
    const row = y * w;
    for (let x = 0; x < w; x++) filterEdge(plane, row + x, w, f);
  }
}

/** One line of samples p3 p2 p1 p0 | q0 q1 q2 q3 across an edge; `i` indexes q0, `s` steps across the edge. */
function filterEdge(v: Float32Array, i: number, s: number, f: EdgeFilterParams): void {
  const p0 = v[i - s] as number;
  const q0 = v[i] as number;
  const p1 = v[i - 2 * s] as number;
  const q1 = v[i + s] as number;
  const d = Math.abs(p0 - q0);
  if (d >= f.alpha || Math.abs(p1 - p0) >= f.beta || Math.abs(q1 - q0) >= f.beta) return;
  const p2 = v[i - 3 * s] as number;
  const q2 = v[i + 2 * s] as number;
  const ap = Math.abs(p2 - p0);
  const aq = Math.abs(q2 - q0);
  if (f.strong) {
    const smooth = d < f.alpha / 4 + 2;
    if (ap < f.beta && smooth) {
      const p3 = v[i - 4 * s] as number;
      v[i - s] = (p2 + 2 * p1 + 2 * p0 + 2 * q0 + q1) / 8;
      v[i - 2 * s] = (p2 + p1 + p0 + q0) / 4;
      v[i - 3 * s] = (2 * p3 + 3 * p2 + p1 + p0 + q0) / 8;
    } else {
      v[i - s] = (2 * p1 + p0 + q1) / 4;
    }
    if (aq < f.beta && smooth) {
      const q3 = v[i + 3 * s] as number;
      v[i] = (p1 + 2 * p0 + 2 * q0 + 2 * q1 + q2) / 8;
      v[i + s] = (p0 + q0 + q1 + q2) / 4;
      v[i + 2 * s] = (2 * q3 + 3 * q2 + q1 + q0 + p0) / 8;
    } else {
      v[i] = (2 * q1 + q0 + p1) / 4;
    }
    return;
  }
  const tc = f.tc + (ap < f.beta ? 1 : 0) + (aq < f.beta ? 1 : 0);
  const delta = clip(((q0 - p0) * 4 + (p1 - q1)) / 8, tc);
  v[i - s] = p0 + delta;
  v[i] = q0 - delta;
  const mid = (p0 + q0) / 2;
  if (ap < f.beta) v[i - 2 * s] = p1 + clip((p2 + mid - 2 * p1) / 2, f.tc);
  if (aq < f.beta) v[i + s] = q1 + clip((q2 + mid - 2 * q1) / 2, f.tc);
}

function clip(v: number, limit: number): number {
  return v < -limit ? -limit : v > limit ? limit : v;
}

/**
 * Bilateral filter with a (2r+1)² window, Gaussian spatial weight `sigmaS` and Gaussian range weight `sigmaR`
 * (looked up in a table at quarter-level resolution). Borders replicate the edge pixels: the image is padded
 * once so the inner loop needs no bounds checks.
 */
export function bilateralPlane(src: Float32Array, w: number, h: number, r: number, sigmaS: number, sigmaR: number): Float32Array {
  const pw = w + 2 * r;
  const padded = new Float32Array(pw * (h + 2 * r));
  for (let y = 0; y < h + 2 * r; y++) {
    const sy = Math.min(h - 1, Math.max(0, y - r)) * w;
    const row = y * pw;
    for (let x = 0; x < pw; x++) padded[row + x] = src[sy + Math.min(w - 1, Math.max(0, x - r))] as number;
  }
  const taps = (2 * r + 1) * (2 * r + 1);
  const offsets = new Int32Array(taps);
  const spatial = new Float64Array(taps);
  for (let dy = -r, t = 0; dy <= r; dy++) {
    for (let dx = -r; dx <= r; dx++, t++) {
      offsets[t] = dy * pw + dx;
      spatial[t] = Math.exp(-(dx * dx + dy * dy) / (2 * sigmaS * sigmaS));
    }
  }
  const maxStep = 4095;
  const range = new Float64Array(maxStep + 1);
  for (let k = 0; k <= maxStep; k++) range[k] = Math.exp(-((k / 4) ** 2) / (2 * sigmaR * sigmaR));
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    let centre = (y + r) * pw + r;
    let o = y * w;
    for (let x = 0; x < w; x++, centre++, o++) {
      const c = padded[centre] as number;
      let sum = 0;
      let weight = 0;
      for (let t = 0; t < taps; t++) {
        const v = padded[centre + (offsets[t] as number)] as number;
        const d = v > c ? v - c : c - v;
        let k = (d * 4 + 0.5) | 0;
        if (k > maxStep) k = maxStep;
        const wt = (spatial[t] as number) * (range[k] as number);
        sum += wt * v;
        weight += wt;
      }
      out[o] = sum / weight;
    }
  }
  return out;
}

// Orthonormal 8-point DCT-II basis: BASIS[u * 8 + x] = a(u) cos((2x + 1) u π / 16).
const BASIS = (() => {
  const m = new Float64Array(64);
  for (let u = 0; u < 8; u++) {
    const a = u === 0 ? Math.sqrt(1 / 8) : Math.sqrt(2 / 8);
    for (let x = 0; x < 8; x++) m[u * 8 + x] = a * Math.cos(((2 * x + 1) * u * Math.PI) / 16);
  }
  return m;
})();

/** 2-D DCT of the 8×8 block at (bx, by) of `plane`, level-shifted by -128 as JPEG does, into `out`. */
export function forwardDct(plane: ArrayLike<number>, w: number, bx: number, by: number, out: Float64Array, tmp: Float64Array): void {
  // Rows: tmp[y][u] = Σx B[u][x] f[y][x].
  for (let y = 0; y < 8; y++) {
    const row = (by + y) * w + bx;
    for (let u = 0; u < 8; u++) {
      let s = 0;
      for (let x = 0; x < 8; x++) s += (BASIS[u * 8 + x] as number) * ((plane[row + x] as number) - 128);
      tmp[y * 8 + u] = s;
    }
  }
  // Columns: out[v][u] = Σy B[v][y] tmp[y][u].
  for (let v = 0; v < 8; v++) {
    for (let u = 0; u < 8; u++) {
      let s = 0;
      for (let y = 0; y < 8; y++) s += (BASIS[v * 8 + y] as number) * (tmp[y * 8 + u] as number);
      out[v * 8 + u] = s;
    }
  }
}

/** Inverse of `forwardDct`, writing the block (with the +128 level shift undone) back into `plane`. */
export function inverseDct(coef: Float64Array, plane: Float32Array, w: number, bx: number, by: number, tmp: Float64Array): void {
  for (let y = 0; y < 8; y++) {
    for (let u = 0; u < 8; u++) {
      let s = 0;
      for (let v = 0; v < 8; v++) s += (BASIS[v * 8 + y] as number) * (coef[v * 8 + u] as number);
      tmp[y * 8 + u] = s;
    }
  }
  for (let y = 0; y < 8; y++) {
    const row = (by + y) * w + bx;
    for (let x = 0; x < 8; x++) {
      let s = 0;
      for (let u = 0; u < 8; u++) s += (BASIS[u * 8 + x] as number) * (tmp[y * 8 + u] as number);
      plane[row + x] = s + 128;
    }
  }
}

/** `table` (natural order, index v*8+u) with rows and columns swapped: what a 90°-rotated JPEG's blocks carry. */
export function transposeTable(table: ArrayLike<number>): Float64Array {
  const t = new Float64Array(64);
  for (let v = 0; v < 8; v++) for (let u = 0; u < 8; u++) t[u * 8 + v] = table[v * 8 + u] as number;
  return t;
}

/**
 * How well the decoded plane's block DCT coefficients sit on the quantisation lattice of `table`: the mean
 * distance, in steps, of each clearly non-zero AC coefficient from the nearest multiple of its step. About 0.25 for
 * an image that was never quantised on this grid with these steps, near 0 for a decoded JPEG. NaN when too few
 * coefficients are informative (flat or tiny image). Samples at most ~4000 blocks.
 */
export function latticeFit(plane: ArrayLike<number>, w: number, h: number, grid: GridOffset, table: ArrayLike<number>): number {
  return latticeFitOfSamples(sampleBlockCoefficients(plane, w, h, grid, 4000), table);
}

/**
 * Clamps every full 8×8 block of `smoothed` so that its DCT coefficients lie within half a quantisation step of
 * the decoded image's quantised coefficients (the POCS quantisation-constraint projection), in place.
 */
export function projectOnQuantisation(
  smoothed: Float32Array,
  decoded: ArrayLike<number>,
  w: number,
  h: number,
  grid: GridOffset,
  table: ArrayLike<number>,
): void {
  const dec = new Float64Array(64);
  const cur = new Float64Array(64);
  const tmp = new Float64Array(64);
  for (let by = grid.y; by + 8 <= h; by += 8) {
    for (let bx = grid.x; bx + 8 <= w; bx += 8) {
      forwardDct(decoded, w, bx, by, dec, tmp);
      forwardDct(smoothed, w, bx, by, cur, tmp);
      let changed = false;
      for (let k = 0; k < 64; k++) {
        const q = table[k] as number;
        const centre = Math.round((dec[k] as number) / q) * q;
        const lo = centre - q / 2;
        const hi = centre + q / 2;
        const c = cur[k] as number;
        if (c < lo) {
          cur[k] = lo;
          changed = true;
        } else if (c > hi) {
          cur[k] = hi;
          changed = true;
        }
      }
      if (changed) inverseDct(cur, smoothed, w, bx, by, tmp);
    }
  }
}

/** Mean of the DC and the two lowest AC steps: the scale of the blocking steps and ringing a table causes. */
export function lowFrequencyStep(table: ArrayLike<number>): number {
  return ((table[0] as number) + (table[1] as number) + (table[8] as number)) / 3;
}

/** IJG quality → its luminance step scale, used when only a quality number is known. */
export function qualityScale(quality: number): number {
  return ijgScale(quality) / 100;
}

/** DCT coefficients of up to `maxBlocks` blocks spread over the image, 64 per block, for repeated lattice tests. */
export function sampleBlockCoefficients(plane: ArrayLike<number>, w: number, h: number, grid: GridOffset, maxBlocks: number): Float64Array {
  const blocksX = Math.floor((w - grid.x) / 8);
  const blocksY = Math.floor((h - grid.y) / 8);
  const total = Math.max(0, blocksX * blocksY);
  const stride = Math.max(1, Math.ceil(total / maxBlocks));
  const count = Math.ceil(total / stride);
  const out = new Float64Array(count * 64);
  const coef = new Float64Array(64);
  const tmp = new Float64Array(64);
  for (let i = 0, b = 0; b < total; b += stride, i++) {
    forwardDct(plane, w, grid.x + (b % blocksX) * 8, grid.y + Math.floor(b / blocksX) * 8, coef, tmp);
    out.set(coef, i * 64);
  }
  return out;
}

/** `latticeFit` over coefficients already sampled by `sampleBlockCoefficients`. */
export function latticeFitOfSamples(samples: Float64Array, table: ArrayLike<number>): number {
  let sum = 0;
  let count = 0;
  for (let base = 0; base < samples.length; base += 64) {
    // AC only: a flat block of whole grey levels has a DC of 8 × (level − 128), a multiple of every step that
    // divides 8, so synthetic flat-colour images would look like JPEGs if the DC counted.
    for (let k = 1; k < 64; k++) {
      const q = table[k] as number;
      if (q < 4) continue;
      const t = (samples[base + k] as number) / q;
      if (Math.abs(t) < 0.5) continue;
      sum += Math.abs(t - Math.round(t));
      count++;
    }
  }
  return count >= 200 ? sum / count : NaN;
}
