// Thin adapter over onnxruntime-node: one session per model, CPU by default, CUDA when asked for and present,
// runs serialised per session so that concurrent requests queue instead of multiplying activation memory.
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { UnavailableError } from '../../errors.js';
import { createMutex } from '../mutex.js';

export { ort };

export interface OnnxModel {
  run(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>>;
  release(): Promise<void>;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** The execution provider the session runs on. */
  readonly device: 'cpu' | 'cuda';
}

export interface OnnxLoadOptions {
  /** Intra-op threads; all cores by default (runs are serialised, so one run owns the CPU). */
  threads?: number;
  /**
   * onnxruntime's CPU arena keeps the largest activation set allocated between runs. Off by default: it
   * trades a little speed for hundreds of MB of resident memory on 1024² inputs, and a server keeps models warm.
   */
  memArena?: boolean;
  /**
   * Pre-planned activation buffers. Off by default: measured on ISNet at 1024², planning keeps ~150 MB more
   * resident at the run's peak for no measurable speed gain on CPU.
   */
  memPattern?: boolean;
  /**
   * Whether idle intra-op threads spin waiting for work (onnxruntime's default: yes). Spinning burns a core
   * between a run's operators and for a while after it; for small, fast graphs on a shared 2-core machine it
   * costs more CPU than it saves time (face detection, 1024²: 54 ms wall and 95 ms CPU without spinning, 84 ms
   * and 168 ms with it).
   */
  spinning?: boolean;
}

export type DeviceChoice = 'cpu' | 'cuda' | 'auto';

/** ATELIER_DEVICE: `cpu` (default), `cuda` (required; fail when absent) or `auto` (CUDA when it loads). */
export function deviceChoice(env: NodeJS.ProcessEnv = process.env): DeviceChoice {
  const value = (env.ATELIER_DEVICE ?? 'cpu').trim().toLowerCase();
  return value === 'cuda' || value === 'auto' ? value : 'cpu';
}

function cudaBundled(): boolean {
  try {
    return ort.listSupportedBackends().some((b) => b.name === 'cuda' && b.bundled);
  } catch {
    return false;
  }
}

function sessionOptions(opts: OnnxLoadOptions, providers: string[]): ort.InferenceSession.SessionOptions {
  const threads = Math.max(1, opts.threads ?? availableParallelism());
  return {
    executionProviders: providers,
    graphOptimizationLevel: 'all',
    // Sequential: the graphs here are chains of convolutions; parallel execution only adds a second pool.
    executionMode: 'sequential',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    enableCpuMemArena: opts.memArena ?? false,
    enableMemPattern: opts.memPattern ?? false,
    // Errors only: a resized graph (see isnet.ts) makes onnxruntime warn once per recorded shape it re-infers.
    logSeverityLevel: 3,
    ...(opts.spinning === false ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
  };
}

async function createSession(
  source: string | Uint8Array,
  options: ort.InferenceSession.SessionOptions,
): Promise<ort.InferenceSession> {
  return typeof source === 'string'
    ? ort.InferenceSession.create(source, options)
    : ort.InferenceSession.create(source, options);
}

/** Loads an ONNX model from a file path or its bytes. */
export async function loadOnnx(source: string | Uint8Array, opts: OnnxLoadOptions = {}): Promise<OnnxModel> {
  const choice = deviceChoice();
  let session: ort.InferenceSession | undefined;
  let device: 'cpu' | 'cuda' = 'cpu';
  if (choice !== 'cpu') {
    if (cudaBundled()) {
      try {
        session = await createSession(source, sessionOptions(opts, ['cuda', 'cpu']));
        device = 'cuda';
      } catch (err) {
        if (choice === 'cuda') {
          throw new UnavailableError('device_unavailable', `ATELIER_DEVICE=cuda but the CUDA execution provider failed to start: ${(err as Error).message}`);
        }
      }
    } else if (choice === 'cuda') {
      throw new UnavailableError(
        'device_unavailable',
        'ATELIER_DEVICE=cuda but this onnxruntime-node build has no CUDA execution provider (install it with the CUDA binaries, or set ATELIER_DEVICE=cpu).',
      );
    }
  }
  session ??= await createSession(source, sessionOptions(opts, ['cpu']));

  const live = session;
  const mutex = createMutex();
  let released = false;
  return {
    inputNames: live.inputNames,
    outputNames: live.outputNames,
    device,
    run(feeds) {
      return mutex.run(async () => {
        if (released) throw new Error('ONNX session used after release');
        return (await live.run(feeds)) as Record<string, ort.Tensor>;
      });
    },
    release() {
      return mutex.run(async () => {
        if (released) return;
        released = true;
        await live.release();
      });
    },
  };
}
