import { randomUUID } from 'node:crypto';
import { createVerifier } from './auth/tokens.js';
import { createLogger } from './observability/logger.js';
import { type BatonServer, checkExposure, type ServerOptions, startServer } from './server.js';
import { startStandbyServer } from './standby-server.js';
import { createLeaderElection } from './store/postgres-leader.js';
import { connectPostgres, openPostgresStore, type PostgresUrl } from './store/postgres-store.js';

export interface ReplicaOptions extends Omit<ServerOptions, 'store'> {
  readonly store: PostgresUrl;
  /** The URL clients reach this replica at (named by standbys). Default `http://host:port`. */
  readonly advertiseUrl?: string;
  /** This replica's name in `baton.leader`. Default: a random one per process. */
  readonly holder?: string;
  /** The leader's lease (ms, default 3,000): a dead leader is replaced this long after its last renewal. */
  readonly leaderTtlMs?: number;
  /** How often a standby asks whether the lease ran out (ms, default 250). */
  readonly standbyPollMs?: number;
  /** This replica became a standby (at start) or the leader; `leader` is the URL it names. */
  readonly onRole?: (role: 'standby' | 'leader', leader: string | undefined) => void;
  /**
   * This replica lost the leadership: another took over (its commits are refused by the database
   * from then on), or it could not renew the lease before it ran out. The server is closed first.
   */
  readonly onDeposed?: (reason: string) => void;
}

export interface BatonReplica {
  /** The URL this replica advertises. */
  readonly url: string;
  /** Resolves with the serving coordinator once this replica leads. */
  readonly leading: Promise<BatonServer>;
  /** The fencing token while leading. */
  readonly token: bigint | undefined;
  /** Closes the server (or the standby), gives the lease up so a standby takes over at once. Idempotent. */
  close(): Promise<void>;
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One of several `baton serve` on one PostgreSQL database. It serves as a standby (health
 * NOT_SERVING, every call UNAVAILABLE naming the leader) until the database grants it the lease
 * (`baton.leader`), then restores the coordinator from the database and serves on the same port.
 * Every commit carries the lease's fencing token, so a leader that was deposed while stalled
 * (SIGSTOP) cannot commit anything once it wakes: the database refuses it.
 */
export async function startReplica(options: ReplicaOptions): Promise<BatonReplica> {
  checkExposure(options);
  const database = await connectPostgres({ url: options.store });
  let leaderUrl: string | undefined;
  const host = options.host ?? '127.0.0.1';
  const logger = options.logger ?? createLogger({ level: 'error' });
  // Listening first tells the port (it may be 0) and so the URL this replica advertises. The
  // standby holds the port with the leader's TLS and tokens, so a caller meets one gate throughout.
  const standby = await startStandbyServer({
    host,
    port: options.port ?? 50051,
    leader: () => leaderUrl,
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    ...(options.auth === undefined
      ? {}
      : {
          auth: {
            verify: createVerifier(options.auth.tokens),
            refused: ({ message, ...fields }) => logger.warn(fields, `auth: refused: ${message}`),
          },
        }),
    ...(options.connectionLimits === undefined ? {} : { connectionLimits: options.connectionLimits }),
  });
  const port = standby.port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const url = options.advertiseUrl ?? `${options.tls === undefined ? 'http' : 'https'}://${urlHost}:${port}`;
  const me = createLeaderElection({
    pool: database.pool,
    holder: options.holder ?? `baton-${randomUUID().slice(0, 8)}`,
    url,
    ...(options.leaderTtlMs === undefined ? {} : { ttlMs: options.leaderTtlMs }),
  });
  let token: bigint | undefined;
  let closed = false;
  let closing: Promise<void> | undefined;
  let server: BatonServer | undefined;
  let renewal: NodeJS.Timeout | undefined;

  const deposed = async (reason: string): Promise<void> => {
    if (renewal !== undefined) clearInterval(renewal);
    renewal = undefined;
    token = undefined;
    await server?.close().catch(() => {});
    options.onDeposed?.(reason);
  };

  const lead = async (): Promise<BatonServer> => {
    let announced = false;
    for (;;) {
      if (closed) throw new Error('closed before it led');
      try {
        token = await me.tryAcquire();
        if (token !== undefined) break;
        const leader = await me.leader();
        leaderUrl = leader?.url;
        if (!announced) options.onRole?.('standby', leaderUrl);
        announced = true;
      } catch {
        // The database is unreachable: stay a standby and ask again.
      }
      await delay(options.standbyPollMs ?? 250);
    }
    await standby.close();
    const held = token;
    const store = await openPostgresStore({ database, fence: () => held });
    // Each leadership numbers its events from token × 2^32: above every earlier leader's.
    server = await startServer({ ...options, host, port, store, firstEventSequence: Number(held) * 2 ** 32 });
    leaderUrl = url;
    let renewed = Date.now();
    renewal = setInterval(() => {
      me.renew(held).then(
        (ok) => {
          if (ok) renewed = Date.now();
          else void deposed(`another replica took over the leadership (this one held token ${held})`);
        },
        (error: unknown) => {
          if (Date.now() - renewed > me.ttlMs) {
            void deposed(`could not renew the leadership before it ran out: ${(error as Error).message}`);
          }
        },
      );
    }, me.ttlMs / 3);
    renewal.unref();
    options.onRole?.('leader', url);
    return server;
  };
  const leading = lead();
  leading.catch(() => {});

  return {
    url,
    leading,
    get token() {
      return token;
    },
    close() {
      closing ??= (async () => {
        closed = true;
        if (renewal !== undefined) clearInterval(renewal);
        if (server === undefined) {
          await standby.close().catch(() => {});
          await leading.catch(() => {});
        }
        await server?.close();
        const held = token;
        token = undefined;
        if (held !== undefined) await me.release(held).catch(() => {});
        await database.pool.end();
      })();
      return closing;
    },
  };
}
