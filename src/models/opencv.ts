// OpenCV compiled to WebAssembly (@techstark/opencv-js, OpenCV 4.5, Apache-2.0), loaded once on first use.
// Used for the classical image algorithms that have no model here (inpainting for outpaint).
//
// The emscripten build installs process-wide 'uncaughtException' and 'unhandledRejection' listeners when it
// loads (the latter aborts the wasm runtime); a server must not inherit those, so the listeners it adds are
// removed again, and so is the `Module` global its loader leaves behind.
import { createRequire } from 'node:module';
import { UnavailableError } from '../errors.js';
import { packageRoot } from './registry.js';

const require = createRequire(import.meta.url);

export const OPENCV_PACKAGE = '@techstark/opencv-js';
const OPENCV_INSTALL = 'npm install @techstark/opencv-js@4.5.2';

/** The few OpenCV.js bindings used here. */
export interface CvMat {
  data: Uint8Array;
  rows: number;
  cols: number;
  delete(): void;
}
export interface OpenCv {
  Mat: new (rows: number, cols: number, type: number) => CvMat;
  CV_8UC1: number;
  CV_8UC3: number;
  INPAINT_TELEA: number;
  INPAINT_NS: number;
  inpaint(src: CvMat, mask: CvMat, dst: CvMat, radius: number, flags: number): void;
}

let loading: Promise<OpenCv> | undefined;

async function load(): Promise<OpenCv> {
  const root = packageRoot(OPENCV_PACKAGE);
  if (!root) {
    throw new UnavailableError(
      'model_not_installed',
      `OpenCV (package ${OPENCV_PACKAGE}) is not installed. Install it with: ${OPENCV_INSTALL}`,
      { package: OPENCV_PACKAGE, install: OPENCV_INSTALL },
    );
  }
  const uncaught = new Set(process.listeners('uncaughtException'));
  const rejection = new Set(process.listeners('unhandledRejection'));
  const hadModule = Object.prototype.hasOwnProperty.call(globalThis, 'Module');
  let cv: OpenCv & { onRuntimeInitialized?: () => void };
  try {
    cv = require(`${root}/dist/opencv.js`) as OpenCv & { onRuntimeInitialized?: () => void };
  } finally {
    // The listeners are added while the script runs, synchronously: remove exactly those.
    for (const l of process.listeners('uncaughtException')) if (!uncaught.has(l)) process.removeListener('uncaughtException', l);
    for (const l of process.listeners('unhandledRejection')) if (!rejection.has(l)) process.removeListener('unhandledRejection', l);
    if (!hadModule) delete (globalThis as { Module?: unknown }).Module;
  }
  if (typeof cv.inpaint !== 'function' || typeof cv.Mat !== 'function') {
    // The wasm instantiates asynchronously after the script ran; wait for the runtime.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('OpenCV.js did not initialise within 60 s')), 60_000);
      cv.onRuntimeInitialized = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  // Emscripten's Module is a thenable that resolves to itself: returned from a promise it would be awaited
  // forever. Its `then` only exists to signal readiness, which has happened.
  delete (cv as { then?: unknown }).then;
  return cv;
}

/** OpenCV.js, initialised once per process. */
export function opencv(): Promise<OpenCv> {
  loading ??= load().catch((err: unknown) => {
    loading = undefined;
    throw err;
  });
  return loading;
}
