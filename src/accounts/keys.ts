// API keys: random bearer tokens shown once, stored only as SHA-256 digests (the tokens carry 256 bits of
// entropy, so a fast hash is enough and lookups stay O(1)). Each key has scopes and an optional credit
// balance; `null` credits means unlimited.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ensureSchema, type Db } from '../db/sqlite.js';

export const SCOPES = ['image_editing', 'image_generation', 'storage', 'video_generation'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiKey {
  id: string;
  name: string;
  scopes: Scope[];
  /** Remaining credits; null when the key is unlimited. */
  credits: number | null;
  created_at: string;
  revoked_at: string | null;
}

/** The identity of the key given by ATELIER_API_KEY: not stored, valid with every scope. */
export const ENV_KEY_ID = 'env';

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

function digest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

interface Row {
  id: string;
  name: string;
  scopes: string;
  credits: number | null;
  created_at: string;
  revoked_at: string | null;
}

function fromRow(row: Row): ApiKey {
  return { ...row, scopes: row.scopes.split(',').filter(isScope) };
}

export class KeyStore {
  private readonly envKeyDigest: Buffer | null;

  constructor(
    private readonly db: Db,
    envKey?: string,
  ) {
    ensureSchema(db, 'accounts/001_api_keys', [
      `CREATE TABLE api_keys (
         id TEXT PRIMARY KEY,
         name TEXT NOT NULL,
         digest TEXT NOT NULL UNIQUE,
         scopes TEXT NOT NULL,
         credits INTEGER,
         created_at TEXT NOT NULL,
         revoked_at TEXT
       )`,
    ]);
    this.envKeyDigest = envKey ? Buffer.from(digest(envKey), 'hex') : null;
  }

  /** Creates a key and returns its token: the only time the token is ever visible. */
  create(name: string, scopes: Scope[], credits: number | null = null): { key: ApiKey; token: string } {
    const id = randomBytes(6).toString('hex');
    const token = `atl_${id}_${randomBytes(32).toString('base64url')}`;
    const key: ApiKey = {
      id,
      name,
      scopes: [...new Set(scopes)],
      credits,
      created_at: new Date().toISOString(),
      revoked_at: null,
    };
    this.db
      .prepare(
        'INSERT INTO api_keys (id, name, digest, scopes, credits, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(id, name, digest(token), key.scopes.join(','), credits, key.created_at);
    return { key, token };
  }

  /** The key a bearer token belongs to, if it exists and is not revoked. */
  authenticate(token: string): ApiKey | undefined {
    if (this.envKeyDigest) {
      const given = Buffer.from(digest(token), 'hex');
      if (timingSafeEqual(given, this.envKeyDigest)) {
        return {
          id: ENV_KEY_ID,
          name: 'ATELIER_API_KEY',
          scopes: [...SCOPES],
          credits: null,
          created_at: new Date(0).toISOString(),
          revoked_at: null,
        };
      }
    }
    const row = this.db
      .prepare('SELECT * FROM api_keys WHERE digest = ? AND revoked_at IS NULL')
      .get(digest(token)) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  get(id: string): ApiKey | undefined {
    const row = this.db.prepare('SELECT * FROM api_keys WHERE id = ?').get(id) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  list(): ApiKey[] {
    return (this.db.prepare('SELECT * FROM api_keys ORDER BY created_at, id').all() as Row[]).map(fromRow);
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM api_keys WHERE revoked_at IS NULL').get() as { n: number }).n;
  }

  revoke(id: string): boolean {
    const res = this.db
      .prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL')
      .run(new Date().toISOString(), id);
    return res.changes > 0;
  }

  setCredits(id: string, credits: number | null): boolean {
    return this.db.prepare('UPDATE api_keys SET credits = ? WHERE id = ?').run(credits, id).changes > 0;
  }

  /**
   * Takes `amount` credits up front; false when the balance is short. Reserving before the work (and
   * refunding on failure) keeps concurrent requests from overdrawing a key.
   */
  reserveCredits(id: string, amount: number): boolean {
    if (id === ENV_KEY_ID || amount <= 0) return true;
    const res = this.db
      .prepare(
        'UPDATE api_keys SET credits = credits - ? WHERE id = ? AND (credits IS NULL OR credits >= ?)',
      )
      .run(amount, id, amount);
    return res.changes > 0;
  }

  refundCredits(id: string, amount: number): void {
    if (id === ENV_KEY_ID || amount <= 0) return;
    this.db.prepare('UPDATE api_keys SET credits = credits + ? WHERE id = ? AND credits IS NOT NULL').run(amount, id);
  }
}
