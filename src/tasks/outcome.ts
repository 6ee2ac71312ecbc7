// Small pure helpers that turn what a handler did into what a client may see.
import type { ImageObject, PipelineError } from '../contract/types.js';
import { isAtelierError } from '../errors.js';
import type { TaskOutcome } from './types.js';

export const INTERNAL_ERROR_MESSAGE = 'Internal processing error.';
export const TOO_MANY_INTERRUPTIONS_MESSAGE = 'Processing was interrupted too many times.';

/** ISO 8601 in UTC with an explicit "+00:00" offset, the form the contract's examples use. */
export function isoTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '+00:00');
}

export function pipelineError(
  message: string,
  inputObject?: ImageObject | null,
  at: number = Date.now(),
): PipelineError {
  const item: PipelineError = { error: message, created_at: isoTimestamp(at) };
  if (inputObject !== undefined) item.input_object = inputObject;
  return item;
}

/**
 * The ERROR outcome for a handler that threw. Only our own typed errors carry messages written for clients;
 * anything else (a bug, a library failure) may leak internals, so it gets a generic message.
 */
export function failureOutcome(err: unknown, at: number = Date.now()): TaskOutcome {
  const message = isAtelierError(err) ? err.message : INTERNAL_ERROR_MESSAGE;
  return { status: 'ERROR', errors: [pipelineError(message, undefined, at)] };
}

/**
 * Checks what a handler returned: undefined when it is not a TaskOutcome (the caller logs it and fails the task).
 * An ERROR without any error item gets the generic one, since clients read `errors` to learn what went wrong;
 * an absent result becomes null.
 */
export function normalizeOutcome(value: unknown, at: number = Date.now()): TaskOutcome | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const outcome = value as Partial<Record<'status' | 'result' | 'errors', unknown>>;
  if (outcome.status === 'DONE') return { status: 'DONE', result: outcome.result ?? null };
  if (outcome.status === 'ERROR' && Array.isArray(outcome.errors)) {
    const errors = outcome.errors as PipelineError[];
    return {
      status: 'ERROR',
      errors: errors.length > 0 ? errors : [pipelineError(INTERNAL_ERROR_MESSAGE, undefined, at)],
    };
  }
  return undefined;
}
