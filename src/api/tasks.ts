// What every task family's routes share: cancelling a task the caller owns (an Atelier extension; the family's
// route only maps ids and views), and the `retry-after` of a submission refused by a full queue.
import type { FastifyInstance } from 'fastify';
import type { AtelierError } from '../errors.js';
import {
  QueueFullError,
  TaskAlreadyFinishedError,
  type TaskKind,
  type TaskQueue,
  type TaskRecord,
} from '../tasks/index.js';

export interface CancelOwnedTask {
  /** Kinds this route family answers for; a task of another kind is reported missing, as on GET. */
  kinds: readonly TaskKind[];
  owner: string;
  /** The family's 404, the same one its GET answers. */
  notFound: () => AtelierError;
}

/**
 * Cancels task `id` for its owner and returns it CANCELLED. Another key's task, or a task of another family, is
 * missing (404), so ids reveal nothing; a task that already ended DONE or ERROR is a 409; a task already
 * CANCELLED is returned as it is, so a retried cancel succeeds.
 */
export async function cancelOwnedTask(queue: TaskQueue, id: number, opts: CancelOwnedTask): Promise<TaskRecord> {
  const task = await queue.get(id);
  if (!task || !opts.kinds.includes(task.kind) || task.owner !== opts.owner) throw opts.notFound();
  const result = await queue.cancel(id);
  if (result.kind === 'missing') throw opts.notFound();
  if (result.task.status !== 'CANCELLED') throw new TaskAlreadyFinishedError(id, result.task.status);
  return result.task;
}

/** Adds `retry-after` to the 429 of any route whose submission found the queue full. */
export function installQueueFullRetryAfter(app: FastifyInstance): void {
  // onError runs before the error handler writes the answer, and headers set here are kept.
  app.addHook('onError', async (_request, reply, err) => {
    if (err instanceof QueueFullError) reply.header('retry-after', String(err.retryAfterSeconds));
  });
}
