// Webhook settings read from the environment (listed in the README's configuration table), as part of
// `loadConfig` (src/config.ts). The defaults are
// the reference's schedule; the variables exist so tests and impatient operators can shorten it.
import { intVar, type Env } from '../env.js';
import { DEFAULT_ATTEMPT_TIMEOUT_MS, DEFAULT_RETRY_DELAYS_MS, parseDelays } from './schedule.js';

export interface WebhookConfig {
  retryDelaysMs: number[];
  timeoutMs: number;
  concurrency: number;
}

export function webhookConfigFromEnv(env: Env = process.env): WebhookConfig {
  const delays = env.ATELIER_WEBHOOK_RETRY_DELAYS_MS;
  return {
    retryDelaysMs: delays === undefined ? [...DEFAULT_RETRY_DELAYS_MS] : parseDelays(delays),
    timeoutMs: intVar(env, 'ATELIER_WEBHOOK_TIMEOUT_MS', DEFAULT_ATTEMPT_TIMEOUT_MS, 1),
    concurrency: intVar(env, 'ATELIER_WEBHOOK_CONCURRENCY', 16, 1),
  };
}
