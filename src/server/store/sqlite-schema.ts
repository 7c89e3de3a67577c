import type Database from 'better-sqlite3';

/**
 * Migrations by the version they start from: MIGRATIONS[v] takes a database at schema v to v+1.
 * Append only; a released migration never changes.
 */
export const MIGRATIONS: readonly ((db: Database.Database) => void)[] = [
  (db) => {
    db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
      -- One row per task: its full image as JSON, plus seq to restore FIFO order.
      CREATE TABLE tasks (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, row TEXT NOT NULL) STRICT;
      CREATE TABLE leases (worker_id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) STRICT;
    `);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;
