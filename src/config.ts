// Configuration comes from the environment only, with defaults that let `npm start` run on a fresh machine
// with nothing else installed. Every variable is listed in the README's configuration table.
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { intVar as int, listVar, type Env } from './env.js';
import { DEFAULT_LIMITS, type PipelineLimits } from './pipeline/index.js';
import { loadStorageConfig, type StorageConfig } from './storage/config.js';
import { webhookConfigFromEnv, type WebhookConfig } from './webhooks/config.js';

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  /** Base of every absolute URL Atelier hands out (`result_url`, `tmp_url`), without a trailing slash. */
  publicUrl: string;
  /** A key valid with all scopes, for scripts and tests; not stored. */
  apiKey?: string;
  limits: PipelineLimits;
  /** Concurrent async tasks processed by this process. */
  workerConcurrency: number;
  /** Back-pressure: tasks allowed to wait (ACCEPTED); submissions past it get 429 `queue_full`. */
  maxQueuedTasks: number;
  /** Most images one batch (`POST /v1/image/edit/batch`) may hold. */
  maxBatchItems: number;
  /** How long an `Idempotency-Key` answer is replayed, in seconds. */
  idempotencyTtlSeconds: number;
  /** Concurrent synchronous edits; more wait in line (bounded by `syncQueueLimit`). */
  syncConcurrency: number;
  syncQueueLimit: number;
  /** How long temporary outputs are kept, in seconds. */
  tmpTtlSeconds: number;
  rateLimit: { perMinute: number; perSecond: number };
  /** Whether new keys get a credit balance (null = unlimited). */
  defaultCredits: number | null;
  fetch: { connectTimeoutMs: number; totalTimeoutMs: number; maxRedirects: number };
  /** Hosts, addresses and CIDR ranges exempt from the outbound-request guard. */
  urlAllowlist: string[];
  logLevel: string;
  /** Storage connectors, secrets and the local-storage root (src/storage/config.ts). */
  storage: StorageConfig;
  /** Webhook retry schedule, timeout and concurrency (src/webhooks/config.ts). */
  webhooks: WebhookConfig;
}

export function loadConfig(env: Env = process.env): Config {
  const port = int(env, 'PORT', 8080);
  const host = env.HOST || '0.0.0.0';
  const publicUrl = (env.ATELIER_PUBLIC_URL || `http://localhost:${port}`).replace(/\/+$/, '');
  const cores = availableParallelism();
  const credits = env.ATELIER_DEFAULT_CREDITS;
  const dataDir = resolve(env.ATELIER_DATA_DIR || './data');
  return {
    host,
    port,
    dataDir,
    publicUrl,
    apiKey: env.ATELIER_API_KEY || undefined,
    limits: {
      maxInputBytes: int(env, 'ATELIER_MAX_INPUT_BYTES', DEFAULT_LIMITS.maxInputBytes, 1),
      maxInputPixels: int(env, 'ATELIER_MAX_INPUT_PIXELS', DEFAULT_LIMITS.maxInputPixels, 1),
      maxOutputPixels: int(env, 'ATELIER_MAX_OUTPUT_PIXELS', DEFAULT_LIMITS.maxOutputPixels, 1),
      maxOutputSide: int(env, 'ATELIER_MAX_OUTPUT_SIDE', DEFAULT_LIMITS.maxOutputSide, 1),
    },
    workerConcurrency: int(env, 'ATELIER_WORKERS', cores, 1),
    maxQueuedTasks: int(env, 'ATELIER_MAX_QUEUED_TASKS', 10_000, 1),
    maxBatchItems: int(env, 'ATELIER_MAX_BATCH_ITEMS', 1000, 1),
    idempotencyTtlSeconds: int(env, 'ATELIER_IDEMPOTENCY_TTL_SECONDS', 24 * 3600, 1),
    syncConcurrency: int(env, 'ATELIER_SYNC_CONCURRENCY', cores * 2, 1),
    syncQueueLimit: int(env, 'ATELIER_SYNC_QUEUE', 256, 0),
    tmpTtlSeconds: int(env, 'ATELIER_TMP_TTL_SECONDS', 24 * 3600, 1),
    rateLimit: {
      perMinute: int(env, 'ATELIER_RATE_LIMIT_PER_MINUTE', 120, 0),
      perSecond: int(env, 'ATELIER_RATE_LIMIT_PER_SECOND', 4, 0),
    },
    defaultCredits: credits === undefined || credits === '' ? null : int(env, 'ATELIER_DEFAULT_CREDITS', 0, 0),
    fetch: {
      connectTimeoutMs: int(env, 'ATELIER_FETCH_CONNECT_TIMEOUT_MS', 5000, 1),
      totalTimeoutMs: int(env, 'ATELIER_FETCH_TIMEOUT_MS', 30000, 1),
      maxRedirects: int(env, 'ATELIER_FETCH_MAX_REDIRECTS', 5, 0),
    },
    urlAllowlist: listVar(env, 'ATELIER_URL_ALLOWLIST'),
    logLevel: env.ATELIER_LOG_LEVEL || 'info',
    storage: loadStorageConfig(env, dataDir),
    webhooks: webhookConfigFromEnv(env),
  };
}
