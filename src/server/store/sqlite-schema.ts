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
  // 4: a task in three rows by its FIFO position (seq), so a transition rewrites ~50 bytes instead
  // of the ~400-byte JSON image: what never changes once added (task_specs: deps, priority,
  // category, metadata, paths, attempts allowed, creation time, as JSON), what every transition
  // changes (task_state: narrow columns), and the result (task_results, written once on
  // completion). Rows keyed by seq sit in insertion order, so the tasks a commit touches (the
  // ones finishing together) share pages. task_state is not STRICT so that a time that is not a
  // whole number of milliseconds is kept as it was given (INTEGER affinity stores the rest as
  // integers).
  (db) => {
    db.exec(`
      CREATE TABLE task_specs (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, spec TEXT NOT NULL) STRICT;
      CREATE TABLE task_state (
        seq INTEGER PRIMARY KEY,
        status INTEGER NOT NULL,
        worker_id TEXT,
        attempt INTEGER NOT NULL,
        attempt_floor INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        assigned_at INTEGER,
        started_at INTEGER,
        finished_at INTEGER,
        error TEXT,
        cancelled_by TEXT
      );
      CREATE TABLE task_results (seq INTEGER PRIMARY KEY, result TEXT NOT NULL) STRICT;
      INSERT INTO task_specs (seq, id, spec)
        SELECT seq, id, json_remove(row, '$.id', '$.seq', '$.status', '$.workerId', '$.attempt',
          '$.attemptFloor', '$.result', '$.error', '$.cancelledBy', '$.updatedAt', '$.assignedAt',
          '$.startedAt', '$.finishedAt', '$.waitingFor')
        FROM tasks;
      INSERT INTO task_state
        SELECT seq,
          CASE row ->> '$.status' WHEN 'pending' THEN 0 WHEN 'assigned' THEN 1 WHEN 'running' THEN 2
            WHEN 'complete' THEN 3 WHEN 'failed' THEN 4 WHEN 'cancelled' THEN 5 END,
          row ->> '$.workerId', row ->> '$.attempt', row ->> '$.attemptFloor', row ->> '$.updatedAt',
          row ->> '$.assignedAt', row ->> '$.startedAt', row ->> '$.finishedAt', row ->> '$.error',
          row ->> '$.cancelledBy'
        FROM tasks;
      INSERT INTO task_results
        SELECT seq, row -> '$.result' FROM tasks WHERE json_type(row, '$.result') NOT IN ('null');
      DROP TABLE tasks;
    `);
  },
  // 5: the time before which a pending task is not assigned (its runAt, or the end of a retry
  // backoff), in task_state because a retryable failure changes it. NULL: nothing holds it back,
  // which is what every task stored before was.
  (db) => {
    db.exec('ALTER TABLE task_state ADD COLUMN not_before INTEGER');
  },
  // 6: transitions appended, not updated (sqlite-task-log.ts): a commit appends one task_log row
  // holding the task_state values of every task it changed (a JSON array, seq first, in
  // task_state's column order), one insert at the B-tree's right edge instead of an update per
  // task at scattered keys. task_state becomes the folded base: the store folds the oldest log
  // rows into it (the latest state of each task wins) and deletes them; a restore reads task_state
  // and then the log in order. count: how many tasks a row holds.
  (db) => {
    db.exec(
      'CREATE TABLE task_log (n INTEGER PRIMARY KEY, count INTEGER NOT NULL, states TEXT NOT NULL) STRICT',
    );
  },
];

/** The stored code of each task status (task_state.status, schema 4): append only. */
export const STORED_STATUSES = ['pending', 'assigned', 'running', 'complete', 'failed', 'cancelled'] as const;

export const SCHEMA_VERSION = MIGRATIONS.length;
