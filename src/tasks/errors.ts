// Task errors a client can see. They are AtelierErrors, so the HTTP layer answers them in the contract's shape
// without the task code knowing about HTTP.
import { AtelierError } from '../errors.js';

/**
 * How long a client refused for a full queue is told to wait. Draining a full queue takes longer than this, but
 * places free up continuously as workers claim tasks, so a short, fixed hint spreads retries without stalling
 * clients; a client that is refused again simply waits again.
 */
export const QUEUE_FULL_RETRY_AFTER_SECONDS = 5;

/**
 * A submission refused because the queue is at its bound (429). Nothing was created. The HTTP layer sends
 * `retry-after` from `retryAfterSeconds`.
 */
export class QueueFullError extends AtelierError {
  constructor(
    readonly maxQueued: number,
    readonly retryAfterSeconds: number = QUEUE_FULL_RETRY_AFTER_SECONDS,
  ) {
    super(
      429,
      'general',
      'queue_full',
      `The task queue is full: ${maxQueued} tasks are waiting to run. Nothing was created and no credits were ` +
        `taken; retry in ${retryAfterSeconds} s.`,
      { max_queued_tasks: maxQueued, retry_after_seconds: retryAfterSeconds },
    );
    this.name = 'QueueFullError';
  }
}

/** Cancelling a task that already ended DONE or ERROR (409). */
export class TaskAlreadyFinishedError extends AtelierError {
  constructor(id: number, status: string) {
    super(
      409,
      'general',
      'task_already_finished',
      `Task ${id} has already finished with status ${status}; only ACCEPTED or PROCESSING tasks can be cancelled.`,
      { task_id: id, status },
    );
    this.name = 'TaskAlreadyFinishedError';
  }
}
