// What a JPEG file's quantisation tables say about how hard it was compressed. Encoders built on the IJG code
// (libjpeg, libjpeg-turbo, mozjpeg's default tables, libvips, sharp, Pillow, ImageMagick, most cameras' "quality"
// settings) derive their tables from the two tables of the JPEG standard's Annex K, scaled by the IJG quality
// formula. Fitting that formula back to the stored luminance table gives the quality the file was written with
// (the same idea as ImageMagick's `identify -format %Q`), and a sensible "equivalent quality" for other tables.

/** Annex K.1, luminance, in natural (row-major) order. */
export const IJG_LUMINANCE: readonly number[] = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51,
  87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101,
  72, 92, 95, 98, 112, 100, 103, 99,
];

/** Annex K.2, chrominance, in natural order. */
export const IJG_CHROMINANCE: readonly number[] = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99,
  99, 99, 99, ...new Array<number>(32).fill(99),
];

/** Position in natural order of the k-th coefficient in zig-zag order (DQT stores tables in zig-zag order). */
export const ZIGZAG: readonly number[] = [
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
  28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54,
  47, 55, 62, 63,
];

/** The IJG percentage scale for a quality 1..100 (`jpeg_quality_scaling`). */
export function ijgScale(quality: number): number {
  const q = Math.min(100, Math.max(1, Math.round(quality)));
  return q < 50 ? Math.floor(5000 / q) : 200 - 2 * q;
}

/** A base table scaled for `quality` the way libjpeg does it, limited to baseline's 8-bit entries. */
export function ijgTable(base: readonly number[], quality: number): Float64Array {
  const scale = ijgScale(quality);
  const out = new Float64Array(64);
  for (let i = 0; i < 64; i++) {
    out[i] = Math.min(255, Math.max(1, Math.floor(((base[i] as number) * scale + 50) / 100)));
  }
  return out;
}

export interface JpegQuantisation {
  /** Tables by their id (0..3), 64 entries each in natural order. */
  tables: Map<number, Float64Array>;
  /** The table id used by each frame component, in component order (first = luminance for YCbCr files). */
  componentTables: number[];
}

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const DQT = 0xdb;

/** True for the start-of-frame markers (SOF0..SOF15 minus DHT, JPG and DAC, which share the range). */
function isSof(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/**
 * Reads the quantisation tables and the frame's table selectors from a JPEG's header segments (up to the first
 * scan). Undefined when the buffer is not a JPEG or has no tables; a truncated header yields what was read.
 */
export function readJpegQuantisation(file: Uint8Array): JpegQuantisation | undefined {
  if (file.length < 4 || file[0] !== 0xff || file[1] !== SOI) return undefined;
  const tables = new Map<number, Float64Array>();
  const componentTables: number[] = [];
  let pos = 2;
  while (pos + 4 <= file.length) {
    if (file[pos] !== 0xff) return finish();
    const marker = file[pos + 1] as number;
    // Fill bytes (0xFF padding) before a marker are allowed.
    if (marker === 0xff) {
      pos++;
      continue;
    }
    if (marker === SOS || marker === EOI) break;
    // Markers without a length (RSTn, TEM) carry no payload.
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      pos += 2;
      continue;
    }
    const length = ((file[pos + 2] as number) << 8) | (file[pos + 3] as number);
    if (length < 2) break;
    const start = pos + 4;
    const end = Math.min(file.length, pos + 2 + length);
    if (marker === DQT) readDqt(file, start, end, tables);
    else if (isSof(marker)) readSof(file, start, end, componentTables);
    pos += 2 + length;
  }
  return finish();

  function finish(): JpegQuantisation | undefined {
    return tables.size > 0 ? { tables, componentTables } : undefined;
  }
}

function readDqt(file: Uint8Array, start: number, end: number, tables: Map<number, Float64Array>): void {
  let p = start;
  while (p < end) {
    const pqTq = file[p++] as number;
    const sixteenBit = pqTq >> 4 === 1;
    const id = pqTq & 0x0f;
    const bytes = sixteenBit ? 128 : 64;
    if (p + bytes > end) return;
    const table = new Float64Array(64);
    for (let k = 0; k < 64; k++) {
      const v = sixteenBit ? ((file[p + 2 * k] as number) << 8) | (file[p + 2 * k + 1] as number) : (file[p + k] as number);
      table[ZIGZAG[k] as number] = v;
    }
    tables.set(id, table);
    p += bytes;
  }
}

function readSof(file: Uint8Array, start: number, end: number, componentTables: number[]): void {
  // precision(1) height(2) width(2) count(1), then per component: id(1) sampling(1) table(1).
  if (start + 6 > end) return;
  const count = file[start + 5] as number;
  componentTables.length = 0;
  for (let c = 0; c < count; c++) {
    const p = start + 6 + c * 3;
    if (p + 3 > end) return;
    componentTables.push(file[p + 2] as number);
  }
}

/** The luminance table: the one the first frame component uses, else table 0, else the first one stored. */
export function luminanceTable(q: JpegQuantisation): Float64Array | undefined {
  const id = q.componentTables[0];
  if (id !== undefined && q.tables.has(id)) return q.tables.get(id);
  return q.tables.get(0) ?? q.tables.values().next().value;
}

/**
 * The IJG quality (1..100) whose scaled Annex K luminance table is closest to `table`, measured in log space so
 * that the fine low-frequency steps weigh as much as the coarse high-frequency ones. Exact for tables written by
 * IJG-derived encoders; for other tables, the quality with the same overall coarseness. Ties go to the higher
 * quality (near 100 several qualities produce the same all-ones table).
 */
export function qualityFromLuminanceTable(table: ArrayLike<number>): number {
  let best = 100;
  let bestError = Infinity;
  const logs = new Float64Array(64);
  let max = 0;
  for (let i = 0; i < 64; i++) {
    const v = Math.max(1, table[i] as number);
    logs[i] = Math.log(v);
    if (v > max) max = v;
  }
  // Baseline (8-bit) tables are clamped at 255 by the encoder; 16-bit ones are not.
  const ceiling = max <= 255 ? 255 : 32767;
  for (let q = 100; q >= 1; q--) {
    const scale = ijgScale(q);
    let error = 0;
    for (let i = 0; i < 64; i++) {
      const raw = Math.floor(((IJG_LUMINANCE[i] as number) * scale + 50) / 100);
      const expected = Math.min(ceiling, Math.max(1, raw));
      const d = Math.log(expected) - (logs[i] as number);
      error += d * d;
    }
    if (error < bestError - 1e-12) {
      bestError = error;
      best = q;
    }
  }
  return best;
}

/**
 * Estimates the quality a JPEG file was saved with from its luminance quantisation table. Undefined for anything
 * that is not a JPEG with quantisation tables (PNG, WebP, lossless JPEG without DQT, garbage).
 */
export function estimateJpegQuality(file: Buffer): number | undefined {
  const q = readJpegQuantisation(file);
  if (!q) return undefined;
  const luma = luminanceTable(q);
  return luma ? qualityFromLuminanceTable(luma) : undefined;
}
