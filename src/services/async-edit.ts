// Async image edits: the task handler that runs an edit request in a worker, and the task's public view.
import type { AsyncTaskView, EditRequest, ImageObject, OutputImageObject } from '../contract/types.js';
import type { TaskHandler, TaskRecord } from '../tasks/index.js';
import { normaliseOutput, type EditService } from './edit.js';

export const EDIT_TASK = 'edit';

interface EditTaskResult {
  input_object: ImageObject;
  output_object: OutputImageObject;
}

export function editTaskHandler(edit: EditService): TaskHandler {
  return async (task, signal) => {
    // Failures are thrown: the queue turns an AtelierError into an ERROR with its message.
    const request = task.request as EditRequest;
    // The task id names the output, so a re-run after a crash rewrites the same file and URL.
    const res = await edit.withInput(task.owner, request.input, signal, (input) =>
      edit.edit(task.owner, input, request.operations, normaliseOutput(request.output), {
        signal,
        stableId: `task:${task.id}`,
      }),
    );
    const result: EditTaskResult = { input_object: res.input, output_object: res.output };
    return { status: 'DONE', result };
  };
}

export function taskResultUrl(publicUrl: string, id: number): string {
  return `${publicUrl}/v1/image/edit/async/${id}`;
}

/** The `data` of GET /v1/image/edit/async/{task_id}. */
export function editTaskView(task: TaskRecord): AsyncTaskView {
  return {
    id: task.id,
    status: task.status,
    created_at: task.createdAt,
    request: task.request,
    errors: task.errors,
    result: (task.status === 'DONE' ? (task.result as EditTaskResult) : {}) ?? {},
  };
}
