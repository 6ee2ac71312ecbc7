// The storages registry: one SQLite table, one row per storage, owned by the API key that created it. The
// public parameters are stored as JSON; the secret access key is stored only sealed (see ./secrets.ts), in
// its own column, so no code path can echo it back by serialising a row.
import { ensureSchema, type Db } from '../db/sqlite.js';
import type { AtelierStorageType } from '../contract/storage-schemas.js';

export interface StorageRecord {
  id: number;
  owner: string;
  name: string;
  type: AtelierStorageType;
  /**
   * Parameters without the secret: `{path, bucket, credentials: {access_key}}` for s3 and gcs,
   * `{base_url, ...}` for web_folder, `{path}` for local.
   */
  parameters: Record<string, unknown>;
  /** The sealed secret access key (s3, gcs), null for types without one. */
  sealedSecret: string | null;
  created_at: string;
  /** Changes on every update: connectors cached for the old version are dropped. */
  version: number;
}

export interface NewStorage {
  name: string;
  type: AtelierStorageType;
  parameters: Record<string, unknown>;
  sealedSecret: string | null;
}

interface Row {
  id: number;
  owner: string;
  name: string;
  type: string;
  parameters: string;
  sealed_secret: string | null;
  created_at: string;
  version: number;
}

function fromRow(row: Row): StorageRecord {
  return {
    id: row.id,
    owner: row.owner,
    name: row.name,
    type: row.type as AtelierStorageType,
    parameters: JSON.parse(row.parameters) as Record<string, unknown>,
    sealedSecret: row.sealed_secret,
    created_at: row.created_at,
    version: row.version,
  };
}

/** Thrown when a name is already used by another storage of the same owner. */
export class DuplicateStorageNameError extends Error {
  constructor(readonly storageName: string) {
    super(`a storage named "${storageName}" already exists`);
    this.name = 'DuplicateStorageNameError';
  }
}

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string })?.code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/** ISO 8601 in UTC with an explicit "+00:00" offset, like every other timestamp Atelier answers. */
function now(): string {
  return new Date().toISOString().replace(/Z$/, '+00:00');
}

export class StorageRegistry {
  constructor(private readonly db: Db) {
    ensureSchema(db, 'storage/001_storages', [
      `CREATE TABLE storages (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         owner TEXT NOT NULL,
         name TEXT NOT NULL,
         type TEXT NOT NULL,
         parameters TEXT NOT NULL,
         sealed_secret TEXT,
         created_at TEXT NOT NULL,
         version INTEGER NOT NULL DEFAULT 1,
         UNIQUE (owner, name)
       )`,
    ]);
  }

  list(owner: string): StorageRecord[] {
    return (this.db.prepare('SELECT * FROM storages WHERE owner = ? ORDER BY id').all(owner) as Row[]).map(fromRow);
  }

  get(owner: string, id: number): StorageRecord | undefined {
    const row = this.db.prepare('SELECT * FROM storages WHERE owner = ? AND id = ?').get(owner, id) as Row | undefined;
    return row && fromRow(row);
  }

  getByName(owner: string, name: string): StorageRecord | undefined {
    const row = this.db.prepare('SELECT * FROM storages WHERE owner = ? AND name = ?').get(owner, name) as
      | Row
      | undefined;
    return row && fromRow(row);
  }

  create(owner: string, storage: NewStorage): StorageRecord {
    try {
      const info = this.db
        .prepare(
          'INSERT INTO storages (owner, name, type, parameters, sealed_secret, created_at) VALUES (?, ?, ?, ?, ?, ?)',
        )
        .run(owner, storage.name, storage.type, JSON.stringify(storage.parameters), storage.sealedSecret, now());
      return this.get(owner, Number(info.lastInsertRowid))!;
    } catch (err) {
      if (isUniqueViolation(err)) throw new DuplicateStorageNameError(storage.name);
      throw err;
    }
  }

  /** Replaces a storage's name, type, parameters and secret; undefined when it does not exist. */
  replace(owner: string, id: number, storage: NewStorage): StorageRecord | undefined {
    try {
      const info = this.db
        .prepare(
          `UPDATE storages SET name = ?, type = ?, parameters = ?, sealed_secret = ?, version = version + 1
           WHERE owner = ? AND id = ?`,
        )
        .run(storage.name, storage.type, JSON.stringify(storage.parameters), storage.sealedSecret, owner, id);
      return info.changes === 0 ? undefined : this.get(owner, id);
    } catch (err) {
      if (isUniqueViolation(err)) throw new DuplicateStorageNameError(storage.name);
      throw err;
    }
  }

  delete(owner: string, id: number): StorageRecord | undefined {
    const existing = this.get(owner, id);
    if (!existing) return undefined;
    this.db.prepare('DELETE FROM storages WHERE owner = ? AND id = ?').run(owner, id);
    return existing;
  }
}
