// Benchmark inputs: photo-like JPEGs of a given size, made from the real photographs in
// test/fixtures/debian. Tiling and upscaling them alone would give soft, over-compressible images; a layer of
// fine colour grain (like a camera sensor's) brings the JPEG sizes up to those of real camera files.
// Generated once per machine into bench/.cache (gitignored) and reused.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp, { type OverlayOptions } from 'sharp';

export interface InputSpec {
  /** Label used in tables and file names, e.g. `12 MP`. */
  label: string;
  width: number;
  height: number;
}

export interface BenchInput extends InputSpec {
  path: string;
  bytes: number;
}

/** Bump when the generator changes, so stale cached images are not reused. */
const GENERATOR_VERSION = 1;
const JPEG_QUALITY = 90;
const GRAIN_SIGMA = 8;

/** A 4:3 size of about `megapixels` million pixels (12 MP gives 4000×3000, like a phone camera). */
export function sizeFor(megapixels: number): { width: number; height: number } {
  const width = Math.round(Math.sqrt((megapixels * 1e6 * 4) / 3));
  return { width, height: Math.round((megapixels * 1e6) / width) };
}

export function inputSpec(megapixels: number): InputSpec {
  return { label: `${megapixels} MP`, ...sizeFor(megapixels) };
}

/** Columns and rows of the mosaic: tiles of about a quarter of the short side, at least 2×2. */
export function mosaicGrid(width: number, height: number): { cols: number; rows: number } {
  const tile = Math.max(256, Math.round(Math.min(width, height) / 4));
  return { cols: Math.max(2, Math.round(width / tile)), rows: Math.max(2, Math.round(height / tile)) };
}

function fixturePhotos(dir: string): string[] {
  const files = readdirSync(dir)
    .filter((f) => /\.jpe?g$/i.test(f))
    .sort()
    .map((f) => join(dir, f))
    // Thumbnails make blotchy tiles once upscaled; the fixtures that matter are 500+ px.
    .filter((f) => statSync(f).size > 20_000);
  if (files.length === 0) {
    throw new Error(`no photos in ${dir}: run \`bash scripts/fetch-test-photos.sh\` first (npm test does it)`);
  }
  return files;
}

/** Encodes a photo-like mosaic of `spec`'s size as a quality-90 JPEG. */
export async function makePhotoJpeg(spec: InputSpec, photosDir: string): Promise<Buffer> {
  const photos = fixturePhotos(photosDir);
  const { cols, rows } = mosaicGrid(spec.width, spec.height);
  const layers: OverlayOptions[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const left = Math.floor((c * spec.width) / cols);
      const top = Math.floor((r * spec.height) / rows);
      const w = Math.floor(((c + 1) * spec.width) / cols) - left;
      const h = Math.floor(((r + 1) * spec.height) / rows) - top;
      const index = r * cols + c;
      // Mirroring every other tile keeps neighbours of the same photo from lining up into flat repeats.
      let tile = sharp(photos[index % photos.length]!).resize({ width: w, height: h, fit: 'cover' });
      if (index % 2 === 1) tile = tile.flop();
      // Some fixtures (building.jpg) are greyscale: bring every tile to 3-channel sRGB.
      const { data, info } = await tile.toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
      layers.push({ input: data, raw: { width: info.width, height: info.height, channels: info.channels }, left, top });
    }
  }
  const grain = await sharp({
    create: {
      width: spec.width,
      height: spec.height,
      channels: 3,
      background: { r: 128, g: 128, b: 128 },
      noise: { type: 'gaussian', mean: 128, sigma: GRAIN_SIGMA },
    },
  })
    .raw()
    .toBuffer();
  // Overlay with mid-grey-centred noise perturbs each pixel around its own value: grain, not a colour cast.
  layers.push({ input: grain, raw: { width: spec.width, height: spec.height, channels: 3 }, blend: 'overlay' });
  return sharp({ create: { width: spec.width, height: spec.height, channels: 3, background: { r: 0, g: 0, b: 0 } } })
    .composite(layers)
    // Compositing adds an alpha band; a camera JPEG has none.
    .removeAlpha()
    .jpeg({ quality: JPEG_QUALITY })
    .toBuffer();
}

/** Returns the cached input for `spec`, generating it first when missing. */
export async function ensureInput(spec: InputSpec, cacheDir: string, photosDir: string, log: (s: string) => void): Promise<BenchInput> {
  mkdirSync(cacheDir, { recursive: true });
  const name = `photo-${spec.width}x${spec.height}-q${JPEG_QUALITY}-v${GENERATOR_VERSION}.jpg`;
  const path = join(cacheDir, name);
  if (!existsSync(path)) {
    const t = performance.now();
    log(`generating ${spec.label} input (${spec.width}x${spec.height}) ...`);
    const jpeg = await makePhotoJpeg(spec, photosDir);
    const partial = `${path}.${process.pid}.part`;
    writeFileSync(partial, jpeg);
    renameSync(partial, path);
    log(`  ${(jpeg.length / 2 ** 20).toFixed(1)} MiB in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  return { ...spec, path, bytes: statSync(path).size };
}

export function readInput(input: BenchInput): Buffer {
  return readFileSync(input.path);
}
