// Batch image edits (POST /v1/image/edit/batch): one task of kind 'batch' per request. The task plans its
// items once (a list of URLs, or the images of a storage folder), then edits them in parallel, each like an
// async edit, recording every item as it finishes (./batch-store.ts). The batch is DONE once every item has
// finished and at least one image was produced; failed images are listed in `errors`, never hidden.
import type { ImageObject, ImageOperations, ImageOutputOptions, TaskStatus } from '../contract/types.js';
import { costOfEdit } from '../accounts/credits.js';
import type { Db } from '../db/sqlite.js';
import { isAtelierError, StorageError } from '../errors.js';
import { inspectInput, type PipelineLimits } from '../pipeline/index.js';
import { parseInputUrl } from '../storage/fetch.js';
import type { StorageService } from '../storage/service.js';
import { isStorageUri } from '../storage/uri.js';
import {
  INTERNAL_ERROR_MESSAGE,
  isoTimestamp,
  type TaskHandler,
  type TaskLogger,
  type TaskOutcome,
  type TaskRecord,
} from '../tasks/index.js';
import type { Billing } from './billing.js';
import { normaliseOutput, type EditService } from './edit.js';
import { ItemGate } from './batch-gate.js';
import {
  batchDestinationFolder,
  batchSource,
  checkItemCount,
  foundFromAddress,
  foundFromListing,
  isBatchImage,
  outputExtension,
  planItems,
  type BatchEditRequest,
  type FoundInput,
  type PlannedItem,
} from './batch-plan.js';
import { BatchStore, type BatchItem, type BatchItemError, type BatchItemResult } from './batch-store.js';

export type { BatchEditRequest } from './batch-plan.js';

export const BATCH_TASK = 'batch';

/** Longest input address quoted in an item's error message. */
const QUOTED_INPUT_LENGTH = 512;

/** A finished image in the batch answer: the published item plus `input`, the address it came from. */
export interface BatchResultItem extends BatchItemResult {
  input: string;
}

/** A failed image: the published BatchPipelineError plus `input` (absent for errors of the batch as a whole). */
export interface BatchErrorItem extends BatchItemError {
  input?: string;
}

/** The `data` of the batch answers (the published BatchAcceptedResponse and BatchResultResponse). */
export interface BatchTaskView {
  id: number;
  status: TaskStatus;
  result_url: string;
  created_at: string;
  request: unknown;
  errors: BatchErrorItem[];
  results: BatchResultItem[];
}

/** What a DONE batch task stores as its result; the answer lists the items from the batch store. */
interface BatchSummary {
  images: number;
  succeeded: number;
  failed: number;
}

export interface BatchServiceDeps {
  db: Db;
  edit: EditService;
  storages: StorageService;
  billing: Billing;
  limits: PipelineLimits;
  /** Base of `result_url`, without trailing slash. */
  publicUrl: string;
  /** Most images one batch may hold (ATELIER_MAX_BATCH_ITEMS). */
  maxItems: number;
  /** Worker slots of the task queue (ATELIER_WORKERS): the images this process edits at once. */
  workerConcurrency: number;
  /** Task handlers running now in this process's queue, batches included. */
  activeTasks: () => number;
  logger?: TaskLogger;
}

export function batchResultUrl(publicUrl: string, id: number): string {
  return `${publicUrl}/v1/image/edit/batch/${id}`;
}

function quoted(input: string): string {
  return input.length > QUOTED_INPUT_LENGTH ? `${input.slice(0, QUOTED_INPUT_LENGTH)}...` : input;
}

export class BatchService {
  readonly store: BatchStore;
  private readonly gate: ItemGate;
  private runningBatches = 0;

  constructor(private readonly deps: BatchServiceDeps) {
    this.store = new BatchStore(deps.db);
    // Slots left by the queue's other tasks; see ./batch-gate.ts for the policy.
    this.gate = new ItemGate(() => deps.workerConcurrency - (deps.activeTasks() - this.runningBatches));
  }

