// `atelier webhook ...`: webhook settings and the delivery log of one account, straight on the local store.
// Which account: `--key-id ID` (an API key id, or `env` for the ATELIER_API_KEY key); without it, the only
// account there is (the one active stored key, or `env` when ATELIER_API_KEY is set and no key is stored).
// A re-send written here is picked up by a running server within its poll interval (1 s), or at its next start.
import { Command, InvalidArgumentError } from 'commander';
import { join } from 'node:path';
import { loadConfig, type Config } from '../config.js';
import { openDatabase, type Db } from '../db/sqlite.js';
import { ENV_KEY_ID, KeyStore } from '../accounts/keys.js';
import { installationSecret } from '../db/installation-secret.js';
import { isAtelierError } from '../errors.js';
import { OutboundGuard } from '../storage/guard.js';
import { DeliveryStore } from '../webhooks/deliveries.js';
import { maxAttempts } from '../webhooks/schedule.js';
import { validateWebhookUrl } from '../webhooks/service.js';
import {
  deriveSecretKey,
  isWebhookEvent,
  settingsView,
  WEBHOOK_EVENTS,
  WebhookSettingsStore,
  type WebhookEvent,
} from '../webhooks/settings.js';
import { createUrlCheck } from '../webhooks/transport.js';
import { deliveryView, type DeliveryView } from '../webhooks/views.js';

interface Opened {
  config: Config;
  db: Db;
  keys: KeyStore;
  settings: WebhookSettingsStore;
  deliveries: DeliveryStore;
}

function open(): Opened {
  const config = loadConfig();
  const db = openDatabase(join(config.dataDir, 'atelier.db'));
  return {
    config,
    db,
    keys: new KeyStore(db),
    settings: new WebhookSettingsStore(db, deriveSecretKey(installationSecret(config.dataDir))),
    deliveries: new DeliveryStore(db),
  };
}

/** Opens the store, runs `fn`, closes it; a failure is printed and sets the exit code. */
async function withStore(fn: (o: Opened) => void | Promise<void>): Promise<void> {
  const opened = open();
  try {
    await fn(opened);
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    if (isAtelierError(err) && Array.isArray(err.details.errors)) {
      for (const e of err.details.errors as { msg?: string }[]) if (e.msg) console.error(`  ${e.msg}`);
    }
    process.exitCode = 1;
  } finally {
    opened.db.close();
  }
}

/** The account the command acts on; see the file comment. Throws a message for the operator otherwise. */
export function resolveAccount(keys: KeyStore, envKeySet: boolean, keyId?: string): string {
  if (keyId !== undefined) {
    if (keyId === ENV_KEY_ID) return keyId;
    const key = keys.get(keyId);
    if (!key) throw new Error(`No API key with id ${keyId}.`);
    if (key.revoked_at) throw new Error(`API key ${keyId} is revoked.`);
    return keyId;
  }
  const candidates = keys.list().filter((k) => !k.revoked_at).map((k) => k.id);
  if (envKeySet) candidates.push(ENV_KEY_ID);
  if (candidates.length === 1) return candidates[0]!;
  if (candidates.length === 0) {
    throw new Error(`No API key exists. Create one with "atelier keys create", or pass --key-id ${ENV_KEY_ID} for ATELIER_API_KEY.`);
  }
  throw new Error(`Several API keys exist; choose one with --key-id (${candidates.join(', ')}).`);
}

function parseEvents(value: string): WebhookEvent[] {
  const events = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = events.filter((e) => !isWebhookEvent(e));
  if (bad.length > 0 || events.length === 0) {
    throw new InvalidArgumentError(`unknown event(s) ${bad.join(', ')}; known: ${WEBHOOK_EVENTS.join(', ')}`);
  }
  return events as WebhookEvent[];
}

