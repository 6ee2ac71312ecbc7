// Async tasks: persistence (TaskStore, SQLite for embedded mode) and the worker pool that runs them.
export type {
  CancelResult,
  NewTask,
  StalledScope,
  TaskHandler,
  TaskKind,
  TaskLease,
  TaskOutcome,
  TaskRecord,
  TaskStore,
} from './types.js';
export { FINAL_STATUSES, isFinal, leaseOf } from './types.js';
export {
  failureOutcome,
  INTERNAL_ERROR_MESSAGE,
  isoTimestamp,
  normalizeOutcome,
  pipelineError,
  TOO_MANY_INTERRUPTIONS_MESSAGE,
} from './outcome.js';
export { QUEUE_FULL_RETRY_AFTER_SECONDS, QueueFullError, TaskAlreadyFinishedError } from './errors.js';
export { SqliteTaskStore, type SqliteTaskStoreOptions } from './sqlite-store.js';
export {
  PROCESS_INSTANCE_ID,
  TaskInterruptedError,
  TaskQueue,
  type SettledListener,
  type StopOptions,
  type TaskLogger,
  type TaskQueueOptions,
} from './queue.js';
