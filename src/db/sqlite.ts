// The embedded store: one SQLite file in the data directory, opened once per process and shared by the
// modules that persist state (keys, tasks, temporary outputs). Each module owns its tables and creates them
// with `ensureSchema`, so no module reads another's tables directly.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type Db = Database.Database;

export function openDatabase(file: string): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  // WAL lets readers (GET status) proceed while a worker writes; NORMAL sync is durable across process
  // crashes (not power loss), which is what task recovery needs.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  return db;
}

/** Runs `statements` once per `name`: a tiny migration ledger so schema changes can be added later in order. */
export function ensureSchema(db: Db, name: string, statements: string[]): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)');
  const done = db.prepare('SELECT 1 FROM schema_migrations WHERE name = ?').get(name);
  if (done) return;
  db.transaction(() => {
    for (const sql of statements) db.exec(sql);
    db.prepare('INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)').run(name, new Date().toISOString());
  })();
}
