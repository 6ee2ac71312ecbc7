// Sends webhook deliveries on their schedule. The schedule lives in the database (DeliveryStore), not in
// timers: a timer only wakes the dispatcher for the earliest due delivery, and a slow poll picks up deliveries
// written by another process (a re-send from the CLI) and attempts whose lease ran out. So a restart resumes
// every schedule where it stood, and a delivery due while the server was down goes out as soon as it is back.
//
// Exactly-once is impossible over HTTP; delivery is at-least-once with a small duplicate window:
// - The 2xx verdict is written synchronously the moment the status arrives (one SQLite transaction, no await
//   in between), and a delivered delivery is never claimed again, before or after a restart.
// - What can still repeat: a crash after the receiver answered but before that write, or a crash or shutdown
//   while the request is in flight. Either leaves the attempt open; it is logged `interrupted` and the
//   delivery goes out again at once. Receivers should de-duplicate on the task id and status in the body (or
//   the `X-Atelier-Delivery` header).
import { randomUUID } from 'node:crypto';
import type { TaskLogger } from '../tasks/index.js';
import type { ClaimedAttempt, Delivery, DeliveryStore } from './deliveries.js';
import { afterAttempt, classifyAttempt, DEFAULT_ATTEMPT_TIMEOUT_MS, DEFAULT_RETRY_DELAYS_MS, type AttemptResult } from './schedule.js';
import { SIGNATURE_HEADER, signatureHeaderValue } from './signing.js';
import type { WebhookSettings, WebhookSettingsStore } from './settings.js';

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: Buffer;
  timeoutMs: number;
  signal: AbortSignal;
}

/**
 * Makes one POST and reports what happened. It must not throw for anything the receiver or the network does:
 * those are `network` or `refused` results. (A throw is treated as a network failure all the same.)
 */
export type WebhookTransport = (request: WebhookRequest) => Promise<AttemptResult>;

export interface DispatcherOptions {
  deliveries: DeliveryStore;
  settings: WebhookSettingsStore;
  transport: WebhookTransport;
  /** Waits between attempts; their count + 1 is the number of attempts. Default 3 s, 6 s, 12 s. */
  retryDelaysMs?: readonly number[];
  /** Per-attempt timeout. Default 30 s. */
  timeoutMs?: number;
  /** Attempts in flight at once. Default 16. */
  concurrency?: number;
  /** How often to look for work written elsewhere and for stalled attempts. Default 1 s. */
  pollMs?: number;
  /** Lease owner name; default one id per dispatcher. */
  instanceId?: string;
  /** This process is the only user of the store: at start, attempts held by any other id are abandoned. */
  exclusive?: boolean;
  logger?: TaskLogger;
  clock?: () => number;
}

const USER_AGENT = 'Atelier-Webhooks/0.1';
const DEFAULT_CONCURRENCY = 16;
const DEFAULT_POLL_MS = 1_000;
/** Lease margin over the timeout, so a live attempt is never taken for a stalled one. */
const LEASE_MARGIN_MS = 60_000;
const INTERRUPTED_BY_SHUTDOWN = 'interrupted: Atelier shut down during the attempt; it will be sent again';
const INTERRUPTED_BY_CRASH = 'interrupted: Atelier stopped during the attempt; it will be sent again';

const quietLogger: TaskLogger = { debug() {}, info() {}, warn() {}, error() {} };

interface InFlight {
  claimed: ClaimedAttempt;
  controller: AbortController;
  done: Promise<void>;
}

export class WebhookDispatcher {
  readonly instanceId: string;
  readonly retryDelaysMs: readonly number[];
  readonly timeoutMs: number;
  private readonly deliveries: DeliveryStore;
  private readonly settings: WebhookSettingsStore;
  private readonly transport: WebhookTransport;
  private readonly concurrency: number;
  private readonly pollMs: number;
  private readonly exclusive: boolean;
  private readonly logger: TaskLogger;
  private readonly clock: () => number;
  private readonly inFlight = new Set<InFlight>();
  private state: 'idle' | 'running' | 'stopping' = 'idle';
  private timer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;

