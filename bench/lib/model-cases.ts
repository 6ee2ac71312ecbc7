// The cases of `bench/model-operations.ts`: each model-based operation as the edit request a client sends, the
// photo it runs on, and what its "bare model call" is. Pure data and arithmetic, shared by the parent (which
// makes the inputs and prints the report) and the child process that measures one case.
import type { ImageOperations, ImageOutputOptions } from '../../src/contract/types.js';
import { sizeFor } from './inputs.js';

export interface Size {
  width: number;
  height: number;
}

/** What the case's figures are divided by: the network(s) the operation runs, on inputs already prepared. */
export type BareKind =
  /** ISNet's onnxruntime session on the prepared [1,3,S,S] tensor. */
  | 'isnet'
  /** CenterNet on the [1,512,512,3] tensor, then PP-OCR det on each vehicle region's tensor. */
  | 'plates'
  /** Face SSD + 68-point landmarks (detectFaces) on the image already at the detector's 512 px input. */
  | 'faces'
  /** Face SSD alone (detectFaceBoxes) on the image already at the detector's 512 px input. */
  | 'face-boxes'
  /** ESRGAN (esrganUpscale) on one tile of the op's tile size, times the op's tile count. */
  | 'esrgan'
  /** A classical method: no network to compare with. */
  | 'none';

/** Which fixture the case's input is made from (see model-inputs.ts). */
export type SubjectPhoto = 'messi5' | 'car-plate' | 'fruits';

export interface ModelCase {
  /** Name on the command line (`--only`) and in the JSON. */
  name: string;
  /** What the table shows. */
  label: string;
  photo: SubjectPhoto;
  /** JPEG quality of the input file (90 unless the operation is about compression). */
  quality: number;
  /** `pipeline`: runEdit with `request`; `face-boxes`: detectFaceBoxes on the decoded image (the target's unit). */
  run: 'pipeline' | 'face-boxes';
  /** The request for an input of `size` (pipeline cases). */
  request?: (size: Size) => { operations: ImageOperations; output: ImageOutputOptions };
  bare: BareKind;
  /** Runs at sizes above 1 MP only with --with-large-upscale (minutes per run on 2 cores). */
  large?: boolean;
  /** Only at these megapixel sizes (absent: every size asked for). */
  onlySizes?: readonly number[];
}

export const UPSCALE_TYPE = 'smart_enhance';
export const DECOMPRESS_MODE = 'strong';

const jpeg: ImageOutputOptions = { format: 'jpeg' };

