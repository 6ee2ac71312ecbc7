// Webhooks: per-account settings, signing, the persisted delivery schedule and its log.
export { webhookConfigFromEnv, type WebhookConfig } from './config.js';
export {
  DeliveryStore,
  type AttemptOutcome,
  type AttemptRecord,
  type ClaimedAttempt,
  type Delivery,
  type DeliveryListOptions,
  type DeliveryState,
} from './deliveries.js';
export { WebhookDispatcher, type DispatcherOptions, type WebhookRequest, type WebhookTransport } from './dispatcher.js';
export {
  afterAttempt,
  classifyAttempt,
  DEFAULT_ATTEMPT_TIMEOUT_MS,
  DEFAULT_RETRY_DELAYS_MS,
  maxAttempts,
  nextAttemptAt,
  parseDelays,
  type AttemptResult,
  type AttemptVerdict,
} from './schedule.js';
export {
  MAX_WEBHOOK_URL_LENGTH,
  validateWebhookUrl,
  webhookNotConfigured,
  Webhooks,
  type TaskView,
  type UrlCheck,
  type WebhooksOptions,
} from './service.js';
export {
  deriveSecretKey,
  eventForStatus,
  settingsView,
  WEBHOOK_EVENTS,
  WebhookSettingsStore,
  type WebhookEvent,
  type WebhookSettings,
  type WebhookSettingsInput,
  type WebhookSettingsView,
} from './settings.js';
export { SIGNATURE_HEADER, signatureHeaderValue, verifySignatureHeader } from './signing.js';
export { createUrlCheck, guardedTransport } from './transport.js';
export { deliveryView, type AttemptView, type DeliveryView } from './views.js';
