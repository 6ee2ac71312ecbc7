// Inputs of the model-operations bench: one real photograph from test/fixtures/debian per case, cover-resized to
// the bench size with the same camera-like grain as bench/lib/inputs.ts, as a JPEG. A single photo rather than
// inputs.ts's mosaic because the operations need a subject: identity_crop answers 422 without a face, the plate
// blur only works when there is a vehicle with a plate, background removal needs a foreground. Cached in
// bench/.cache (gitignored).
import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { carWithPlate, photoPath } from '../../test/models/vision-fixtures.js';
import { fromRawImage } from '../../src/pipeline/raw-image.js';
import type { Size, SubjectPhoto } from './model-cases.js';

/** Bump when the generator changes, so stale cached images are not reused. */
const GENERATOR_VERSION = 1;
const GRAIN_SIGMA = 8;

export interface ModelInput extends Size {
  path: string;
  bytes: number;
}

async function source(photo: SubjectPhoto): Promise<Sharp> {
  // The car photo gets the tests' rendered, readable plate (its own is motion-blurred beyond detection).
  if (photo === 'car-plate') return fromRawImage(await carWithPlate());
  return sharp(photoPath(`${photo}.jpg`));
}

/** `photo` cover-resized to `size` (Lanczos-3), with fine colour grain, as a JPEG of `quality`. */
export async function makeSubjectJpeg(photo: SubjectPhoto, size: Size, quality: number): Promise<Buffer> {
  const base = await (await source(photo))
    .toColourspace('srgb')
    .removeAlpha()
    .resize(size.width, size.height, { fit: 'cover', kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  const grain = await sharp({
    create: { width: size.width, height: size.height, channels: 3, background: { r: 128, g: 128, b: 128 }, noise: { type: 'gaussian', mean: 128, sigma: GRAIN_SIGMA } },
  })
    .raw()
    .toBuffer();
  // Overlay with mid-grey-centred noise perturbs each pixel around its own value (as in inputs.ts).
  return sharp(base, { raw: { width: size.width, height: size.height, channels: 3 } })
    .composite([{ input: grain, raw: { width: size.width, height: size.height, channels: 3 }, blend: 'overlay' }])
    .removeAlpha()
    .jpeg({ quality })
    .toBuffer();
}

/** The cached input, generated first when missing. */
export async function ensureSubjectInput(
  photo: SubjectPhoto,
  size: Size,
  quality: number,
  cacheDir: string,
  log: (s: string) => void,
): Promise<ModelInput> {
  mkdirSync(cacheDir, { recursive: true });
  const path = join(cacheDir, `subject-${photo}-${size.width}x${size.height}-q${quality}-v${GENERATOR_VERSION}.jpg`);
  if (!existsSync(path)) {
    const t = performance.now();
    const jpeg = await makeSubjectJpeg(photo, size, quality);
    const partial = `${path}.${process.pid}.part`;
    writeFileSync(partial, jpeg);
    renameSync(partial, path);
    log(`  made ${photo} ${size.width}x${size.height} q${quality}: ${(jpeg.length / 2 ** 20).toFixed(1)} MiB in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  return { ...size, path, bytes: statSync(path).size };
}
