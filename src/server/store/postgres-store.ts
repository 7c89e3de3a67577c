// store/: durable implementations of the core Store interface.
// Imports src/core only (test/architecture/walls.test.ts).
import pg from 'pg';
import { type CostSnapshot, type FlagState, RECENT_REPORTS } from '../../core/cost-aggregator.js';
import { COORDINATOR_STATES, type CoordinatorState } from '../../core/lifecycle.js';
import type { RateLimiterSnapshot } from '../../core/rate-limiter.js';
import type { CoordinatorImage, Store, StoreChanges, StoreRecord, TaskRow } from '../../core/store.js';
import { MIGRATIONS, SCHEMA_VERSION } from './postgres-schema.js';
import { StoreOpenError } from './store-open-error.js';

export interface PostgresStoreOptions {
  /** `postgres://user[:password]@host[:port]/database` (libpq's URI form, as `pg` reads it). */
  readonly url: string;
  /**
   * How long a commit may take before it counts as failed (ms, default 10,000): PostgreSQL's
   * `statement_timeout`. A database that hangs then makes the server refuse writes instead of
   * holding every acknowledgement.
   */
  readonly commitTimeoutMs?: number;
  /**
   * The fencing token of this replica's leadership (`baton.leader`): every commit carries it and
   * the database refuses one whose token is no longer current. Undefined: no check (one server).
   */
  readonly fence?: () => bigint | undefined;
}

/** The PostgreSQL store once open: a Store whose commits are asynchronous, and its connections. */
export interface PostgresStore extends Store {
  readonly kind: 'postgres';
  readonly pool: pg.Pool;
}

/** A PostgreSQL connection URL, as `--store` and `startServer({ store })` take it. */
export type PostgresUrl = `postgres://${string}` | `postgresql://${string}`;

/** Whether `--store` names a PostgreSQL database rather than sqlite, memory or a Store object. */
export const isPostgresUrl = (store: unknown): store is PostgresUrl =>
  typeof store === 'string' && /^postgres(ql)?:\/\//.test(store);

/** `url` with its password blanked, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the PostgreSQL URL';
  }
}

/** A lock id of Baton's own (ASCII "Batn") for migrations, so replicas starting together migrate once. */
const MIGRATION_LOCK = 0x4261746e;

/** A connection pool to a Baton database whose schema is checked and migrated. */
export interface PostgresDatabase {
  readonly pool: pg.Pool;
  /** The URL without its password, for messages. */
  readonly where: string;
}

/** Connects and checks and migrates the `baton` schema; a StoreOpenError says why it cannot. */
export async function connectPostgres(
  options: Pick<PostgresStoreOptions, 'url' | 'commitTimeoutMs'>,
): Promise<PostgresDatabase> {
  const where = redactUrl(options.url);
  const timeout = options.commitTimeoutMs ?? 10_000;
  const pool = new pg.Pool({
    connectionString: options.url,
    max: 2,
    connectionTimeoutMillis: timeout,
    // The server cancels a commit that takes too long (its transaction then rolls back); the
    // client's own timeout is the backstop for a connection that hangs.
    statement_timeout: timeout,
    query_timeout: timeout + 2_000,
    application_name: 'baton',
  });
  // An idle connection that breaks is dropped by the pool; the next commit opens another.
  pool.on('error', () => {});
  try {
    await migrate(pool, where);
  } catch (error) {
    await pool.end().catch(() => {});
    if (error instanceof StoreOpenError) throw error;
    throw new StoreOpenError(`cannot open ${where} as a Baton store: ${(error as Error).message}`);
  }
  return { pool, where };
}

/**
 * Opens the PostgreSQL store: connects, checks and migrates the `baton` schema (or takes a
 * database connected already, which it then does not close), and reads the last committed image
 * (which `load()` then hands to the coordinator). Commits are one call of `baton.commit(...)`: one
 * statement, so one transaction, committed (and, with PostgreSQL's default `synchronous_commit`,
 * flushed) before the promise resolves.
 */
