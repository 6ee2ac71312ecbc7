// The webhook feature as one object for the rest of Atelier: settings per account, the view registry that
// turns a finished task into the body its GET endpoint answers, the 'settled' hook that records a delivery,
// and the dispatcher that sends them.
import type { Db } from '../db/sqlite.js';
import { AtelierError, ValidationError } from '../errors.js';
import type { TaskKind, TaskLogger, TaskRecord } from '../tasks/index.js';
import { DeliveryStore, type Delivery } from './deliveries.js';
import { WebhookDispatcher, type DispatcherOptions, type WebhookTransport } from './dispatcher.js';
import { maxAttempts } from './schedule.js';
import { eventForStatus, WebhookSettingsStore, type WebhookSettings, type WebhookSettingsInput } from './settings.js';
import { deliveryView, type DeliveryView } from './views.js';

/**
 * Renders a finished task as the JSON value its GET result endpoint answers (the whole body, `{"data": ...}`).
 * It must be the very function (or produce the very value) the endpoint uses, so the webhook body and the GET
 * answer are the same bytes.
 */
export type TaskView = (task: TaskRecord) => unknown;

/** Checks that a URL may be used as a webhook target; throws a message for the user when it may not. */
export type UrlCheck = (url: URL) => Promise<void>;

export interface WebhooksOptions extends Omit<DispatcherOptions, 'deliveries' | 'settings' | 'transport'> {
  db: Db;
  /** From deriveSecretKey(installation secret). */
  secretKey: Buffer;
  transport: WebhookTransport;
  checkUrl: UrlCheck;
}

export const MAX_WEBHOOK_URL_LENGTH = 4096;

/**
 * Parses and checks a webhook URL: absolute http(s), no fragment, and allowed by the outbound guard (no private
 * or metadata address unless allowlisted). Failures are 422s located at `loc`.
 */
export async function validateWebhookUrl(raw: string, checkUrl: UrlCheck, loc: string[] = ['body', 'url']): Promise<URL> {
  const refuse = (msg: string, type = 'value_error'): never => {
    const message = msg.startsWith('url: ') ? msg : `url: ${msg}`;
    throw new ValidationError(message, { errors: [{ loc, msg: message.slice('url: '.length), type }] }, 'invalid_webhook_url');
  };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refuse('not a valid absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return refuse('only http and https URLs can receive webhooks');
  if (url.hash !== '') return refuse('a webhook URL cannot have a #fragment');
  if (raw.length > MAX_WEBHOOK_URL_LENGTH) return refuse(`longer than ${MAX_WEBHOOK_URL_LENGTH} characters`);
  try {
    await checkUrl(url);
  } catch (err) {
    return refuse(err instanceof Error ? err.message : String(err), 'url_not_allowed');
  }
  return url;
}

export function webhookNotConfigured(): AtelierError {
  return new AtelierError(409, 'user_settings', 'webhook_not_configured', 'No webhook is configured for this API key.');
}

export class Webhooks {
  readonly settings: WebhookSettingsStore;
  readonly deliveries: DeliveryStore;
  readonly dispatcher: WebhookDispatcher;
  readonly maxAttempts: number;
  private readonly views = new Map<TaskKind, TaskView>();
  private readonly checkUrl: UrlCheck;
  private readonly logger: TaskLogger | undefined;
  private readonly unviewable = new Set<TaskKind>();

  constructor(options: WebhooksOptions) {
    const { db, secretKey, transport, checkUrl, ...rest } = options;
    this.settings = new WebhookSettingsStore(db, secretKey, options.clock);
    this.deliveries = new DeliveryStore(db, options.clock);
    this.dispatcher = new WebhookDispatcher({ ...rest, deliveries: this.deliveries, settings: this.settings, transport });
    this.maxAttempts = maxAttempts(this.dispatcher.retryDelaysMs);
    this.checkUrl = checkUrl;
    this.logger = options.logger;
  }

  /** Makes tasks of `kind` notify: `view` renders the body of their GET result endpoint. */
  registerTaskView(kind: TaskKind, view: TaskView): this {
    if (this.views.has(kind)) throw new Error(`A webhook view for task kind "${kind}" is already registered.`);
    this.views.set(kind, view);
    return this;
  }

  /**
   * The queue's 'settled' listener. Synchronous up to the insert on purpose: the task's end is committed just
   * before, and the shorter the gap, the smaller the window in which a crash loses the notification.
   */
  taskSettled(task: TaskRecord): Delivery | undefined {
    const event = eventForStatus(task.status);
    if (!event) return undefined;
    const settings = this.settings.get(task.owner);
    if (!settings || !settings.events.includes(event)) return undefined;
    const view = this.views.get(task.kind);
    if (!view) {
      if (!this.unviewable.has(task.kind)) {
        this.unviewable.add(task.kind);
        this.logger?.warn({ kind: task.kind }, 'no webhook view registered for this task kind; no notification sent');
      }
      return undefined;
    }
    const body = Buffer.from(JSON.stringify(view(task)), 'utf8');
    const delivery = this.deliveries.create({ account: task.owner, taskId: task.id, taskKind: task.kind, event, body });
    if (delivery) this.dispatcher.wake();
    return delivery;
  }

  get(account: string): WebhookSettings | undefined {
    return this.settings.get(account);
  }

  async configure(account: string, input: WebhookSettingsInput): Promise<WebhookSettings> {
    const url = await validateWebhookUrl(input.url, this.checkUrl);
    return this.settings.put(account, { ...input, url: url.href });
  }

  /** Removes the settings and cancels deliveries still waiting; undefined when none were set. */
  disable(account: string): { cancelled: number } | undefined {
    if (!this.settings.remove(account)) return undefined;
    return { cancelled: this.deliveries.cancelPending(account) };
  }

  /**
   * Queues a new delivery of the same body, with a fresh schedule, to the current settings. Undefined when the
   * account has no such delivery; a 409 when it has no webhook to send to.
   */
  resend(account: string, deliveryId: number): Delivery | undefined {
    if (this.deliveries.get(account, deliveryId) && !this.settings.get(account)) throw webhookNotConfigured();
    const delivery = this.deliveries.resend(account, deliveryId);
    if (delivery) this.dispatcher.wake();
    return delivery;
  }

  view(delivery: Delivery): DeliveryView {
    return deliveryView(delivery, this.deliveries.attempts(delivery.id), this.maxAttempts);
  }

  start(): void {
    this.dispatcher.start();
  }

  stop(graceMs?: number): Promise<void> {
    return this.dispatcher.stop(graceMs);
  }
}
