// Builds the long-lived objects a running Atelier needs, from the configuration, once. Routes receive this
// container instead of reaching for globals, which keeps tests free to start several servers in one process.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';
import { openDatabase, type Db } from '../db/sqlite.js';
import { installationSecret } from '../db/installation-secret.js';
import { KeyStore } from '../accounts/keys.js';
import { RateLimiter } from '../accounts/rate-limiter.js';
import { Billing } from '../services/billing.js';
import { Admission } from '../services/admission.js';
import { EditService } from '../services/edit.js';
import { BodyPool } from '../storage/body-pool.js';
import { InputFetcher } from '../storage/fetch.js';
import { OutboundGuard } from '../storage/guard.js';
import { TmpStore } from '../storage/tmp-store.js';
import { storageSecretBox } from '../storage/secrets.js';
import { StorageService } from '../storage/service.js';
import { SqliteTaskStore, TaskQueue, type TaskLogger } from '../tasks/index.js';
import { SqliteIdempotencyStore } from './idempotency-store.js';
import { costOfEdit } from '../accounts/credits.js';
import type { EditRequest } from '../contract/types.js';
import { EDIT_TASK, editTaskHandler, editTaskView } from '../services/async-edit.js';
import { costOfAiEdit } from '../accounts/credits.js';
import type { AiEditRequest } from '../contract/generative-schemas.js';
import { AI_EDIT_TASK, AiEditService, aiEditTaskView, normaliseAiEditOutput } from '../services/ai-edit.js';
import { GenerateService, generateSettingsFromEnv } from '../services/generate.js';
import { GenerativeOutput } from '../services/generative-output.js';
import { BATCH_TASK, BatchService } from '../services/batch.js';
import { deriveSecretKey, guardedTransport, createUrlCheck, Webhooks } from '../webhooks/index.js';

export interface AppServices {
  config: Config;
  db: Db;
  keys: KeyStore;
  limiter: RateLimiter;
  billing: Billing;
  admission: Admission;
  fetcher: InputFetcher;
  /** Checks every request to a user-supplied URL (inputs, web folders, webhooks); see storage/guard.ts. */
  guard: OutboundGuard;
  tmp: TmpStore;
  /** Storages (/v1/storage/...) and storage:// resolution for inputs and outputs. */
  storages: StorageService;
  edit: EditService;
  /** Batch edits: planning, per-item progress and credits, the batch answer. */
  batches: BatchService;
  queue: TaskQueue;
  /** Recorded answers for `Idempotency-Key`. */
  idempotency: SqliteIdempotencyStore;
  /** Webhook settings, delivery log and dispatcher; task kinds register their GET view with it. */
  webhooks: Webhooks;
  /** POST /v1/image/generate. */
  generate: GenerateService;
  /** AI edit tasks (POST /v1/image/ai-edit). */
  aiEdit: AiEditService;
  /** Starts background task workers (async edits). */
  startWorkers(): Promise<void>;
  /** Stops workers, closes connections and the store. */
  close(): Promise<void>;
}