  /**
   * Refuses at submission what cannot work: invalid operations or output, a destination that is not a writable
   * storage of `owner`, too many images in a list, a list entry naming a folder or an unknown storage, a folder
   * that is not in one of `owner`'s listable storages, and a key that cannot pay for a single image. Folders are
   * listed by the task, not here: a listing may take long, and its failure ends the batch ERROR instead.
   */
  precheck(owner: string, request: BatchEditRequest): void {
    const output = normaliseOutput(request.output);
    this.deps.edit.precheck(owner, request.operations, output);
    const source = batchSource(request.input);
    if (source.kind === 'list') {
      checkItemCount(source.inputs.length, this.deps.maxItems, 'the list holds');
      source.inputs.forEach((input, i) => {
        const field = Array.isArray(request.input) ? `input.${i}` : 'input';
        if (isStorageUri(input)) this.deps.storages.checkSource(owner, input, field);
        else parseInputUrl(input, field);
      });
    } else {
      const field = typeof request.input === 'object' && !Array.isArray(request.input) ? 'input.source' : 'input';
      if (!isStorageUri(source.uri)) {
        throw new StorageError(
          'unsupported_batch_source',
          `${field}: folders are read from storages only (storage://<storage name>/<folder>/); to edit images at ` +
            'other addresses, give their URLs as a list.',
          { field },
        );
      }
      const { storage } = this.deps.storages.resolve(owner, source.uri, field);
      if (storage.type === 'web_folder') {
        throw new StorageError(
          'storage_not_listable',
          `${field}: storage "${storage.name}" is a web_folder storage, which cannot be listed; give the images' ` +
            'URLs as a list instead.',
          { field, storage: storage.name },
        );
      }
    }
    // Images are paid one by one as they are made; a key that cannot pay for one gets the contract's 402 now.
    const cost = costOfEdit(request.operations);
    this.deps.billing.reserve(owner, cost);
    this.deps.billing.refund(owner, cost);
  }

  handler(): TaskHandler {
    return (task, signal) => this.run(task, signal);
  }

  /** The `data` of GET /v1/image/edit/batch/{task_id} (and of the POST answer, and of webhooks). */
  view(task: TaskRecord): BatchTaskView {
    const { results, errors, pending, total } = this.store.outcomes(task.id);
    // A batch that ended ERROR because every image failed repeats those failures as its own errors; other task
    // errors (the folder could not be listed, the batch was interrupted too often) are the batch's own.
    const fromItems = total > 0 && pending === 0;
    const own: BatchErrorItem[] = fromItems
      ? []
      : task.errors.map((e) => ({ error: e.error, created_at: e.created_at, input_object: e.input_object ?? null }));
    return {
      id: task.id,
      status: task.status,
      result_url: batchResultUrl(this.deps.publicUrl, task.id),
      created_at: task.createdAt,
      request: task.request,
      errors: [...(errors as BatchErrorItem[]), ...own],
      results: results as BatchResultItem[],
    };
  }

  /**
   * The queue's 'settled' listener for batches: whatever the end (DONE, ERROR, CANCELLED), items that did not
   * produce an image give their credits back. After a normal end there are none; after a cancel or too many
   * interruptions, the items that were running or cut off are refunded here, exactly once.
   */
  settled(task: TaskRecord): void {
    if (task.kind !== BATCH_TASK) return;
    const refunded = this.store.releaseUnfinished(task.id, (amount) => this.deps.billing.refund(task.owner, amount));
    if (refunded > 0) this.deps.logger?.info({ taskId: task.id, refunded }, 'batch ended with unfinished items; credits refunded');
  }

  private async run(task: TaskRecord, signal: AbortSignal): Promise<TaskOutcome> {
    this.runningBatches += 1;
    try {
      return await this.runItems(task, signal);
    } finally {
      this.runningBatches -= 1;
    }
  }

  private async runItems(task: TaskRecord, signal: AbortSignal): Promise<TaskOutcome> {
    const request = task.request as BatchEditRequest;
    if (!this.store.isPlanned(task.id)) {
      const planned = await this.plan(task.owner, request, signal);
      signal.throwIfAborted();
      this.store.savePlan(task.id, planned, isoTimestamp(Date.now()));
    }
    const pending = this.store.items(task.id).filter((item) => item.state === 'pending');
    const { destination: _folder, ...output } = normaliseOutput(request.output);
    const cost = costOfEdit(request.operations);

    const inFlight = new Set<Promise<void>>();
    const failures: unknown[] = [];
    for (const item of pending) {
      const release = await this.gate.acquire(signal);
      if (!release) break;
      const run: Promise<void> = this.runItem(task, item, request.operations, output, cost, signal)
        .catch((err: unknown) => void failures.push(err))
        .finally(() => {
          release();
          inFlight.delete(run);
        });
      inFlight.add(run);
    }
    await Promise.all(inFlight);
    signal.throwIfAborted();
    // Recording an item failed (the store, not the image): the batch cannot vouch for its items any more.
    if (failures.length > 0) throw failures[0];

    const { results, errors, pending: left, total } = this.store.outcomes(task.id);
    if (left > 0) throw new Error(`Batch ${task.id}: ${left} of ${total} items were left unfinished.`);
    if (results.length === 0) return { status: 'ERROR', errors };
    const summary: BatchSummary = { images: total, succeeded: results.length, failed: errors.length };
    return { status: 'DONE', result: summary };
  }

