// onnxruntime sessions for the diffusion components. Unlike the shared adapter (src/models/runtime/onnx.ts)
// the pipeline needs each input's declared element type and shape: exports differ (int32 or int64 token ids,
// float16 or float32 tensors, a timestep of shape [], [1] or [batch], a fixed or free batch dimension), and
// reading the session's metadata is how the same code drives all of them.
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { ort, deviceChoice } from '../models/runtime/onnx.js';
import { createMutex } from '../models/mutex.js';
import { UnavailableError } from '../errors.js';
import { float16ToFloat32, float32ToFloat16 } from './fp16.js';

export interface TensorSpec {
  name: string;
  type: string;
  /** Numbers for fixed dimensions, strings for symbolic ones; empty for a scalar. */
  shape: readonly (number | string)[];
}

export interface ComponentSession {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  readonly device: 'cpu' | 'cuda';
  input(name: string): TensorSpec | undefined;
  run(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>>;
  release(): Promise<void>;
}

function specs(meta: readonly ort.InferenceSession.ValueMetadata[], names: readonly string[]): TensorSpec[] {
  return names.map((name) => {
    const m = meta.find((x) => x.name === name);
    if (m && m.isTensor) return { name, type: m.type, shape: m.shape };
    return { name, type: 'unknown', shape: [] };
  });
}

/** Set once CUDA failed to start in `auto` mode: later sessions go straight to the CPU. */
let cudaFailed = false;

/** Whether onnxruntime-node's CUDA provider library was installed (its install script fetches it on demand). */
function cudaLibraryPresent(): boolean {
  try {
    const pkg = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
    const bin = join(pkg, 'bin');
    const stack = [bin];
    while (stack.length > 0) {
      const dir = stack.pop() as string;
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) stack.push(join(dir, e.name));
        else if (/onnxruntime_providers_cuda\.(so|dll)/.test(e.name)) return true;
      }
    }
  } catch {
    // No package directory to look in: let onnxruntime itself decide.
    return true;
  }
  return false;
}

function cudaAvailable(choice: 'cuda' | 'auto'): boolean {
  if (cudaFailed) return false;
  try {
    if (!ort.listSupportedBackends().some((b) => b.name === 'cuda')) return false;
  } catch {
    return false;
  }
  // `cuda` always tries (its error names what is missing); `auto` skips a provider that is not installed.
  return choice === 'cuda' || cudaLibraryPresent();
}

function options(providers: string[]): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: providers,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: Math.max(1, Number(process.env.ATELIER_DIFFUSION_THREADS) || availableParallelism()),
    interOpNumThreads: 1,
    // The UNet runs many times with identical shapes: the arena and memory patterns make later runs reuse the
    // first run's buffers instead of allocating a gigabyte per step.
    enableCpuMemArena: true,
    enableMemPattern: true,
  };
}

/** Opens one component (`<set>/<component>/model.onnx`; external weights next to it load by path). */
export async function openSession(path: string): Promise<ComponentSession> {
  const choice = deviceChoice();
  let session: ort.InferenceSession | undefined;
  let device: 'cpu' | 'cuda' = 'cpu';
  if (choice !== 'cpu' && cudaAvailable(choice)) {
    try {
      // In auto mode a missing CUDA runtime is expected, not an error worth onnxruntime's log line.
      session = await ort.InferenceSession.create(path, { ...options(['cuda', 'cpu']), ...(choice === 'auto' ? { logSeverityLevel: 4 as const } : {}) });
      device = 'cuda';
    } catch (err) {
      cudaFailed = choice === 'auto';
      if (choice === 'cuda') {
        throw new UnavailableError('device_unavailable', `ATELIER_DEVICE=cuda but the CUDA execution provider failed to start: ${(err as Error).message}`);
      }
    }
  } else if (choice === 'cuda') {
    throw new UnavailableError('device_unavailable', 'ATELIER_DEVICE=cuda but this onnxruntime-node build has no CUDA execution provider.');
  }
  session ??= await ort.InferenceSession.create(path, options(['cpu']));
  const live = session;
  const inputs = specs(live.inputMetadata, live.inputNames);
  const outputs = specs(live.outputMetadata, live.outputNames);
  const mutex = createMutex();
  let released = false;
  return {
    inputs,
    outputs,
    device,
    input: (name) => inputs.find((s) => s.name === name),
    run: (feeds) =>
      mutex.run(async () => {
        if (released) throw new Error('diffusion session used after release');
        return (await live.run(feeds)) as Record<string, ort.Tensor>;
      }),
    release: () =>
      mutex.run(async () => {
        if (released) return;
        released = true;
        await live.release();
      }),
  };
}

/** A float tensor in the element type the input declares (float16 inputs get converted bits). */
export function floatTensor(spec: TensorSpec | undefined, data: Float32Array, dims: readonly number[]): ort.Tensor {
  if (spec?.type === 'float16') return new ort.Tensor('float16', float32ToFloat16(data), dims);
  return new ort.Tensor('float32', data, dims);
}

/** An integer tensor in the element type the input declares (int64 by default). */
export function intTensor(spec: TensorSpec | undefined, values: ArrayLike<number>, dims: readonly number[]): ort.Tensor {
  if (spec?.type === 'int32') return new ort.Tensor('int32', Int32Array.from(values), dims);
  if (spec?.type === 'float32' || spec?.type === 'float16') return floatTensor(spec, Float32Array.from(values), dims);
  return new ort.Tensor('int64', BigInt64Array.from(Array.from(values, (v) => BigInt(Math.round(v)))), dims);
}

/** A numeric tensor's values as float32, whatever its element type. */
export function readFloats(t: ort.Tensor): Float32Array {
  switch (t.type) {
    case 'float32':
      return t.data as Float32Array;
    case 'float16':
      return float16ToFloat32(t.data as Uint16Array);
    default:
      return Float32Array.from(t.data as ArrayLike<number>, Number);
  }
}

/** The output named `preferred`, else the first one. */
export function pickOutput(out: Record<string, ort.Tensor>, session: ComponentSession, preferred: string): ort.Tensor {
  const t = out[preferred] ?? out[session.outputs[0]?.name ?? ''];
  if (!t) throw new Error(`model has no output ${preferred}`);
  return t;
}

/** The fixed batch size an input declares (undefined when the batch dimension is free). */
export function fixedBatch(spec: TensorSpec | undefined): number | undefined {
  const d = spec?.shape[0];
  return typeof d === 'number' && d > 0 ? d : undefined;
}