export async function openPostgresStore(
  options:
    | PostgresStoreOptions
    | (Omit<PostgresStoreOptions, 'url'> & { readonly database: PostgresDatabase }),
): Promise<PostgresStore> {
  const owned = !('database' in options);
  const { pool, where } = 'database' in options ? options.database : await connectPostgres(options);
  let image: CoordinatorImage | undefined;
  let commitNo: bigint;
  try {
    image = await readImage(pool, where);
    const last = await pool.query<{ value: string }>("SELECT value FROM baton.meta WHERE key = 'commit_seq'");
    commitNo = BigInt(last.rows[0]?.value ?? '0');
  } catch (error) {
    if (owned) await pool.end().catch(() => {});
    if (error instanceof StoreOpenError) throw error;
    throw new StoreOpenError(`cannot open ${where} as a Baton store: ${(error as Error).message}`);
  }
  let committed = false;
  return {
    kind: 'postgres',
    pool,
    load() {
      if (committed) throw new Error('the PostgreSQL store is read once, when it is opened: open it again');
      return image;
    },
    async commit(changes) {
      committed = true;
      image = undefined;
      const fence = options.fence?.();
      commitNo += 1n;
      await pool.query(COMMIT_SQL, commitParameters(fence, commitNo, changes));
    },
    close: async () => {
      if (owned) await pool.end();
    },
  };
}

const COMMIT_SQL = `SELECT baton.commit(${Array.from({ length: 28 }, (_, i) => `$${i + 1}`).join(', ')})`;

/** `baton.commit`'s arguments, in its order: the changes as columns side by side. */
function commitParameters(fence: bigint | undefined, commitNo: bigint, changes: StoreChanges): unknown[] {
  const costs = changes.costs;
  const accounts = costs?.accounts ?? [];
  const reports = costs?.reportIds ?? [];
  const upserts = changes.upsertRecords ?? [];
  const removals = changes.removeRecords ?? [];
  return [
    fence === undefined ? null : fence.toString(),
    commitNo.toString(),
    changes.state ?? null,
    changes.nextSeq ?? null,
    changes.upsertTasks.map((t) => t.id),
    changes.upsertTasks.map((t) => t.seq),
    changes.upsertTasks.map((t) => JSON.stringify(t)),
    changes.removeTasks,
    changes.upsertLeases.map(([id]) => id),
    changes.upsertLeases.map(([, at]) => at),
    changes.removeLeases,
    changes.rateLimiter === undefined ? null : JSON.stringify(changes.rateLimiter),
    costs?.replace === true,
    costs === undefined ? null : JSON.stringify(costs.global),
    accounts.map((a) => a.workerId),
    accounts.map((a) => a.spentMicroUsd),
    accounts.map((a) => a.inputTokens),
    accounts.map((a) => a.outputTokens),
    accounts.map((a) => a.warned),
    accounts.map((a) => a.exceeded),
    reports.map(([workerId]) => workerId),
    reports.map(([, reportId]) => reportId),
    RECENT_REPORTS,
    upserts.map((r) => r.kind),
    upserts.map((r) => r.id),
    upserts.map((r) => JSON.stringify(r.body)),
    removals.map(([kind]) => kind),
    removals.map(([, id]) => id),
  ];
}