  /** The batch's items in input order: the list as given, or the folder's images as listed (sorted by path). */
  private async plan(owner: string, request: BatchEditRequest, signal: AbortSignal): Promise<PlannedItem[]> {
    const source = batchSource(request.input);
    const destination = batchDestinationFolder(normaliseOutput(request.output).destination);
    let found: FoundInput[];
    if (source.kind === 'list') {
      found = source.inputs.map(foundFromAddress);
    } else {
      const field = typeof request.input === 'object' && !Array.isArray(request.input) ? 'input.source' : 'input';
      const listed = await this.deps.storages.listFolder(owner, source.uri, { recursive: source.recursive, signal, field });
      found = listed
        .map((object) => foundFromListing(object.uri, object.relative))
        .filter(isBatchImage);
      if (found.length === 0) {
        throw new StorageError(
          'batch_folder_empty',
          `${field}: the folder "${quoted(source.uri)}" holds no images${source.recursive ? '' : ' (sub-folders are ' +
            'read with "recursive": true)'}.`,
          { field },
        );
      }
      checkItemCount(found.length, this.deps.maxItems, 'the folder holds');
    }
    return planItems(found, destination, outputExtension(normaliseOutput(request.output)));
  }

  /** Edits one image and records the outcome; never throws for the image's own failures. */
  private async runItem(
    task: TaskRecord,
    item: BatchItem,
    operations: ImageOperations,
    output: ImageOutputOptions,
    cost: number,
    signal: AbortSignal,
  ): Promise<void> {
    const { id, owner } = task;
    const refund = (amount: number) => this.deps.billing.refund(owner, amount);
    const held = this.store.hold(id, item.index, cost, (amount) => this.tryReserve(owner, amount));
    if (held === 'not_pending') return;
    if (held === 'refused') {
      this.store.fail(id, item.index, this.itemError(item, 'No API calls left.', null), refund);
      return;
    }
    let data: Buffer | undefined;
    try {
      const file = await this.deps.edit.fetchInput(owner, item.input, signal);
      data = file.data;
      const res = await this.deps.edit.edit(
        owner,
        { data, name: item.name },
        operations,
        item.destination === null ? output : { ...output, destination: item.destination },
        { signal, stableId: `batch:${id}:${item.index}` },
      );
      const result: BatchResultItem = { input_object: res.input, output_object: res.output, input: item.input };
      this.store.finish(id, item.index, result, isoTimestamp(Date.now()));
    } catch (err) {
      // Cut off (cancel, shutdown, lost lease): the item stays pending with its credits held, for a resumed run
      // to finish or for the batch's end to refund.
      if (signal.aborted) return;
      if (!isAtelierError(err)) this.deps.logger?.error({ err, taskId: id, item: item.index }, 'batch item failed');
      const message = isAtelierError(err) ? err.message : INTERNAL_ERROR_MESSAGE;
      const inputObject = data === undefined ? null : await this.describe(data);
      this.store.fail(id, item.index, this.itemError(item, message, inputObject), refund);
    }
  }

  private tryReserve(owner: string, amount: number): boolean {
    try {
      this.deps.billing.reserve(owner, amount);
      return true;
    } catch (err) {
      if (isAtelierError(err) && err.status === 402) return false;
      throw err;
    }
  }

  /** The input's description for an error, when its header can be read (null when it is not an image). */
  private async describe(data: Buffer): Promise<ImageObject | null> {
    try {
      return await inspectInput(data, this.deps.limits);
    } catch {
      return null;
    }
  }

  private itemError(item: BatchItem, message: string, inputObject: ImageObject | null): BatchErrorItem {
    // The published error has no field naming the image, so the message starts with its address (in place of
    // the `input: ` that single edits' messages start with).
    const reason = message.startsWith('input: ') ? message.slice('input: '.length) : message;
    return {
      error: `${quoted(item.input)}: ${reason}`,
      created_at: isoTimestamp(Date.now()),
      input_object: inputObject,
      input: item.input,
    };
  }
}
