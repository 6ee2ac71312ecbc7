// Webhook settings read from the environment (listed in the README's configuration table). The defaults are
// the reference's schedule; the variables exist so tests and impatient operators can shorten it.
import { DEFAULT_ATTEMPT_TIMEOUT_MS, DEFAULT_RETRY_DELAYS_MS, parseDelays } from './schedule.js';

export interface WebhookConfig {
  retryDelaysMs: number[];
  timeoutMs: number;
  concurrency: number;
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return n;
}

export function webhookConfigFromEnv(env: NodeJS.ProcessEnv = process.env): WebhookConfig {
  const delays = env.ATELIER_WEBHOOK_RETRY_DELAYS_MS;
  return {
    retryDelaysMs: delays === undefined ? [...DEFAULT_RETRY_DELAYS_MS] : parseDelays(delays),
    timeoutMs: positiveInt(env, 'ATELIER_WEBHOOK_TIMEOUT_MS', DEFAULT_ATTEMPT_TIMEOUT_MS),
    concurrency: positiveInt(env, 'ATELIER_WEBHOOK_CONCURRENCY', 16),
  };
}
