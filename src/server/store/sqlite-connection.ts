// store/: durable implementations of the core Store interface.
// Imports src/core only (test/architecture/walls.test.ts).
import { closeSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { type CostSnapshot, type FlagState, RECENT_REPORTS } from '../../core/cost-aggregator.js';
import { COORDINATOR_STATES, type CoordinatorState } from '../../core/lifecycle.js';
import type { RateLimiterSnapshot } from '../../core/rate-limiter.js';
import type { CoordinatorImage, CostChanges, StoreRecord } from '../../core/store.js';
import type { EncodedCommit } from './sqlite-commit.js';
import { MIGRATIONS, SCHEMA_VERSION } from './sqlite-schema.js';
import { openTaskLog } from './sqlite-task-log.js';
import { readTask, type StoredTask } from './sqlite-task-rows.js';
import { StoreOpenError } from './store-open-error.js';

export { StoreOpenError };

/** "Batn": marks a SQLite file as Baton's, so a foreign database is refused, never reused. */
export const APPLICATION_ID = 0x4261746e;

export type SyncMode = 'full' | 'normal';

export interface SqliteStoreOptions {
  readonly path: string;
  /**
   * `full` (default): every commit is fsync'd, so acknowledged state survives power loss too.
   * `normal`: survives a crash of the process (kill -9) but may lose the last commits on power loss.
   */
  readonly sync?: SyncMode;
  /**
   * Extra PRAGMAs for the connection, run after it is prepared (WAL, sync, busy timeout, schema),
   * in order; they override the defaults. For operational limits, e.g. `{ max_page_count: N }` to
   * cap the file at N pages (commits past it fail with SQLITE_FULL and the server refuses writes),
   * or `{ busy_timeout: ms }` (default 2000: how long a commit waits, blocking the event loop, for
   * another connection's write lock). The durability tests use `max_page_count`, `query_only` and
   * `busy_timeout` to produce a full, a read-only and a locked store. Names must be plain
   * identifiers and values numbers or plain words.
   */
  readonly pragmas?: Readonly<Record<string, number | string>>;
  /**
   * Default true: the connection lives in a worker thread, and a commit is written there while
   * the event loop goes on (the group commit gathers the turns meanwhile into the next one).
   * False: on the event loop, which each commit blocks; the task log is then folded only by a
   * commit that finds it past its bound (there is no idle moment to fold it in).
   */
  readonly thread?: boolean;
}

interface CostAccountRow {
  readonly worker_id: string;
  readonly spent_micro_usd: number;
  readonly input_tokens: number;
  readonly output_tokens: number;
  readonly warned: number;
  readonly exceeded: number;
}

/** A Baton database opened, checked and migrated: what a SQLite store writes through. */
export interface SqliteConnection {
  /** The insertion counter as last committed (0 for a new store). */
  readonly storedNextSeq: number;
  load(): CoordinatorImage | undefined;
  /** Applies one commit in one transaction, or throws and applies none of it. */
  apply(commit: EncodedCommit): void;
  /**
   * Folds a step of the task log into task_state in a transaction of its own, if the log holds
   * more than it keeps; returns whether more remains to fold. For a moment with no commit waiting.
   */
  foldStep(): boolean;
  close(): void;
}

/**
 * The task log (sqlite-task-log.ts): recent states stay in it, so that folding them later writes
 * each task once; past LOG_MAX a commit folds a step itself, so the file and a restore's reading
 * stay bounded even if the store is never idle.
 */
export const LOG_KEEP = 50_000;
const LOG_MAX = 500_000;
const FOLD_STEP = 1_000;

/**
 * Opens `options.path` for a store: refuses files that are not Baton's or are newer, migrates
 * older ones, sets WAL and the sync mode. Synchronous: a commit returns once SQLite has it.
 */
export function openSqliteConnection(options: SqliteStoreOptions): SqliteConnection {
  const { path } = options;
  const pragmas = Object.entries(options.pragmas ?? {}).map(([name, value]) => {
    if (!/^[a-z_]+$/i.test(name) || !/^(-?\d+|[a-z_]+)$/i.test(String(value))) {
      throw new StoreOpenError(`invalid pragma ${name} = ${JSON.stringify(value)}`);
    }
    return `${name} = ${value}`;
  });
  if (path !== ':memory:') {
    mkdirSync(dirname(path), { recursive: true });
    // Everything that can refuse the file is checked before anything writes to it, so a refused
    // file is left byte for byte as it was.
    inspect(path);
  }
  let db: Database.Database;
  try {
    db = new Database(path);
    checkOwnership(db, path);
  } catch (error) {
    if (error instanceof StoreOpenError) throw error;
    throw new StoreOpenError(`cannot open ${path} as a Baton store: ${(error as Error).message}`);
  }
  try {
    checkVersion(db, path);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.sync === 'normal' ? 'NORMAL' : 'FULL'}`);
    db.pragma('busy_timeout = 2000');
    migrate(db);
    for (const pragma of pragmas) db.pragma(pragma);
  } catch (error) {
    db.close();
    if (error instanceof StoreOpenError) throw error;
    throw new StoreOpenError(`cannot prepare ${path}: ${(error as Error).message}`);
  }

  const getMeta = db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?');
  const setMeta = db.prepare<[string, string]>(
    'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
  );
  const insertSpec = db.prepare<[number, string, string]>(
    'INSERT INTO task_specs (seq, id, spec) VALUES (?, ?, ?)',
  );
  const taskLog = openTaskLog(db);
  const upsertResult = db.prepare<[number, string]>('INSERT OR REPLACE INTO task_results VALUES (?, ?)');
  const deleteTaskRows = [
    db.prepare<[string]>('DELETE FROM task_state WHERE seq IN (SELECT seq FROM task_specs WHERE id = ?)'),
    db.prepare<[string]>('DELETE FROM task_results WHERE seq IN (SELECT seq FROM task_specs WHERE id = ?)'),
    db.prepare<[string]>('DELETE FROM task_specs WHERE id = ?'),
  ];
  const deleteTask = (id: string): void => {
    for (const statement of deleteTaskRows) statement.run(id);
  };
  const upsertLease = db.prepare<[string, number]>(
    'INSERT INTO leases (worker_id, expires_at) VALUES (?, ?) ON CONFLICT(worker_id) DO UPDATE SET expires_at = excluded.expires_at',
  );
  const deleteLease = db.prepare<[string]>('DELETE FROM leases WHERE worker_id = ?');
  const allTasks = db.prepare<[], StoredTask>(
    `SELECT * FROM task_specs LEFT JOIN task_state USING (seq) LEFT JOIN task_results USING (seq) ORDER BY seq`,
  );
  const allLeases = db.prepare<[], { worker_id: string; expires_at: number }>(
    'SELECT worker_id, expires_at FROM leases',
  );

  const upsertAccount = db.prepare<[string, number, number, number, number, number]>(
    `INSERT INTO cost_accounts VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(worker_id) DO UPDATE SET
       spent_micro_usd = excluded.spent_micro_usd, input_tokens = excluded.input_tokens,
       output_tokens = excluded.output_tokens, warned = excluded.warned, exceeded = excluded.exceeded`,
  );
  const lastReport = db.prepare<[string], { n: number | null }>(
    'SELECT max(n) AS n FROM cost_reports WHERE worker_id = ?',
  );
  const insertReport = db.prepare<[string, number, string]>('INSERT INTO cost_reports VALUES (?, ?, ?)');
  const trimReports = db.prepare<[string, number]>('DELETE FROM cost_reports WHERE worker_id = ? AND n <= ?');
  const clearAccounts = db.prepare('DELETE FROM cost_accounts');
  const clearReports = db.prepare('DELETE FROM cost_reports');
  const allAccounts = db.prepare<[], CostAccountRow>('SELECT * FROM cost_accounts ORDER BY worker_id');
  const allReports = db.prepare<[], { worker_id: string; report_id: string }>(
    'SELECT worker_id, report_id FROM cost_reports ORDER BY worker_id, n',
  );

  const upsertRecord = db.prepare<[string, string, string]>(
    'INSERT INTO records (kind, id, body) VALUES (?, ?, ?) ON CONFLICT(kind, id) DO UPDATE SET body = excluded.body',
  );
  const deleteRecord = db.prepare<[string, string]>('DELETE FROM records WHERE kind = ? AND id = ?');
  const allRecords = db.prepare<[], { kind: string; id: string; body: string }>(
    'SELECT kind, id, body FROM records',
  );

  const meta = (key: string): string | undefined => getMeta.get(key)?.value;
  const json = <T>(key: string): T | null => {
    const value = meta(key);
    return value === undefined ? null : (JSON.parse(value) as T);
  };

  /** Whether a committed transaction holds a lifecycle state: then a commit need not look. */
  let stateStored = false;
  /** A new task's spec; a task removed and added again under its id since the last commit has
   * its old rows (under its old seq) removed first. */
  const writeSpec = (seq: number, id: string, spec: string): void => {
    try {
      insertSpec.run(seq, id, spec);
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'SQLITE_CONSTRAINT_UNIQUE') throw error;
      deleteTask(id);
      insertSpec.run(seq, id, spec);
    }
  };

  let storedNextSeq = Number(meta('next_seq') ?? '0');
  const apply = db.transaction((changes: EncodedCommit) => {
    if (changes.state !== undefined) setMeta.run('state', changes.state);
    else if (!stateStored && meta('state') === undefined) setMeta.run('state', 'init');
    if (changes.nextSeq !== undefined) setMeta.run('next_seq', String(changes.nextSeq));
    const { specs, states, results } = changes.tasks;
    for (let i = 0; i < specs.length; i += 3) {
      writeSpec(specs[i] as number, specs[i + 1] as string, specs[i + 2] as string);
    }
    if (states.length > 0) taskLog.append(states);
    for (let i = 0; i < results.length; i += 2)
      upsertResult.run(results[i] as number, results[i + 1] as string);
    for (const id of changes.removeTasks) deleteTask(id);
    for (const [id, at] of changes.upsertLeases) upsertLease.run(id, at);
    for (const id of changes.removeLeases) deleteLease.run(id);
    if (changes.rateLimiter !== undefined) setMeta.run('rate_limiter', changes.rateLimiter);
    if (changes.costs !== undefined) writeCosts(changes.costs);
    for (const [kind, id, body] of changes.upsertRecords) upsertRecord.run(kind, id, body);
    for (const [kind, id] of changes.removeRecords) deleteRecord.run(kind, id);
    if (taskLog.size > LOG_MAX) taskLog.fold(FOLD_STEP);
  });
  const fold = db.transaction(() => taskLog.fold(FOLD_STEP));

  const writeCosts = (costs: CostChanges): void => {
    if (costs.replace === true) {
      clearAccounts.run();
      clearReports.run();
    }
    setMeta.run('cost_global', JSON.stringify(costs.global));
    for (const a of costs.accounts) {
      upsertAccount.run(a.workerId, a.spentMicroUsd, a.inputTokens, a.outputTokens, +a.warned, +a.exceeded);
    }
    const last = new Map<string, number>();
    for (const [workerId, reportId] of costs.reportIds) {
      const n = (last.get(workerId) ?? lastReport.get(workerId)?.n ?? 0) + 1;
      insertReport.run(workerId, n, reportId);
      last.set(workerId, n);
    }
    // Keep what the aggregator keeps: each worker's last RECENT_REPORTS ids.
    for (const [workerId, n] of last) if (n > RECENT_REPORTS) trimReports.run(workerId, n - RECENT_REPORTS);
  };

  const loadCosts = (): CostSnapshot | null => {
    const global = json<FlagState>('cost_global');
    if (global === null) return null;
    const ids = new Map<string, string[]>();
    for (const r of allReports.iterate()) {
      const list = ids.get(r.worker_id) ?? [];
      if (list.length === 0) ids.set(r.worker_id, list);
      list.push(r.report_id);
    }
    return {
      version: 1,
      global,
      workers: allAccounts.all().map((a) => ({
        workerId: a.worker_id,
        spentMicroUsd: a.spent_micro_usd,
        inputTokens: a.input_tokens,
        outputTokens: a.output_tokens,
        warned: a.warned === 1,
        exceeded: a.exceeded === 1,
        recentReportIds: ids.get(a.worker_id) ?? [],
      })),
    };
  };

  const loadTasks = (): StoredTask[] => {
    const tasks = allTasks.all();
    taskLog.overlay(tasks);
    return tasks;
  };

  return {
    get storedNextSeq() {
      return storedNextSeq;
    },
    load(): CoordinatorImage | undefined {
      try {
        const state = meta('state');
        if (state === undefined) return undefined;
        if (!COORDINATOR_STATES.includes(state as CoordinatorState)) {
          throw new StoreOpenError(`${path}: unknown lifecycle state ${JSON.stringify(state)}`);
        }
        return {
          state: state as CoordinatorState,
          tasks: {
            version: 1,
            nextSeq: Number(meta('next_seq') ?? '0'),
            tasks: loadTasks().map(readTask),
          },
          leases: allLeases.all().map((r) => [r.worker_id, r.expires_at] as const),
          rateLimiter: json<RateLimiterSnapshot>('rate_limiter'),
          costs: loadCosts(),
          records: allRecords
            .all()
            .map((r): StoreRecord => ({ kind: r.kind, id: r.id, body: JSON.parse(r.body) })),
        };
      } catch (error) {
        if (error instanceof StoreOpenError) throw error;
        throw new StoreOpenError(`${path}: stored state is unreadable: ${(error as Error).message}`);
      }
    },
    apply(changes) {
      // BEGIN IMMEDIATE: the write lock is taken first, waiting up to busy_timeout for another
      // connection's. A deferred transaction that reads first is refused SQLITE_BUSY at once when
      // it then finds the lock taken (SQLite will not wait while holding a read snapshot).
      try {
        apply.immediate(changes);
      } catch (error) {
        taskLog.recount();
        throw error;
      }
      stateStored = true;
      if (changes.nextSeq !== undefined) storedNextSeq = changes.nextSeq;
    },
    foldStep() {
      if (taskLog.size <= LOG_KEEP) return false;
      // What it writes is already stored (the log rows it folds were fsync'd by their commits),
      // so it need not wait for an fsync of its own: lost on power loss, the rows are still in
      // the log, and the next commit's fsync covers it (the WAL is written and synced in order).
      const synchronous = db.pragma('synchronous', { simple: true }) as number;
      db.pragma('synchronous = NORMAL');
      try {
        fold.immediate();
      } catch (error) {
        taskLog.recount();
        throw error;
      } finally {
        db.pragma(`synchronous = ${synchronous}`);
      }
      return taskLog.size > LOG_KEEP;
    },
    close() {
      if (db.open) db.close();
    },
  };
}

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * Checks an existing file without writing to it: its first bytes must be SQLite's, and a
 * read-only connection must find Baton's application id (or an empty database) and a schema
 * version this Baton understands. The header alone is not enough: after a crash, the latest
 * header may still be in the write-ahead log.
 */
function inspect(path: string): void {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return; // a new file
  }
  if (size === 0) return; // SQLite's own view of a new database
  const head = Buffer.alloc(SQLITE_MAGIC.length);
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    readSync(fd, head, 0, head.length, 0);
  } catch (error) {
    throw new StoreOpenError(`cannot read ${path}: ${(error as Error).message}`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (!head.equals(SQLITE_MAGIC)) {
    throw new StoreOpenError(
      `${path} is not a SQLite database (corrupt, or some other file); refusing to touch it`,
    );
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    checkOwnership(db, path);
    checkVersion(db, path);
  } catch (error) {
    if (error instanceof StoreOpenError) throw error;
    throw new StoreOpenError(`cannot open ${path} as a Baton store: ${(error as Error).message}`);
  } finally {
    if (db?.open) db.close();
  }
}

/** Refuses files that are not SQLite, or SQLite databases that are not Baton's. */
function checkOwnership(db: Database.Database, path: string): void {
  const appId = db.pragma('application_id', { simple: true }) as number;
  const tables = db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get() as {
    n: number;
  };
  if (appId === APPLICATION_ID) return;
  if (appId !== 0 || tables.n > 0) {
    db.close();
    throw new StoreOpenError(
      `${path} is a SQLite database that does not belong to Baton; refusing to touch it`,
    );
  }
}

function checkVersion(db: Database.Database, path: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new StoreOpenError(
      `${path} has schema version ${version}, newer than this Baton understands (${SCHEMA_VERSION}); upgrade Baton`,
    );
  }
}

/** Brings the schema to SCHEMA_VERSION in one transaction (a new file starts at version 0). */
function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version === SCHEMA_VERSION) return;
  db.transaction(() => {
    for (let v = version; v < SCHEMA_VERSION; v++) (MIGRATIONS[v] as (db: Database.Database) => void)(db);
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}
