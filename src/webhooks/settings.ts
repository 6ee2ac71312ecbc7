// Per-account webhook settings: where to send, which events, and an optional shared secret. An account is an
// API key id (the ATELIER_API_KEY key is 'env'). The secret is needed in clear to sign, so it cannot be hashed;
// it is encrypted with AES-256-GCM under a key derived from the installation secret (the `secret` file in the
// data directory). That keeps it out of database copies and backups; whoever can read the whole data directory
// can still recover it, which is the most any server that must sign can promise. It is never returned by the
// API or the CLI: they say only whether one is set.
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import type { TaskStatus } from '../contract/types.js';
import { ensureSchema, type Db } from '../db/sqlite.js';
import { isoTimestamp } from '../tasks/outcome.js';

/** The reference's two subscriptions: "Success pipelines" (DONE) and "Failed pipelines" (ERROR). */
export const WEBHOOK_EVENTS = ['success', 'failed'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export function isWebhookEvent(value: string): value is WebhookEvent {
  return (WEBHOOK_EVENTS as readonly string[]).includes(value);
}

/** The event a task's final status raises, or null for a status that raises none (CANCELLED, non-final). */
export function eventForStatus(status: TaskStatus): WebhookEvent | null {
  if (status === 'DONE') return 'success';
  if (status === 'ERROR') return 'failed';
  return null;
}

export interface WebhookSettings {
  account: string;
  url: string;
  events: WebhookEvent[];
  /** The shared secret in clear, or null when signatures are off. Never leaves the process. */
  secret: string | null;
  createdAt: string;
  updatedAt: string;
}

/** What the API and the CLI show: everything but the secret. */
export interface WebhookSettingsView {
  url: string;
  events: WebhookEvent[];
  secret_set: boolean;
  created_at: string;
  updated_at: string;
}

export function settingsView(s: WebhookSettings): WebhookSettingsView {
  return { url: s.url, events: s.events, secret_set: s.secret !== null, created_at: s.createdAt, updated_at: s.updatedAt };
}

export interface WebhookSettingsInput {
  url: string;
  events: readonly WebhookEvent[];
  /** A new secret; null removes it; undefined keeps the stored one. */
  secret?: string | null;
}

// ---------------------------------------------------------------------------------------------------------
// Secret encryption

const SECRET_FORMAT = 'v1';

/** Derives the 256-bit key for webhook secrets from the installation secret, separate from its other uses. */
export function deriveSecretKey(installationSecret: string): Buffer {
  return createHmac('sha256', installationSecret).update('atelier/webhook-secrets/v1').digest();
}

/**
 * `v1:<iv>:<tag>:<ciphertext>` (base64url). The account id is authenticated data, so a ciphertext copied onto
 * another account's row does not decrypt.
 */
export function encryptSecret(key: Buffer, account: string, secret: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(account, 'utf8'));
  const data = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return [SECRET_FORMAT, iv, cipher.getAuthTag(), data].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join(':');
}

export function decryptSecret(key: Buffer, account: string, stored: string): string {
  const [format, iv, tag, data] = stored.split(':');
  if (format !== SECRET_FORMAT || iv === undefined || tag === undefined || data === undefined) {
    throw new Error('Unrecognised webhook secret format.');
  }
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(account, 'utf8'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
}

// ---------------------------------------------------------------------------------------------------------
// Store

interface Row {
  account: string;
  url: string;
  events: string;
  secret: string | null;
  created_at: string;
  updated_at: string;
}

export class WebhookSettingsStore {
  private readonly statements;

  constructor(
    private readonly db: Db,
    /** From deriveSecretKey(installation secret). */
    private readonly key: Buffer,
    private readonly clock: () => number = Date.now,
  ) {
    ensureSchema(db, 'webhooks/001_settings', [
      `CREATE TABLE webhook_settings (
         account TEXT PRIMARY KEY,
         url TEXT NOT NULL,
         events TEXT NOT NULL,
         secret TEXT,
         created_at TEXT NOT NULL,
         updated_at TEXT NOT NULL
       )`,
    ]);
    this.statements = {
      get: db.prepare<[string], Row>('SELECT * FROM webhook_settings WHERE account = ?'),
      upsert: db.prepare<Record<string, unknown>>(
        `INSERT INTO webhook_settings (account, url, events, secret, created_at, updated_at)
         VALUES (@account, @url, @events, @secret, @now, @now)
         ON CONFLICT (account) DO UPDATE SET url = @url, events = @events, secret = @secret, updated_at = @now`,
      ),
      remove: db.prepare<[string]>('DELETE FROM webhook_settings WHERE account = ?'),
    };
  }

  get(account: string): WebhookSettings | undefined {
    const row = this.statements.get.get(account);
    if (!row) return undefined;
    return {
      account: row.account,
      url: row.url,
      events: row.events.split(',').filter(isWebhookEvent),
      secret: row.secret === null ? null : decryptSecret(this.key, account, row.secret),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }

  /** Creates or replaces an account's settings. Events keep the canonical order and appear once each. */
  put(account: string, input: WebhookSettingsInput): WebhookSettings {
    const events = WEBHOOK_EVENTS.filter((e) => input.events.includes(e));
    if (events.length === 0) throw new RangeError('At least one webhook event is required.');
    this.db.transaction(() => {
      const current = this.statements.get.get(account);
      const secret =
        input.secret === undefined
          ? (current?.secret ?? null)
          : input.secret === null
            ? null
            : encryptSecret(this.key, account, input.secret);
      this.statements.upsert.run({
        account,
        url: input.url,
        events: events.join(','),
        secret,
        now: isoTimestamp(this.clock()),
      });
    })();
    return this.get(account)!;
  }

  /** Removes an account's settings; false when there were none. */
  remove(account: string): boolean {
    return this.statements.remove.run(account).changes > 0;
  }
}