function parseId(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function printDelivery(d: DeliveryView): void {
  const next = d.next_attempt_at ? `  next attempt ${d.next_attempt_at}` : '';
  const resend = d.resend_of ? `  re-send of ${d.resend_of}` : '';
  console.log(
    `delivery ${d.id}  task ${d.task_id}  ${d.event}  ${d.status}  ${d.attempt_count}/${d.max_attempts} attempts${next}${resend}`,
  );
  for (const a of d.attempts) {
    const status = a.status_code === null ? '-' : String(a.status_code);
    const latency = a.latency_ms === null ? '-' : `${a.latency_ms} ms`;
    const outcome = a.outcome ?? 'in flight';
    console.log(`  #${a.attempt}  ${a.sent_at}  status ${status}  ${latency}  ${outcome}${a.error ? `  ${a.error}` : ''}`);
  }
}

const KEY_OPTION = ['--key-id <id>', `the API key whose webhook this is ("${ENV_KEY_ID}" for ATELIER_API_KEY)`] as const;

export function registerWebhookCommands(program: Command): void {
  const cmd = program.command('webhook').description('Webhook settings and deliveries of an API key.');

  cmd
    .command('set')
    .description('Set the webhook URL, events and secret (replaces the URL and events).')
    .requiredOption('--url <url>', 'where to POST notifications (http or https)')
    .option('--events <list>', `comma-separated events (${WEBHOOK_EVENTS.join(', ')})`, parseEvents, [...WEBHOOK_EVENTS])
    .option('--secret <secret>', 'shared secret for X-Claid-Hmac-SHA256 signatures (kept if not given)')
    .option('--clear-secret', 'remove the shared secret: send unsigned')
    .option(...KEY_OPTION)
    .option('--json', 'print JSON')
    .action((opts: { url: string; events: WebhookEvent[]; secret?: string; clearSecret?: boolean; keyId?: string; json?: boolean }) =>
      withStore(async ({ config, keys, settings }) => {
        if (opts.secret !== undefined && opts.clearSecret) throw new Error('Give --secret or --clear-secret, not both.');
        if (opts.secret === '') throw new Error('--secret cannot be empty; use --clear-secret to remove it.');
        const account = resolveAccount(keys, Boolean(config.apiKey), opts.keyId);
        const url = await validateWebhookUrl(opts.url, createUrlCheck(new OutboundGuard({ allowlist: config.urlAllowlist })), ['url']);
        const secret = opts.clearSecret ? null : opts.secret;
        const view = settingsView(settings.put(account, { url: url.href, events: opts.events, secret }));
        if (opts.json) return console.log(JSON.stringify({ account, ...view }));
        console.log(`Webhook of ${account}: ${view.url}  events=${view.events.join(',')}  secret=${view.secret_set ? 'set' : 'none'}`);
      }),
    );

  cmd
    .command('show')
    .description('Show the webhook settings (the secret is never shown).')
    .option(...KEY_OPTION)
    .option('--json', 'print JSON')
    .action((opts: { keyId?: string; json?: boolean }) =>
      withStore(({ config, keys, settings }) => {
        const account = resolveAccount(keys, Boolean(config.apiKey), opts.keyId);
        const current = settings.get(account);
        if (opts.json) return console.log(JSON.stringify(current ? { account, ...settingsView(current) } : null));
        if (!current) return console.log(`No webhook is configured for ${account}.`);
        const view = settingsView(current);
        console.log(`Webhook of ${account}: ${view.url}  events=${view.events.join(',')}  secret=${view.secret_set ? 'set' : 'none'}`);
        console.log(`Updated ${view.updated_at}.`);
      }),
    );

  cmd
    .command('disable')
    .description('Remove the webhook; deliveries still waiting are cancelled.')
    .option(...KEY_OPTION)
    .action((opts: { keyId?: string }) =>
      withStore(({ config, keys, settings, deliveries }) => {
        const account = resolveAccount(keys, Boolean(config.apiKey), opts.keyId);
        if (!settings.remove(account)) {
          console.error(`No webhook is configured for ${account}.`);
          process.exitCode = 1;
          return;
        }
        const cancelled = deliveries.cancelPending(account);
        console.log(`Webhook of ${account} disabled; ${cancelled} waiting deliveries cancelled.`);
      }),
    );

  cmd
    .command('deliveries')
    .description('The delivery log, newest first: every attempt with its time, status code, latency and error.')
    .option('--task <id>', 'only deliveries of this task', parseId)
    .option('--limit <n>', 'at most this many deliveries (default 50, max 500)', parseId)
    .option(...KEY_OPTION)
    .option('--json', 'print JSON')
    .action((opts: { task?: number; limit?: number; keyId?: string; json?: boolean }) =>
      withStore(({ config, keys, deliveries }) => {
        const account = resolveAccount(keys, Boolean(config.apiKey), opts.keyId);
        const attempts = maxAttempts(config.webhooks.retryDelaysMs);
        const views = deliveries
          .list(account, { taskId: opts.task, limit: opts.limit })
          .map((d) => deliveryView(d, deliveries.attempts(d.id), attempts));
        if (opts.json) return console.log(JSON.stringify(views));
        if (views.length === 0) return console.log('No deliveries.');
        views.forEach(printDelivery);
      }),
    );

  cmd
    .command('resend <delivery-id>')
    .description('Send a delivery again, as a new delivery with a fresh schedule.')
    .option(...KEY_OPTION)
    .option('--json', 'print JSON')
    .action((id: string, opts: { keyId?: string; json?: boolean }) =>
      withStore(({ config, keys, settings, deliveries }) => {
        const deliveryId = parseId(id);
        const account = resolveAccount(keys, Boolean(config.apiKey), opts.keyId);
        if (!deliveries.get(account, deliveryId)) throw new Error(`No delivery ${deliveryId} for ${account}.`);
        if (!settings.get(account)) throw new Error(`No webhook is configured for ${account}.`);
        const created = deliveries.resend(account, deliveryId)!;
        const view = deliveryView(created, [], maxAttempts(config.webhooks.retryDelaysMs));
        if (opts.json) return console.log(JSON.stringify(view));
        console.log(`Delivery ${view.id} queued (re-send of ${deliveryId}); a running server sends it within a second.`);
      }),
    );
}