export const MODEL_CASES: readonly ModelCase[] = [
  {
    name: 'remove-jpeg',
    label: 'background.remove → jpeg',
    photo: 'messi5',
    quality: 90,
    run: 'pipeline',
    request: () => ({ operations: { background: { remove: true } }, output: jpeg }),
    bare: 'isnet',
  },
  {
    name: 'remove-png',
    label: 'background.remove → png',
    photo: 'messi5',
    quality: 90,
    run: 'pipeline',
    request: () => ({ operations: { background: { remove: true } }, output: { format: 'png' } }),
    bare: 'isnet',
  },
  {
    name: 'blur-regular',
    label: 'background.blur regular',
    photo: 'messi5',
    quality: 90,
    run: 'pipeline',
    request: () => ({ operations: { background: { blur: { type: 'regular', level: 'medium' } } }, output: jpeg }),
    bare: 'isnet',
  },
  {
    name: 'blur-lens',
    label: 'background.blur lens',
    photo: 'messi5',
    quality: 90,
    run: 'pipeline',
    request: () => ({ operations: { background: { blur: { type: 'lens', level: 'medium' } } }, output: jpeg }),
    bare: 'isnet',
  },
  {
    name: 'car-plate',
    label: 'privacy.blur_car_plate',
    photo: 'car-plate',
    quality: 90,
    run: 'pipeline',
    request: () => ({ operations: { privacy: { blur_car_plate: true } }, output: jpeg }),
    bare: 'plates',
  },
  {
    name: 'identity-crop',
    label: 'privacy.identity_crop',
    photo: 'messi5',
    quality: 90,
    run: 'pipeline',
    request: () => ({ operations: { privacy: { identity_crop: true } }, output: jpeg }),
    bare: 'faces',
  },
  {
    name: 'smart-crop',
    label: 'resizing crop smart (16:9)',
    photo: 'messi5',
    quality: 90,
    run: 'pipeline',
    // A 16:9 window of the whole width: the crop has a choice to make on every input size, square ones included.
    request: (s) => ({
      operations: { resizing: { width: s.width, height: Math.round((s.width * 9) / 16), fit: { type: 'crop', crop: 'smart' } } },
      output: jpeg,
    }),
    bare: 'face-boxes',
  },
  {
    name: 'outpaint',
    label: 'resizing fit outpaint (+25% wide)',
    photo: 'fruits',
    quality: 90,
    run: 'pipeline',
    request: (s) => ({ operations: { resizing: { width: Math.round(s.width * 1.25), height: s.height, fit: 'outpaint' } }, output: jpeg }),
    bare: 'none',
  },
  {
    name: 'upscale',
    label: `restorations.upscale ${UPSCALE_TYPE} (2×)`,
    photo: 'fruits',
    quality: 90,
    run: 'pipeline',
    request: (s) => ({
      operations: { restorations: { upscale: UPSCALE_TYPE }, resizing: { width: 2 * s.width, height: 2 * s.height } },
      output: jpeg,
    }),
    bare: 'esrgan',
    large: true,
  },
  {
    name: 'decompress',
    label: `restorations.decompress ${DECOMPRESS_MODE} (q30 input)`,
    photo: 'fruits',
    quality: 30,
    run: 'pipeline',
    request: () => ({ operations: { restorations: { decompress: DECOMPRESS_MODE } }, output: jpeg }),
    bare: 'none',
  },
  {
    name: 'polish',
    label: 'restorations.polish',
    photo: 'fruits',
    quality: 90,
    run: 'pipeline',
    request: () => ({ operations: { restorations: { polish: true } }, output: jpeg }),
    bare: 'none',
  },
  {
    name: 'face-detect',
    label: 'face detection (detectFaceBoxes)',
    photo: 'messi5',
    quality: 90,
    run: 'face-boxes',
    bare: 'face-boxes',
    onlySizes: [1],
  },
];

export function findCase(name: string): ModelCase {
  const c = MODEL_CASES.find((m) => m.name === name);
  if (!c) throw new Error(`unknown case '${name}'; known: ${MODEL_CASES.map((m) => m.name).join(', ')}`);
  return c;
}

/**
 * The input size for a megapixel label: 1 MP is 1024×1024 (the targets are stated for a 1024² image,
 * and ISNet's own input is 1024²), others the 4:3 size of bench/lib/inputs.ts (12 MP: 4000×3000).
 */
export function modelInputSize(megapixels: number): Size {
  return megapixels === 1 ? { width: 1024, height: 1024 } : sizeFor(megapixels);
}

export interface CasePlanEntry {
  megapixels: number;
  case: ModelCase;
  /** Why it does not run (opt-in), when it does not. */
  skipped?: string;
}

/** Every (size, case) pair to report, in the order they run: sizes ascending, cases in MODEL_CASES order. */
export function planCases(opts: { sizes: readonly number[]; only?: readonly string[]; largeUpscale: boolean }): CasePlanEntry[] {
  const chosen = opts.only && opts.only.length > 0 ? opts.only.map(findCase) : MODEL_CASES;
  const out: CasePlanEntry[] = [];
  for (const mp of [...opts.sizes].sort((a, b) => a - b)) {
    for (const c of chosen) {
      if (c.onlySizes && !c.onlySizes.includes(mp)) continue;
      const skipped = c.large && mp > 1 && !opts.largeUpscale ? 'opt-in: --with-large-upscale' : undefined;
      out.push({ megapixels: mp, case: c, ...(skipped ? { skipped } : {}) });
    }
  }
  return out;
}

/** Sizes at or above this are the memory check: one measured run, no warm-up. */
export const MEMORY_CHECK_MP = 24;
