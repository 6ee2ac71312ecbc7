// TensorFlow.js on its WebAssembly backend (tfjs-node would need a native download at install time). The
// backend is initialised once per process; models load from local files through an IOHandler that reads
// model.json and its weight shards from disk, so nothing is ever fetched.
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import type * as TF from '@tensorflow/tfjs';
import type { io } from '@tensorflow/tfjs';

type Tf = typeof TF;

const require = createRequire(import.meta.url);

let ready: Promise<Tf> | undefined;

/** The directory holding the backend's .wasm binaries, found from the installed package. */
export function wasmDirectory(): string {
  // The package's `main` is dist/tf-backend-wasm.node.js; the .wasm files sit beside it.
  return dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
}

async function init(): Promise<Tf> {
  const tf = await import('@tensorflow/tfjs');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const dir = wasmDirectory();
  // Explicit file map: the emscripten loader reads these paths with fs under Node.
  wasm.setWasmPaths(
    {
      'tfjs-backend-wasm.wasm': join(dir, 'tfjs-backend-wasm.wasm'),
      'tfjs-backend-wasm-simd.wasm': join(dir, 'tfjs-backend-wasm-simd.wasm'),
      'tfjs-backend-wasm-threaded-simd.wasm': join(dir, 'tfjs-backend-wasm-threaded-simd.wasm'),
    },
    false,
  );
  wasm.setThreadsCount(Math.max(1, availableParallelism()));
  const ok = await tf.setBackend('wasm');
  if (!ok) throw new Error('the TensorFlow.js wasm backend failed to initialise');
  await tf.ready();
  return tf;
}

/** The TensorFlow.js module with the wasm backend active (initialised on first call). */
export async function tfjs(): Promise<Tf> {
  ready ??= init().catch((err: unknown) => {
    ready = undefined;
    throw err;
  });
  return ready;
}

interface ModelJson {
  modelTopology?: unknown;
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  signature?: unknown;
  userDefinedMetadata?: Record<string, {}>;
  modelInitializer?: unknown;
  weightsManifest: { paths: string[]; weights: io.WeightsManifestEntry[] }[];
}

/** Reads a TF.js model.json and its weight shards (concatenated in manifest order) into model artifacts. */
export async function readModelArtifacts(modelJsonPath: string): Promise<io.ModelArtifacts> {
  const path = resolve(modelJsonPath);
  const json = JSON.parse(await readFile(path, 'utf8')) as ModelJson;
  if (!Array.isArray(json.weightsManifest)) throw new Error(`${path} has no weightsManifest`);
  const dir = dirname(path);
  const weightSpecs: io.WeightsManifestEntry[] = [];
  const shards: Buffer[] = [];
  for (const group of json.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) shards.push(await readFile(join(dir, p)));
  }
  const total = shards.reduce((n, b) => n + b.length, 0);
  const weightData = new ArrayBuffer(total);
  const view = new Uint8Array(weightData);
  let offset = 0;
  for (const s of shards) {
    view.set(s, offset);
    offset += s.length;
  }
  const artifacts: io.ModelArtifacts = {
    modelTopology: json.modelTopology as io.ModelArtifacts['modelTopology'],
    weightSpecs,
    weightData,
  };
  if (json.format !== undefined) artifacts.format = json.format;
  if (json.generatedBy !== undefined) artifacts.generatedBy = json.generatedBy;
  if (json.convertedBy !== undefined && json.convertedBy !== null) artifacts.convertedBy = json.convertedBy;
  if (json.signature !== undefined) artifacts.signature = json.signature as object;
  if (json.userDefinedMetadata !== undefined) artifacts.userDefinedMetadata = json.userDefinedMetadata;
  if (json.modelInitializer !== undefined) artifacts.modelInitializer = json.modelInitializer as object;
  return artifacts;
}

/** An IOHandler that loads from local files (tf.loadGraphModel / loadLayersModel accept it in place of a URL). */
export function fileHandler(modelJsonPath: string): io.IOHandler {
  return { load: () => readModelArtifacts(modelJsonPath) };
}

export async function loadTfjsGraphModel(modelJsonPath: string): Promise<TF.GraphModel> {
  const tf = await tfjs();
  return tf.loadGraphModel(fileHandler(modelJsonPath));
}
