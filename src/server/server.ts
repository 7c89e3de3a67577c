import type { AddressInfo } from 'node:net';
import { Code, type ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import type { Coordinator, CoordinatorOptions } from '../core/coordinator.js';
import { createMemoryStore } from '../core/memory-store.js';
import type { Store } from '../core/store.js';
import { principalValues } from './auth/principal.js';
import { createVerifier, type TokenEntry } from './auth/tokens.js';
import { toConnectError } from './codec/errors.js';
import { JSON_OPTIONS } from './codec/json-rule.js';
import { CoordinatorService, RateLimitService, WorkerService, WorkspaceService } from './codec/proto.js';
import { DEFAULT_MAX_REQUEST_BYTES } from './codec/request-limit.js';
import { taskEncoders } from './codec/task-codec.js';
import { createDashboard } from './dashboard/static-files.js';
import { logLifecycle } from './observability/lifecycle-log.js';
import { createLogger, type Logger } from './observability/logger.js';
import { createServerMetrics } from './observability/metrics.js';
import { logRequests } from './observability/request-log.js';
import { createRestGateway } from './rest/gateway.js';
import { createProbes } from './rest/probes.js';
import { createRouteOf } from './route-of.js';
import { createEventHub } from './runtime/event-hub.js';
import { openCoordinator } from './runtime/open-coordinator.js';
import { createRatePump } from './runtime/rate-pump.js';
import { openSharedRepo, type SharedRepo, type SharedRepoOptions } from './runtime/shared-repo.js';
import { systemNow, systemScheduler } from './runtime/system-clock.js';
import { createWorkerSessions } from './runtime/worker-sessions.js';
import { createCoordinatorService } from './services/coordinator-service.js';
import { createHealthService, Health, isServing } from './services/health-service.js';
import { createRateLimitService } from './services/rate-limit-service.js';
import {
  createReflectionServices,
  ServerReflectionV1,
  ServerReflectionV1alpha,
} from './services/reflection-service.js';
import { createWorkerService } from './services/worker-service.js';
import { createWorkspaceService } from './services/workspace-service.js';
import { isPostgresUrl, openPostgresStore, type PostgresUrl, redactUrl } from './store/postgres-store.js';
import { openSqliteStore, type SyncMode } from './store/sqlite-store.js';
import { createAuthGate } from './transport/auth-gate.js';
import { errorInterceptor } from './transport/error-interceptor.js';
import { type ConnectionLimits, createOnePortServer, type TlsOptions } from './transport/one-port.js';
import { createSessionFastPath } from './transport/session-fast-path.js';
import { createUnaryFastPath, type FastPathService, recordServices } from './transport/unary-fast-path.js';

export interface ServerOptions extends Omit<CoordinatorOptions, 'now'> {
  /** Default: the system clock. */
  readonly now?: () => number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 50051; 0 picks a free port. */
  readonly port?: number;
  /**
   * `sqlite` (default for the CLI), `memory`, a `postgres://` URL (the PostgreSQL store), or a
   * store of your own. Default here: memory.
   */
  readonly store?: 'memory' | 'sqlite' | PostgresUrl | Store;
  /** SQLite file. Default ./data/baton.db. */
  readonly dbPath?: string;
  readonly sync?: SyncMode;
  /** Start the coordinator if it is new (state init). Default true. */
  readonly autoStart?: boolean;
  /**
   * What to do with a store whose coordinator was stopped (stop is final): `serve` it as it is
   * (reads work, changes are refused; the default here), `refuse` to start (the CLI's default),
   * or `reopen` it (stopped → init, every task kept; the CLI's `--reopen`).
   */
  readonly whenStopped?: 'serve' | 'refuse' | 'reopen';
  readonly reservationTtlMs?: number;
  /**
   * The structured logger (pino). Default: JSON lines on stderr at error, so a library user (a
   * test) sees unexpected errors only; `baton serve` passes one at --log-level.
   */
  readonly logger?: Logger;
  /** Where unexpected errors go instead of the logger (tests collect them). */
  readonly log?: (message: string, error?: unknown, fields?: Readonly<Record<string, unknown>>) => void;
  /**
   * Serve unary RPCs (gRPC and Connect) on the fast path in front of connect-node's adapter.
   * Default true; false sends every call through connect-node (benchmarks compare the two).
   */
  readonly unaryFastPath?: boolean;
  /**
   * Serve WorkerService.Session over gRPC on the session fast path in front of connect-node.
   * Default true; false sends worker sessions through connect-node (benchmarks compare the two).
   */
  readonly sessionFastPath?: boolean;
  /**
   * The git repository the fleet shares (`--repo`): workspaces for workers that ask, the conflict
   * matrix, and the merge queue when a check is given. Without it those features are off.
   */
  readonly repo?: Pick<
    SharedRepoOptions,
    'repo' | 'target' | 'worktreesDir' | 'check' | 'checkTimeoutMs' | 'maxBatch'
  >;
  /** Serve `GET /metrics` (Prometheus) and count what the server does. Default true. */
  readonly metrics?: boolean;
  /**
   * Bearer tokens with roles (`--auth-file`; src/server/auth). Without it nothing is checked,
   * which is only allowed on a loopback address unless `insecure` says otherwise.
   */
  readonly auth?: { readonly tokens: readonly TokenEntry[] };
  /** Listen beyond loopback without `auth`: anyone who reaches the port may do anything. */
  readonly insecure?: boolean;
  /**
   * Serve every protocol over TLS on the same port (`--tls-cert/--tls-key`): ALPN picks HTTP/2
   * (gRPC, Connect) or HTTP/1.1 (Connect, REST, gRPC-Web, browsers). The URL is then https.
   */
  readonly tls?: TlsOptions;
  /**
   * One request message may be this many bytes, on every protocol: REST bodies (413), Connect
   * and gRPC messages (RESOURCE_EXHAUSTED), worker session messages. Default 16 MiB.
   */
  readonly maxRequestBytes?: number;
  /** Slow-loris and idle connections are closed, HTTP/2 streams per connection capped. */
  readonly connectionLimits?: Partial<ConnectionLimits>;
  /** The event sequence before the first event (default 0; a replica's leadership sets it). */
  readonly firstEventSequence?: number;
  /**
   * Events kept for WatchEvents' `since_sequence` replays (`--events-replay`); an older resume
   * point fails OUT_OF_RANGE (SSE: 410). Default 10,000.
   */
  readonly eventsReplay?: number;
}

export interface BatonServer {
  /** `http://host:port`: the base URL for every protocol. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly coordinator: Coordinator;
  readonly store: Store;
  /** The shared repository, when `repo` was given. */
  readonly repo: SharedRepo | undefined;
  /** Resolves once every change made so far is stored (the group commit that covers it landed). */
  committed(): Promise<void>;
  /** `tokens` when every call needs a bearer token, `off` when anyone who reaches the port may call. */
  readonly auth: 'tokens' | 'off';
  /** Graceful: stops accepting, ends streams (workers reconnect), stores the last changes. */
  close(): Promise<void>;
}

const openStore = async (options: ServerOptions): Promise<Store> => {
  const store = options.store ?? 'memory';
  if (store === 'memory') return createMemoryStore();
  if (isPostgresUrl(store)) return openPostgresStore({ url: store });
  if (store === 'sqlite') {
    return openSqliteStore({
      path: options.dbPath ?? './data/baton.db',
      ...(options.sync === undefined ? {} : { sync: options.sync }),
    });
  }
  return store;
};

/** 127.0.0.0/8, ::1 and `localhost`: reachable only from this machine. */
export const isLoopback = (host: string): boolean =>
  host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);

