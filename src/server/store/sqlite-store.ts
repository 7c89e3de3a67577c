import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { CostSnapshot } from '../../core/cost-aggregator.js';
import { COORDINATOR_STATES, type CoordinatorState } from '../../core/lifecycle.js';
import type { RateLimiterSnapshot } from '../../core/rate-limiter.js';
import type { CoordinatorImage, Store, StoreChanges, TaskRow } from '../../core/store.js';
import { MIGRATIONS, SCHEMA_VERSION } from './sqlite-schema.js';

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
}

/** Why a database file cannot be used. The server prints it and exits non-zero. */
export class StoreOpenError extends Error {
  override readonly name = 'StoreOpenError';
}

/**
 * The default store: SQLite in WAL mode through better-sqlite3. Synchronous on purpose — a
 * commit returns only once SQLite has it, which is what lets the group commit release acks.
 */
export function openSqliteStore(options: SqliteStoreOptions): Store {
  const { path } = options;
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  let db: Database.Database;
  try {
    db = new Database(path);
    checkOwnership(db, path);
  } catch (error) {
    if (error instanceof StoreOpenError) throw error;
    throw new StoreOpenError(`cannot open ${path} as a Baton store: ${(error as Error).message}`);
  }
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.sync === 'normal' ? 'NORMAL' : 'FULL'}`);
    db.pragma('busy_timeout = 2000');
    migrate(db, path);
  } catch (error) {
    db.close();
    if (error instanceof StoreOpenError) throw error;
    throw new StoreOpenError(`cannot prepare ${path}: ${(error as Error).message}`);
  }

  const getMeta = db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?');
  const setMeta = db.prepare<[string, string]>(
    'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
  );
  const upsertTask = db.prepare<[string, number, string]>(
    'INSERT INTO tasks (id, seq, row) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, row = excluded.row',
  );
  const deleteTask = db.prepare<[string]>('DELETE FROM tasks WHERE id = ?');
  const upsertLease = db.prepare<[string, number]>(
    'INSERT INTO leases (worker_id, expires_at) VALUES (?, ?) ON CONFLICT(worker_id) DO UPDATE SET expires_at = excluded.expires_at',
  );
  const deleteLease = db.prepare<[string]>('DELETE FROM leases WHERE worker_id = ?');
  const allTasks = db.prepare<[], { row: string }>('SELECT row FROM tasks ORDER BY seq');
  const allLeases = db.prepare<[], { worker_id: string; expires_at: number }>(
    'SELECT worker_id, expires_at FROM leases',
  );

  const meta = (key: string): string | undefined => getMeta.get(key)?.value;
  const json = <T>(key: string): T | null => {
    const value = meta(key);
    return value === undefined ? null : (JSON.parse(value) as T);
  };

  const commit = db.transaction((changes: StoreChanges) => {
    if (changes.state !== undefined) setMeta.run('state', changes.state);
    else if (meta('state') === undefined) setMeta.run('state', 'init');
    if (changes.nextSeq !== undefined) setMeta.run('next_seq', String(changes.nextSeq));
    for (const row of changes.upsertTasks) upsertTask.run(row.id, row.seq, JSON.stringify(row));
    for (const id of changes.removeTasks) deleteTask.run(id);
    for (const [id, at] of changes.upsertLeases) upsertLease.run(id, at);
    for (const id of changes.removeLeases) deleteLease.run(id);
    if (changes.rateLimiter !== undefined) setMeta.run('rate_limiter', JSON.stringify(changes.rateLimiter));
    if (changes.costs !== undefined) setMeta.run('costs', JSON.stringify(changes.costs));
  });

  return {
    kind: 'sqlite',
    load(): CoordinatorImage | undefined {
      const state = meta('state');
      if (state === undefined) return undefined;
      if (!COORDINATOR_STATES.includes(state as CoordinatorState)) {
        throw new StoreOpenError(`${path}: unknown lifecycle state ${JSON.stringify(state)}`);
      }
      try {
        return {
          state: state as CoordinatorState,
          tasks: {
            version: 1,
            nextSeq: Number(meta('next_seq') ?? '0'),
            tasks: allTasks.all().map((r) => JSON.parse(r.row) as TaskRow),
          },
          leases: allLeases.all().map((r) => [r.worker_id, r.expires_at] as const),
          rateLimiter: json<RateLimiterSnapshot>('rate_limiter'),
          costs: json<CostSnapshot>('costs'),
        };
      } catch (error) {
        throw new StoreOpenError(`${path}: stored state is unreadable: ${(error as Error).message}`);
      }
    },
    commit(changes) {
      commit(changes);
    },
    close() {
      if (db.open) db.close();
    },
  };
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

function migrate(db: Database.Database, path: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new StoreOpenError(
      `${path} has schema version ${version}, newer than this Baton understands (${SCHEMA_VERSION}); upgrade Baton`,
    );
  }
  if (version === SCHEMA_VERSION) return;
  db.transaction(() => {
    for (let v = version; v < SCHEMA_VERSION; v++) (MIGRATIONS[v] as (db: Database.Database) => void)(db);
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}