  constructor(options: DispatcherOptions) {
    this.deliveries = options.deliveries;
    this.settings = options.settings;
    this.transport = options.transport;
    this.retryDelaysMs = [...(options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS)];
    this.timeoutMs = options.timeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS;
    this.concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    this.pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    this.instanceId = options.instanceId ?? `webhooks-${process.pid}-${randomUUID()}`;
    this.exclusive = options.exclusive ?? true;
    this.logger = options.logger ?? quietLogger;
    this.clock = options.clock ?? Date.now;
    if (this.retryDelaysMs.some((d) => !Number.isInteger(d) || d < 0)) throw new RangeError('retry delays must be non-negative integers');
    if (!Number.isInteger(this.timeoutMs) || this.timeoutMs < 1) throw new RangeError('timeoutMs must be a positive integer');
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) throw new RangeError('concurrency must be a positive integer');
  }

  get activeCount(): number {
    return this.inFlight.size;
  }

  start(): void {
    if (this.state !== 'idle') return;
    this.state = 'running';
    if (this.exclusive) this.recover({ kind: 'foreign', liveOwner: this.instanceId }, INTERRUPTED_BY_CRASH);
    this.pollTimer = setInterval(() => {
      this.recover({ kind: 'expired' }, INTERRUPTED_BY_CRASH);
      this.pump();
    }, this.pollMs);
    this.pollTimer.unref();
    this.pump();
  }

  /**
   * Stops sending. Attempts in flight get `graceMs` to finish; those still running are aborted, logged as
   * interrupted, and go out again at the next start.
   */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.state !== 'running') return;
    this.state = 'stopping';
    clearInterval(this.pollTimer);
    clearTimeout(this.timer);
    this.pollTimer = this.timer = undefined;
    const pending = [...this.inFlight].map((f) => f.done);
    if (pending.length > 0) {
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled(pending),
        new Promise<void>((r) => (grace = setTimeout(r, graceMs))),
      ]);
      clearTimeout(grace);
      for (const f of this.inFlight) f.controller.abort(new Error('shutdown'));
      await Promise.allSettled([...this.inFlight].map((f) => f.done));
    }
    this.state = 'idle';
  }

  /** Something became due (a new delivery, a re-send): look now rather than at the next poll. */
  wake(): void {
    this.pump();
  }

  /** Claims due deliveries up to the concurrency limit, then sleeps until the next one is due. */
  private pump(): void {
    if (this.state !== 'running') return;
    try {
      while (this.inFlight.size < this.concurrency) {
        const claimed = this.deliveries.claim(this.instanceId, this.timeoutMs + LEASE_MARGIN_MS, (d) => this.urlFor(d));
        if (!claimed) break;
        this.launch(claimed);
      }
      this.armTimer();
    } catch (err) {
      this.logger.error({ err }, 'claiming webhook deliveries failed');
    }
  }

  private armTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.inFlight.size >= this.concurrency) return; // the next finished attempt pumps again
    const due = this.deliveries.nextDueAt();
    if (due === null) return;
    const wait = Math.max(0, due - this.clock());
    if (wait >= this.pollMs) return; // the poll will get there first
    this.timer = setTimeout(() => this.pump(), wait);
    this.timer.unref();
  }

  private urlFor(delivery: Delivery): string {
    return this.settings.get(delivery.account)?.url ?? '';
  }

  private launch(claimed: ClaimedAttempt): void {
    const flight: InFlight = { claimed, controller: new AbortController(), done: Promise.resolve() };
    this.inFlight.add(flight);
    flight.done = this.attempt(flight)
      .catch((err: unknown) => this.logger.error({ err, deliveryId: claimed.delivery.id }, 'webhook attempt failed'))
      .finally(() => {
        this.inFlight.delete(flight);
        this.pump();
      });
  }

  private async attempt(flight: InFlight): Promise<void> {
    const { claimed } = flight;
    const { delivery, attempt } = claimed;
    const context = { deliveryId: delivery.id, taskId: delivery.taskId, attempt };
    // Settings are read at each attempt: a rotated secret signs from then on; a disabled webhook stops.
    const settings = this.settings.get(delivery.account);
    if (!settings) {
      this.deliveries.cancelClaimed(claimed, 'cancelled: the webhook was disabled');
      this.logger.info(context, 'webhook delivery cancelled: webhook disabled');
      return;
    }
    const started = performance.now();
    let result: AttemptResult;
    try {
      result = await this.transport({
        url: settings.url,
        headers: this.headersFor(delivery, attempt, settings),
        body: delivery.body,
        timeoutMs: this.timeoutMs,
        signal: flight.controller.signal,
      });
    } catch (err) {
      result = { kind: 'network', error: err instanceof Error ? err.message : String(err) };
    }
    const latencyMs = performance.now() - started;
    if (flight.controller.signal.aborted) {
      this.deliveries.interrupt(claimed, INTERRUPTED_BY_SHUTDOWN, latencyMs);
      return;
    }
    const verdict = classifyAttempt(result);
    const next = afterAttempt(verdict, attempt, this.clock(), this.retryDelaysMs);
    const ours = this.deliveries.finish(claimed, {
      url: settings.url,
      statusCode: result.kind === 'response' ? result.status : null,
      latencyMs,
      error: result.kind === 'response' ? (result.note ?? (verdict === 'delivered' ? null : `HTTP ${result.status}`)) : result.error,
      verdict,
      next,
    });
    const log = { ...context, verdict, next: next.state, status: result.kind === 'response' ? result.status : undefined };
    if (!ours) this.logger.warn(log, 'webhook attempt finished after its lease was taken back');
    else if (next.state === 'failed') this.logger.warn(log, 'webhook delivery failed');
    else this.logger.debug(log, 'webhook attempt finished');
  }

  private headersFor(delivery: Delivery, attempt: number, settings: WebhookSettings): Record<string, string> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'x-atelier-delivery': String(delivery.id),
      'x-atelier-attempt': String(attempt),
      'x-atelier-event': delivery.event,
    };
    if (settings.secret !== null) headers[SIGNATURE_HEADER] = signatureHeaderValue(settings.secret, delivery.body);
    return headers;
  }

  private recover(scope: Parameters<DeliveryStore['recoverStalled']>[0], reason: string): void {
    try {
      const recovered = this.deliveries.recoverStalled(scope, reason);
      for (const d of recovered) this.logger.warn({ deliveryId: d.id, taskId: d.taskId }, 'webhook attempt interrupted; sending again');
    } catch (err) {
      this.logger.error({ err }, 'recovering webhook deliveries failed');
    }
  }
}