/** Refuses to listen beyond loopback without auth, unless `insecure` says so (a standby too). */
export function checkExposure(options: Pick<ServerOptions, 'host' | 'auth' | 'insecure'>): void {
  const host = options.host ?? '127.0.0.1';
  if (options.auth === undefined && options.insecure !== true && !isLoopback(host)) {
    throw new Error(
      `refusing to listen on ${host} without auth: anyone who reaches it could stop the coordinator ` +
        'or report work as any worker. Give --auth-file (see `baton token create`), or --insecure ' +
        'to serve it open anyway',
    );
  }
}

/** Builds and starts a Baton server. Tests call it with `port: 0`; the CLI with its flags. */
export async function startServer(options: ServerOptions = {}): Promise<BatonServer> {
  const host = options.host ?? '127.0.0.1';
  checkExposure(options);
  const logger = options.logger ?? createLogger({ level: 'error' });
  const log =
    options.log ??
    ((message: string, error?: unknown, fields?: Readonly<Record<string, unknown>>) =>
      logger.error({ ...fields, err: error }, message));
  const store = await openStore(options);
  const metrics =
    options.metrics === false
      ? undefined
      : createServerMetrics({ onScrapeError: (error) => log('metrics collection failed', error) });
  const now = options.now ?? systemNow;
  const scheduler = options.scheduler ?? systemScheduler;
  const sessions = createWorkerSessions();
  const { coordinator, commit, records } = openCoordinator({
    ...options,
    store: metrics?.timeStore(store) ?? store,
    now,
    scheduler,
    send: (workerId, message) => sessions.send(workerId, message),
    onStoreError: (error) => log('store commit failed; refusing writes until it recovers', error),
  });
  if (coordinator.state === 'stopped' && options.whenStopped === 'refuse') {
    await commit.close();
    await store.close();
    const where =
      options.store === 'sqlite'
        ? (options.dbPath ?? './data/baton.db')
        : isPostgresUrl(options.store)
          ? redactUrl(options.store)
          : 'the store';
    throw new Error(
      `the coordinator in ${where} was stopped, and stop is final; ` +
        '`baton serve --reopen` opens it again with its tasks (POST /drain pauses instead)',
    );
  }
  const hub = createEventHub({
    events: coordinator.events,
    now,
    ...(options.firstEventSequence === undefined ? {} : { firstSequence: options.firstEventSequence }),
    afterCommit: (deliver) => commit.afterCommit(deliver),
    ...(options.eventsReplay === undefined ? {} : { retain: options.eventsReplay }),
  });
  metrics?.watch(coordinator);
  const offLifecycleLog = logLifecycle(logger, coordinator.events);
  const pump = createRatePump(coordinator.rateLimiter, scheduler, now);
  const logError = (error: unknown, fields?: Readonly<Record<string, unknown>>) =>
    log('unexpected error', error, fields);
  let repo: SharedRepo | undefined;
  if (options.repo !== undefined) {
    try {
      repo = await openSharedRepo({
        ...options.repo,
        records,
        durable: () => commit.committed(),
        events: coordinator.events,
        sessions,
        now,
        log,
      });
    } catch (error) {
      hub.close();
      pump.close();
      await commit.close();
      await store.close();
      throw error;
    }
  }

  // Aborted first thing on close: long-lived calls (health Watch) see NOT_SERVING and end.
  const shutdown = new AbortController();
  const offLeaseLapse = coordinator.events.on('coord:worker-left', ({ workerId, reason }) => {
    if (reason === 'lease expired')
      sessions.kick(workerId, Code.Unavailable, 'lease expired: reconnect to resume');
  });
  if (options.whenStopped === 'reopen') coordinator.reopen();
  if (coordinator.state === 'init' && options.autoStart !== false) coordinator.start();

  const coordinatorService = createCoordinatorService({ coordinator, commit, hub });
  const refused = (message: string, fields?: Readonly<Record<string, unknown>>) =>
    logger.warn({ ...fields }, `auth: refused: ${message}`);
  const workerService = createWorkerService({
    coordinator,
    commit,
    sessions,
    now,
    log: logError,
    repo,
    refused,
  });
  const workspaceService = createWorkspaceService({ repo, commit, refused });
  const rpcPaths = new Set<string>();
  const routes = (router: ConnectRouter): void => {
    router.service(WorkerService, workerService);
    router.service(
      RateLimitService,
      createRateLimitService({
        coordinator,
        commit,
        pump,
        now,
        reservationTtlMs: options.reservationTtlMs ?? 120_000,
        shutdown: shutdown.signal,
        log: logError,
        refused,
      }),
    );
    router.service(CoordinatorService, coordinatorService);
    router.service(WorkspaceService, workspaceService);
    // Health and reflection describe whatever this router serves, read at call time.
    const served = () => router.handlers.map((h) => h.service);
    router.service(
      Health,
      createHealthService({ coordinator, commit, services: served, signal: shutdown.signal }),
    );
    const reflection = createReflectionServices({ services: served });
    router.service(ServerReflectionV1, reflection.v1);
    router.service(ServerReflectionV1alpha, reflection.v1alpha);
    for (const h of router.handlers) rpcPaths.add(h.requestPath);
  };

  const maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const fastServices: FastPathService[] = [];
  const connectHandler = connectNodeAdapter({
    readMaxBytes: maxRequestBytes,
    routes: (router) => routes(recordServices(router, fastServices)),
    interceptors: [errorInterceptor(logError)],
    jsonOptions: JSON_OPTIONS,
    ...(options.auth === undefined ? {} : { contextValues: principalValues }),
    fallback: createProbes({
      live: () => !shutdown.signal.aborted,
      ready: () => isServing({ coordinator, commit, signal: shutdown.signal }),
      next: createRestGateway({
        services: [
          { service: CoordinatorService, implementation: coordinatorService },
          { service: WorkspaceService, implementation: workspaceService },
        ],
        log: logError,
        maxBodyBytes: maxRequestBytes,
        ...(options.auth === undefined ? {} : { contextValues: principalValues }),
      }),
    }),
  });
  // Same error mapping as errorInterceptor: core refusals keep their code, anything else is logged.
  const mapError = (error: unknown) => {
    const mapped = toConnectError(error);
    if (mapped.rawMessage === 'internal error') logError(error);
    return mapped;
  };
  const unaryHandler =
    options.unaryFastPath === false
      ? connectHandler
      : createUnaryFastPath({
          services: fastServices,
          mapError,
          fallback: connectHandler,
          encoders: taskEncoders,
          jsonOptions: JSON_OPTIONS,
          maxRequestBytes,
          ...(options.auth === undefined ? {} : { contextValues: principalValues }),
        });
  const handler =
    options.sessionFastPath === false
      ? unaryHandler
      : createSessionFastPath({
          open: workerService.open,
          mapError,
          fallback: unaryHandler,
          maxRequestBytes,
        });
  const counted = metrics?.instrument(handler, rpcPaths) ?? handler;
  const routeOf = createRouteOf(rpcPaths, [CoordinatorService, WorkspaceService]);
  const gated =
    options.auth === undefined
      ? counted
      : createAuthGate({
          verify: createVerifier(options.auth.tokens),
          routeOf,
          refused: ({ message, ...fields }) => refused(message, fields),
          next: counted,
        });
  // The dashboard's files hold no data, so they are served before the gate: with auth on, the page
  // loads and asks for a token, and every call it makes is checked like any other.
  const server = createOnePortServer(logRequests(createDashboard({ next: gated }), logger), {
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    ...(options.connectionLimits === undefined ? {} : { limits: options.connectionLimits }),
  });
  let address: AddressInfo;
  try {
    address = await server.listen(options.port ?? 50051, host);
  } catch (error) {
    await repo?.close();
    await commit.close();
    await store.close();
    throw error;
  }
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${options.tls === undefined ? 'http' : 'https'}://${urlHost}:${address.port}`;
  const auth = options.auth === undefined ? 'off' : 'tokens';
  logger.info({ url, store: store.kind, state: coordinator.state, auth }, 'listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    host: address.address,
    port: address.port,
    coordinator,
    store,
    repo,
    committed: () => commit.committed(),
    auth,
    close() {
      closing ??= (async () => {
        shutdown.abort();
        offLeaseLapse();
        sessions.closeAll('server is shutting down');
        hub.close();
        metrics?.close();
        pump.close();
        await server.close();
        await repo?.close();
        await commit.close();
        await store.close();
        offLifecycleLog();
        logger.info({ url }, 'closed');
      })();
      return closing;
    },
  };
}
