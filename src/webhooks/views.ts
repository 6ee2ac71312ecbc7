// The JSON shapes of settings and deliveries as the API answers them and the CLI prints them (--json).
import type { AttemptOutcome, AttemptRecord, Delivery, DeliveryState } from './deliveries.js';
import type { WebhookEvent } from './settings.js';
import { isoTimestamp } from '../tasks/outcome.js';

export interface AttemptView {
  attempt: number;
  sent_at: string;
  url: string;
  status_code: number | null;
  latency_ms: number | null;
  error: string | null;
  /** null while the attempt is in flight. */
  outcome: AttemptOutcome | null;
}

export interface DeliveryView {
  id: number;
  task_id: number;
  event: WebhookEvent;
  status: DeliveryState;
  /** Attempts that ran to an answer or a failure (interrupted ones are listed but not counted). */
  attempt_count: number;
  max_attempts: number;
  next_attempt_at: string | null;
  resend_of: number | null;
  created_at: string;
  finished_at: string | null;
  attempts: AttemptView[];
}

export function attemptView(a: AttemptRecord): AttemptView {
  return {
    attempt: a.attempt,
    sent_at: a.startedAt,
    url: a.url,
    status_code: a.statusCode,
    latency_ms: a.latencyMs,
    error: a.error,
    outcome: a.outcome,
  };
}

export function deliveryView(d: Delivery, attempts: readonly AttemptRecord[], maxAttempts: number): DeliveryView {
  return {
    id: d.id,
    task_id: d.taskId,
    event: d.event,
    status: d.state,
    attempt_count: d.attempts,
    max_attempts: maxAttempts,
    next_attempt_at: d.dueAt === null ? null : isoTimestamp(d.dueAt),
    resend_of: d.resendOf,
    created_at: d.createdAt,
    finished_at: d.finishedAt,
    attempts: attempts.map(attemptView),
  };
}