/** Refuses a `baton` schema that is not Baton's or is newer than this Baton; migrates an older one. */
async function migrate(pool: pg.Pool, where: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    const version = await schemaVersion(client, where);
    if (version > SCHEMA_VERSION) {
      throw new StoreOpenError(
        `${where} has Baton schema version ${version}, newer than this Baton understands (${SCHEMA_VERSION}); upgrade Baton`,
      );
    }
    for (let v = version; v < SCHEMA_VERSION; v++) await client.query(MIGRATIONS[v] as string);
    if (version < SCHEMA_VERSION) {
      await client.query('UPDATE baton.schema_version SET version = $1', [SCHEMA_VERSION]);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

async function schemaVersion(client: pg.PoolClient, where: string): Promise<number> {
  const found = await client.query<{ schema: string | null; versioned: string | null }>(
    "SELECT to_regnamespace('baton')::text AS schema, to_regclass('baton.schema_version')::text AS versioned",
  );
  const row = found.rows[0];
  if (row?.schema === null || row === undefined) return 0;
  if (row.versioned === null) {
    throw new StoreOpenError(
      `${where} has a schema named baton that does not belong to Baton; refusing to touch it`,
    );
  }
  const version = await client.query<{ version: number }>('SELECT version FROM baton.schema_version');
  return version.rows[0]?.version ?? 0;
}

/** The last committed image, read in one snapshot, or undefined when nothing was ever committed. */
async function readImage(pool: pg.Pool, where: string): Promise<CoordinatorImage | undefined> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const meta = new Map(
      (await client.query<{ key: string; value: string }>('SELECT key, value FROM baton.meta')).rows.map(
        (r) => [r.key, r.value],
      ),
    );
    const state = meta.get('state');
    if (state === undefined) {
      await client.query('COMMIT');
      return undefined;
    }
    if (!COORDINATOR_STATES.includes(state as CoordinatorState)) {
      throw new StoreOpenError(`${where}: unknown lifecycle state ${JSON.stringify(state)}`);
    }
    const json = <T>(key: string): T | null => {
      const value = meta.get(key);
      return value === undefined ? null : (JSON.parse(value) as T);
    };
    const tasks = await client.query<{ row: string }>('SELECT row FROM baton.tasks ORDER BY seq');
    const leases = await client.query<{ worker_id: string; expires_at: string }>(
      'SELECT worker_id, expires_at FROM baton.leases',
    );
    const records = await client.query<{ kind: string; id: string; body: string }>(
      'SELECT kind, id, body FROM baton.records',
    );
    const costs = await readCosts(client, json<FlagState>('cost_global'));
    await client.query('COMMIT');
    return {
      state: state as CoordinatorState,
      tasks: {
        version: 1,
        nextSeq: Number(meta.get('next_seq') ?? '0'),
        tasks: tasks.rows.map((r) => JSON.parse(r.row) as TaskRow),
      },
      leases: leases.rows.map((r) => [r.worker_id, Number(r.expires_at)] as const),
      rateLimiter: json<RateLimiterSnapshot>('rate_limiter'),
      costs,
      records: records.rows.map((r): StoreRecord => ({ kind: r.kind, id: r.id, body: JSON.parse(r.body) })),
    };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    if (error instanceof StoreOpenError) throw error;
    throw new StoreOpenError(`${where}: stored state is unreadable: ${(error as Error).message}`);
  } finally {
    client.release();
  }
}

interface CostAccountRow {
  readonly worker_id: string;
  readonly spent_micro_usd: string;
  readonly input_tokens: string;
  readonly output_tokens: string;
  readonly warned: boolean;
  readonly exceeded: boolean;
}

async function readCosts(client: pg.PoolClient, global: FlagState | null): Promise<CostSnapshot | null> {
  if (global === null) return null;
  const ids = new Map<string, string[]>();
  const reports = await client.query<{ worker_id: string; report_id: string }>(
    'SELECT worker_id, report_id FROM baton.cost_reports ORDER BY worker_id, n',
  );
  for (const r of reports.rows) {
    const list = ids.get(r.worker_id) ?? [];
    if (list.length === 0) ids.set(r.worker_id, list);
    list.push(r.report_id);
  }
  const accounts = await client.query<CostAccountRow>('SELECT * FROM baton.cost_accounts ORDER BY worker_id');
  return {
    version: 1,
    global,
    workers: accounts.rows.map((a) => ({
      workerId: a.worker_id,
      spentMicroUsd: Number(a.spent_micro_usd),
      inputTokens: Number(a.input_tokens),
      outputTokens: Number(a.output_tokens),
      warned: a.warned,
      exceeded: a.exceeded,
      recentReportIds: ids.get(a.worker_id) ?? [],
    })),
  };
}
