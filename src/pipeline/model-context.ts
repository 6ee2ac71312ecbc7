// What a model-based operation needs besides its image: the registry that loads models, the request's abort
// signal, and the answer's profiling record (timings in ms and the methods that ran).
import type { ModelRegistry } from '../models/registry.js';

export interface ModelContext {
  models: ModelRegistry;
  signal?: AbortSignal;
  profiling: Record<string, unknown>;
}
