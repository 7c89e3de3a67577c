// store/: durable implementations of the core Store interface.
// Imports src/core only (test/architecture/walls.test.ts).
import type Database from 'better-sqlite3';
import type { CostSnapshot } from '../../core/cost-aggregator.js';

/**
 * Migrations by the version they start from: MIGRATIONS[v] takes a database at schema v to v+1.
 * Append only; a released migration never changes. All of them run in one transaction with the
 * `user_version` bump, so a database is always at exactly one version.
 */
export const MIGRATIONS: readonly ((db: Database.Database) => void)[] = [
  // 1: the coordinator's image, one row per task and per lease; everything else in `meta`.
  (db) => {
    db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
      -- One row per task: its full image as JSON, plus seq to restore FIFO order.
      CREATE TABLE tasks (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, row TEXT NOT NULL) STRICT;
      CREATE TABLE leases (worker_id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) STRICT;
    `);
  },
  // 2: spend by worker, and the remembered cost report ids one row each, so that a commit writes
  // the accounts that changed and the ids that are new instead of the whole cost snapshot (which
  // grows to workers × 1024 ids) in `meta`.
  (db) => {
    db.exec(`
      CREATE TABLE cost_accounts (
        worker_id TEXT PRIMARY KEY,
        spent_micro_usd INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        warned INTEGER NOT NULL,
        exceeded INTEGER NOT NULL
      ) STRICT;
      -- n counts a worker's remembered ids (1, 2, ...); only its last RECENT_REPORTS are kept.
      CREATE TABLE cost_reports (
        worker_id TEXT NOT NULL,
        n INTEGER NOT NULL,
        report_id TEXT NOT NULL,
        PRIMARY KEY (worker_id, n)
      ) STRICT, WITHOUT ROWID;
    `);
    const old = db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'costs'").get();
    if (old === undefined) return;
    const snapshot = JSON.parse(old.value) as CostSnapshot;
    const account = db.prepare('INSERT INTO cost_accounts VALUES (?, ?, ?, ?, ?, ?)');
    const report = db.prepare('INSERT INTO cost_reports VALUES (?, ?, ?)');
    for (const w of snapshot.workers) {
      account.run(w.workerId, w.spentMicroUsd, w.inputTokens, w.outputTokens, +w.warned, +w.exceeded);
      for (const [i, id] of (w.recentReportIds ?? []).entries()) report.run(w.workerId, i + 1, id);
    }
    db.prepare("INSERT INTO meta (key, value) VALUES ('cost_global', ?)").run(
      JSON.stringify(snapshot.global),
    );
    db.prepare("DELETE FROM meta WHERE key = 'costs'").run();
  },
  // 3: records of the subsystems beside the task graph (workspaces, merge-queue entries).
  (db) => {
    db.exec(`
      CREATE TABLE records (kind TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (kind, id)) STRICT, WITHOUT ROWID;
    `);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;
