// What every task family's routes share: submitting a paid task, cancelling a task the caller owns (an Atelier
// extension; the family's route only maps ids and views), and the `retry-after` of a submission refused by a
// full queue.
import type { FastifyInstance } from 'fastify';
import type { AtelierError } from '../errors.js';
import type { Billing } from '../services/billing.js';
import {
  QueueFullError,
  TaskAlreadyFinishedError,
  type TaskKind,
  type TaskQueue,
  type TaskRecord,
} from '../tasks/index.js';

/** The `data` of a task submission: the same shape for edit and AI-edit tasks. */
export interface TaskSubmitted {
  id: number;
  status: TaskRecord['status'];
  result_url: string;
  created_at: string;
  request: unknown;
}

/**
 * Reserves `cost` for `owner` (402 `no_api_calls_left` when the credits are not there), then queues the task; a
 * refused submission (queue full) gives the credits straight back. Credits of a task that later ends without
 * a result come back through the queue's 'settled' listener (services.ts).
 */
export async function submitPaidTask(
  deps: { billing: Billing; queue: TaskQueue },
  submission: { kind: TaskKind; request: unknown; owner: string; cost: number; resultUrl: (id: number) => string },
): Promise<TaskSubmitted> {
  const { kind, request, owner, cost } = submission;
  deps.billing.reserve(owner, cost);
  let task: TaskRecord;
  try {
    task = await deps.queue.submit(kind, request, owner);
  } catch (err) {
    deps.billing.refund(owner, cost);
    throw err;
  }
  return {
    id: task.id,
    status: task.status,
    result_url: submission.resultUrl(task.id),
    created_at: task.createdAt,
    request: task.request,
  };
}

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