export async function createServices(config: Config, logger?: TaskLogger): Promise<AppServices> {
  mkdirSync(config.dataDir, { recursive: true });
  const db = openDatabase(join(config.dataDir, 'atelier.db'));
  const keys = new KeyStore(db, config.apiKey);
  const limiter = new RateLimiter([
    { limit: config.rateLimit.perMinute, seconds: 60 },
    { limit: config.rateLimit.perSecond, seconds: 1 },
  ]);
  const guard = new OutboundGuard({ allowlist: config.urlAllowlist });
  const fetcher = new InputFetcher({ maxBytes: config.limits.maxInputBytes, ...config.fetch }, guard, new BodyPool());
  const tmp = new TmpStore(join(config.dataDir, 'tmp'), config.tmpTtlSeconds, installationSecret(config.dataDir));
  await tmp.init();
  const storageConfig = config.storage;
  const storages = new StorageService({
    db,
    // Sealed under ATELIER_SECRET_KEY, or a key derived from the installation secret (outside the database).
    secrets: storageSecretBox(storageConfig.secretKey, () => installationSecret(config.dataDir)),
    fetcher,
    config: storageConfig,
    maxReadBytes: config.limits.maxInputBytes,
  });
  const generativeOutput = new GenerativeOutput({ tmp, storages, publicUrl: config.publicUrl });
  const generateSettings = generateSettingsFromEnv();
  const generate = new GenerateService({ output: generativeOutput, settings: generateSettings });
  const aiEdit = new AiEditService({
    output: generativeOutput,
    storages,
    fetchInput: (owner, input, signal) => edit.fetchInput(owner, input, signal),
    limits: config.limits,
    side: generateSettings.size,
  });
  const edit = new EditService({ fetcher, tmp, storages, limits: config.limits, publicUrl: config.publicUrl });
  const billing = new Billing(keys);
  const batches: BatchService = new BatchService({
    db,
    edit,
    storages,
    billing,
    limits: config.limits,
    publicUrl: config.publicUrl,
    maxItems: config.maxBatchItems,
    workerConcurrency: config.workerConcurrency,
    activeTasks: (): number => queue.activeCount,
    logger,
  });
  const queue: TaskQueue = new TaskQueue({
    store: new SqliteTaskStore(db),
    handlers: { [EDIT_TASK]: editTaskHandler(edit), [AI_EDIT_TASK]: aiEdit.handler(), [BATCH_TASK]: batches.handler() },
    concurrency: config.workerConcurrency,
    maxQueued: config.maxQueuedTasks,
    logger,
  });
  const idempotency = new SqliteIdempotencyStore(db, { ttlMs: config.idempotencyTtlSeconds * 1000 });
  const webhooks = new Webhooks({
    db,
    secretKey: deriveSecretKey(installationSecret(config.dataDir)),
    transport: guardedTransport(guard),
    checkUrl: createUrlCheck(guard),
    ...config.webhooks,
    logger,
  });
  // The webhook body of a finished edit is its GET /v1/image/edit/async/{task_id} answer.
  webhooks.registerTaskView(EDIT_TASK, (task) => ({ data: editTaskView(task) }));
  webhooks.registerTaskView(AI_EDIT_TASK, (task) => ({ data: aiEditTaskView(task) }));
  // AI edit credits were reserved per image asked for; a task that made none gives them back.
  queue.on('settled', (task) => {
    if (task.status !== 'DONE' && task.kind === AI_EDIT_TASK) {
      billing.refund(task.owner, costOfAiEdit(normaliseAiEditOutput((task.request as AiEditRequest).output).count));
    }
  });
  webhooks.registerTaskView(BATCH_TASK, (task) => ({ data: batches.view(task) }));
  queue.on('settled', (task) => void webhooks.taskSettled(task));
  // Credits were reserved at submission; a task that produced nothing (ERROR, CANCELLED) gives them back.
  queue.on('settled', (task) => {
    if (task.status !== 'DONE' && task.kind === EDIT_TASK) {
      billing.refund(task.owner, costOfEdit((task.request as EditRequest).operations));
    }
  });
  // Batch images are paid one by one as they are made; a batch's end gives back what unfinished items held.
  queue.on('settled', (task) => batches.settled(task));
  return {
    config,
    db,
    keys,
    limiter,
    billing,
    admission: new Admission(config.syncConcurrency, config.syncQueueLimit),
    fetcher,
    guard,
    tmp,
    storages,
    edit,
    batches,
    queue,
    idempotency,
    webhooks,
    generate,
    aiEdit,
    async startWorkers() {
      idempotency.startSweeping(10 * 60 * 1000, (err) => logger?.error({ err }, 'sweeping idempotency keys failed'));
      await queue.start();
      webhooks.start();
    },
    async close() {
      idempotency.stopSweeping();
      await queue.stop({ drain: true, timeoutMs: 20_000 });
      await webhooks.stop();
      tmp.stopSweeping();
      storages.close();
      await fetcher.close();
      await guard.close();
      db.close();
    },
  };
}
