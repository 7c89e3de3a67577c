// store/: durable implementations of the core Store interface.
// Imports src/core only (test/architecture/walls.test.ts).
import type pg from 'pg';

/** Who holds the leadership, as the database says. */
export interface LeaderInfo {
  readonly holder: string;
  /** The URL the leader serves at (its `--advertise-url`). */
  readonly url: string;
  readonly token: bigint;
  /** False once the lease ran out by the database's clock (a standby may take over). */
  readonly live: boolean;
}

export interface LeaderElectionOptions {
  readonly pool: pg.Pool;
  /** This replica's name (unique per process). */
  readonly holder: string;
  /** Where this replica serves, for standbys to name and SDKs to follow. */
  readonly url: string;
  /** How long a lease lasts without renewal (ms, default 3,000). */
  readonly ttlMs?: number;
}

/**
 * Leadership over one database: a lease row (`baton.leader`) whose token goes up by one at each
 * takeover, decided by PostgreSQL (its clock, its row lock) rather than by Baton. The token is the
 * fencing token every commit carries, so once a standby has taken over, the old leader's commits
 * are refused by the database even if it wakes up believing it still leads.
 */
export interface LeaderElection {
  /** Takes the lease if it is free or ran out; resolves with the token, or undefined if another holds it. */
  tryAcquire(): Promise<bigint | undefined>;
  /** Extends this replica's lease; false if the token is no longer current (taken over). */
  renew(token: bigint): Promise<boolean>;
  /** Gives the lease up at once (a graceful stop), so a standby need not wait for it to run out. */
  release(token: bigint): Promise<void>;
  leader(): Promise<LeaderInfo | undefined>;
  readonly ttlMs: number;
}

export function createLeaderElection(options: LeaderElectionOptions): LeaderElection {
  const { pool, holder, url } = options;
  const ttlMs = options.ttlMs ?? 3_000;
  return {
    ttlMs,
    async tryAcquire() {
      const taken = await pool.query<{ token: string }>(
        `INSERT INTO baton.leader AS l (token, holder, url, expires_at)
           VALUES (1, $1, $2, clock_timestamp() + $3 * interval '1 millisecond')
         ON CONFLICT (one) DO UPDATE SET token = l.token + 1, holder = excluded.holder,
           url = excluded.url, expires_at = excluded.expires_at
         WHERE l.expires_at < clock_timestamp()
         RETURNING token`,
        [holder, url, ttlMs],
      );
      const row = taken.rows[0];
      return row === undefined ? undefined : BigInt(row.token);
    },
    async renew(token) {
      const renewed = await pool.query(
        `UPDATE baton.leader SET expires_at = clock_timestamp() + $2 * interval '1 millisecond'
         WHERE token = $1`,
        [token.toString(), ttlMs],
      );
      return renewed.rowCount === 1;
    },
    async release(token) {
      await pool.query(
        `UPDATE baton.leader SET expires_at = clock_timestamp() - interval '1 millisecond' WHERE token = $1`,
        [token.toString()],
      );
    },
    async leader() {
      const found = await pool.query<{ holder: string; url: string; token: string; live: boolean }>(
        'SELECT holder, url, token, expires_at > clock_timestamp() AS live FROM baton.leader',
      );
      const row = found.rows[0];
      return row === undefined
        ? undefined
        : { holder: row.holder, url: row.url, token: BigInt(row.token), live: row.live };
    },
  };
}
