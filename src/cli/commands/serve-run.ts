// What `baton serve`'s action runs, imported by it on demand: the server and everything it loads.
import { readFileSync } from 'node:fs';
import { isBatonError } from '../../core/errors.js';
import { DEFAULT_RETRY_BACKOFF, normalizeBackoff, type RetryBackoffSpec } from '../../core/retry-backoff.js';
import { ASSIGNMENT_STRATEGIES } from '../../core/work-assigner.js';
import { parseAuthFile } from '../../server/auth/tokens.js';
import { LOG_LEVELS } from '../../server/observability/log-levels.js';
import { createLogger } from '../../server/observability/logger.js';
import { type BatonReplica, type ReplicaOptions, startReplica } from '../../server/replica.js';
import { type BatonServer, isLoopback, type ServerOptions, startServer } from '../../server/server.js';
import { isPostgresUrl, redactUrl } from '../../server/store/postgres-store.js';
import { StoreOpenError } from '../../server/store/store-open-error.js';
import { EXIT } from '../exit-codes.js';
import {
  AT_LEAST_ONE,
  choiceFlag,
  numberFlag,
  PORT,
  POSITIVE,
  WHOLE,
  WHOLE_OR_ZERO,
} from '../flag-values.js';
import { UsageError } from '../usage-error.js';

/** The flags as commander hands them over: strings as typed, `start` false for --no-start. */
export interface ServeFlags {
  readonly host?: string;
  readonly port?: string;
  readonly store?: string;
  readonly advertiseUrl?: string;
  readonly leaderTtlMs?: string;
  readonly db?: string;
  readonly sync?: string;
  readonly strategy?: string;
  readonly requireCapability?: boolean;
  readonly leaseTtlMs?: string;
  readonly maxAttempts?: string;
  readonly retryInitialMs?: string;
  readonly retryMaxMs?: string;
  readonly retryMultiplier?: string;
  readonly maxRequestsPerMinute?: string;
  readonly maxTokensPerMinute?: string;
  readonly globalBudgetUsd?: string;
  readonly workerBudgetUsd?: string;
  readonly start: boolean;
  readonly reopen?: boolean;
  readonly repo?: string;
  readonly target?: string;
  readonly worktrees?: string;
  readonly check?: string;
  readonly checkTimeoutMs?: string;
  readonly mergeBatch?: string;
  readonly logLevel?: string;
  readonly logFormat?: string;
  readonly authFile?: string;
  readonly insecure?: boolean;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly maxBatchTasks?: string;
  readonly maxTasks?: string;
  readonly maxMetadataBytes?: string;
  readonly maxMetadataDepth?: string;
  readonly maxIdLength?: string;
  readonly maxCategoryLength?: string;
  readonly maxRequestBytes?: string;
  readonly maxStreams?: string;
  readonly headerTimeoutMs?: string;
  readonly idleTimeoutMs?: string;
  readonly eventsReplay?: string;
}

/** Starts the coordinator the flags and the environment describe; a UsageError naming a bad flag. */
export async function runServe(flags: ServeFlags, env: NodeJS.ProcessEnv): Promise<void> {
  await serve(serverOptions(flags, env));
}

/** The server's options from the flags and the environment; a UsageError naming the flag. */
export function serverOptions(flags: ServeFlags, env: NodeJS.ProcessEnv): ServerOptions {
  const rawStore = flags.store ?? env.BATON_STORE ?? 'sqlite';
  if (rawStore !== 'sqlite' && rawStore !== 'memory' && !isPostgresUrl(rawStore))
    throw new UsageError('--store must be sqlite, memory or a postgres:// URL');
  const store = rawStore;
  const sync = choiceFlag('sync', flags.sync ?? 'full', ['full', 'normal']);
  const strategy = choiceFlag('strategy', flags.strategy ?? 'capability', ASSIGNMENT_STRATEGIES);
  const level = choiceFlag('log-level', flags.logLevel ?? env.BATON_LOG_LEVEL ?? 'info', LOG_LEVELS);
  const rawFormat = flags.logFormat ?? env.BATON_LOG_FORMAT;
  const format =
    rawFormat === undefined ? undefined : choiceFlag('log-format', rawFormat, ['json', 'pretty']);
  const port = numberFlag('port', flags.port ?? env.BATON_PORT, PORT) ?? 50051;
  const options: Record<string, unknown> = {
    host: flags.host ?? env.BATON_HOST ?? '127.0.0.1',
    port,
    store,
    dbPath: flags.db ?? env.BATON_DB ?? './data/baton.db',
    sync,
    strategy,
    requireCapability: flags.requireCapability === true,
    autoStart: flags.start,
    logger: createLogger({ level, ...(format === undefined ? {} : { format }) }),
    whenStopped: flags.reopen === true ? 'reopen' : 'refuse',
    leaseTtlMs: numberFlag('lease-ttl-ms', flags.leaseTtlMs, POSITIVE),
    defaultMaxAttempts: numberFlag('max-attempts', flags.maxAttempts, WHOLE),
    retryBackoff: retryBackoffOptions(flags),
    maxRequestsPerMinute: numberFlag('max-requests-per-minute', flags.maxRequestsPerMinute, WHOLE),
    maxTokensPerMinute: numberFlag('max-tokens-per-minute', flags.maxTokensPerMinute, WHOLE),
    globalBudgetUsd: numberFlag('global-budget-usd', flags.globalBudgetUsd, POSITIVE),
    perWorkerBudgetUsd: numberFlag('worker-budget-usd', flags.workerBudgetUsd, POSITIVE),
    repo: repoOptions(flags, env),
    auth: authOptions(flags.authFile ?? env.BATON_AUTH_FILE),
    advertiseUrl: flags.advertiseUrl ?? env.BATON_ADVERTISE_URL,
    leaderTtlMs: numberFlag('leader-ttl-ms', flags.leaderTtlMs, WHOLE),
    insecure: flags.insecure === true ? true : undefined,
    tls: tlsOptions(flags.tlsCert ?? env.BATON_TLS_CERT, flags.tlsKey ?? env.BATON_TLS_KEY),
    limits: definedOnly({
      maxBatchTasks: numberFlag('max-batch-tasks', flags.maxBatchTasks, WHOLE),
      maxTasks: numberFlag('max-tasks', flags.maxTasks, WHOLE),
      maxMetadataBytes: numberFlag('max-metadata-bytes', flags.maxMetadataBytes, WHOLE),
      maxMetadataDepth: numberFlag('max-metadata-depth', flags.maxMetadataDepth, WHOLE),
      maxIdLength: numberFlag('max-id-length', flags.maxIdLength, WHOLE),
      maxCategoryLength: numberFlag('max-category-length', flags.maxCategoryLength, WHOLE),
    }),
    maxRequestBytes: numberFlag('max-request-bytes', flags.maxRequestBytes, WHOLE),
    eventsReplay: numberFlag('events-replay', flags.eventsReplay, WHOLE),
    connectionLimits: definedOnly({
      maxStreamsPerConnection: numberFlag('max-streams', flags.maxStreams, WHOLE),
      headerTimeoutMs: numberFlag('header-timeout-ms', flags.headerTimeoutMs, WHOLE),
      idleTimeoutMs: numberFlag('idle-timeout-ms', flags.idleTimeoutMs, WHOLE),
    }),
  };
  for (const key of Object.keys(options)) if (options[key] === undefined) delete options[key];
  return options as unknown as ServerOptions;
}

const BACKOFF_FLAGS: Readonly<Record<string, string>> = {
  'retryBackoff.initialMs': 'retry-initial-ms',
  'retryBackoff.maxMs': 'retry-max-ms',
  'retryBackoff.multiplier': 'retry-multiplier',
};

/**
 * The default retry backoff, field by field; undefined when no --retry-* flag is given. Checked
 * here as the coordinator will check it (the other fields' defaults included), so that a
 * maximum below the initial wait is a usage error naming the flag, not a refusal to start.
 */
function retryBackoffOptions(flags: ServeFlags): RetryBackoffSpec | undefined {
  const backoff = Object.fromEntries(
    Object.entries({
      initialMs: numberFlag('retry-initial-ms', flags.retryInitialMs, WHOLE_OR_ZERO),
      maxMs: numberFlag('retry-max-ms', flags.retryMaxMs, WHOLE_OR_ZERO),
      multiplier: numberFlag('retry-multiplier', flags.retryMultiplier, AT_LEAST_ONE),
    }).filter(([, value]) => value !== undefined),
  ) as RetryBackoffSpec;
  if (Object.keys(backoff).length === 0) return undefined;
  try {
    normalizeBackoff(backoff, DEFAULT_RETRY_BACKOFF, 'retryBackoff');
  } catch (error) {
    if (!isBatonError(error)) throw error;
    const flag = BACKOFF_FLAGS[error.field ?? ''] ?? 'retry-initial-ms';
    const message = error.message.replace(
      /retryBackoff\.(\w+)/g,
      (name) => `--${BACKOFF_FLAGS[name] ?? name}`,
    );
    throw new UsageError(`--${flag}: ${message}`);
  }
  return backoff;
}

/** The shared repository's options; the repository flags are refused without --repo. */
function repoOptions(flags: ServeFlags, env: NodeJS.ProcessEnv): Record<string, unknown> | undefined {
  const repoPath = flags.repo ?? env.BATON_REPO;
  const repoFlags = [
    ['target', flags.target],
    ['worktrees', flags.worktrees],
    ['check', flags.check],
    ['check-timeout-ms', flags.checkTimeoutMs],
    ['merge-batch', flags.mergeBatch],
  ] as const;
  const stray = repoFlags.find(([, value]) => value !== undefined);
  if (repoPath === undefined && stray !== undefined) throw new UsageError(`--${stray[0]} needs --repo`);
  if (flags.check !== undefined && flags.check.trim() === '')
    throw new UsageError('--check must be a command');
  if (repoPath === undefined) return undefined;
  return Object.fromEntries(
    Object.entries({
      repo: repoPath,
      target: flags.target,
      worktreesDir: flags.worktrees,
      check: flags.check,
      checkTimeoutMs: numberFlag('check-timeout-ms', flags.checkTimeoutMs, WHOLE),
      maxBatch: numberFlag('merge-batch', flags.mergeBatch, WHOLE),
    }).filter(([, v]) => v !== undefined),
  );
}

/** The entries that are set; undefined when none is. */
function definedOnly(values: Record<string, number | undefined>): Record<string, number> | undefined {
  const set = Object.entries(values).filter(([, v]) => v !== undefined) as [string, number][];
  return set.length === 0 ? undefined : Object.fromEntries(set);
}

/** A file a flag names, read; a UsageError naming the flag when it cannot be. */
function readFlagFile(flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`--${flag} ${path}: ${(error as Error).message}`);
  }
}

/** The tokens of the auth file; a UsageError naming its line when one is wrong. */
function authOptions(path: string | undefined): ServerOptions['auth'] {
  if (path === undefined) return undefined;
  try {
    return { tokens: parseAuthFile(readFlagFile('auth-file', path), path) };
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`--auth-file ${(error as Error).message}`);
  }
}

function tlsOptions(cert: string | undefined, key: string | undefined): ServerOptions['tls'] {
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined) throw new UsageError('--tls-key needs --tls-cert');
  if (key === undefined) throw new UsageError('--tls-cert needs --tls-key');
  return { cert: readFlagFile('tls-cert', cert), key: readFlagFile('tls-key', key) };
}

/** Who may call, in the words of the startup banner. */
function authLine(server: BatonServer, options: ServerOptions): string {
  if (options.auth !== undefined) {
    const counts = new Map<string, number>();
    for (const t of options.auth.tokens) counts.set(t.role, (counts.get(t.role) ?? 0) + 1);
    const roles = [...counts].map(([role, n]) => `${n} ${role}`).join(', ');
    return `baton: auth on: bearer tokens required (${roles === '' ? 'no tokens: only probes answer' : roles})\n`;
  }
  if (isLoopback(server.host))
    return 'baton: auth off: open to anyone on this machine (loopback only; --auth-file turns tokens on)\n';
  return `baton: auth OFF on ${server.host} (--insecure): anyone who reaches the port may do anything\n`;
}

/** Which capability mode is in force, in the words of the startup banner. */
const capabilityMode = (strict: boolean): string =>
  strict
    ? 'strict capability mode (--require-capability): a task waits for a worker listing its category'
    : 'capability fallback: a task whose category no worker lists goes to the least-loaded worker ' +
      '(--require-capability, or requireCapability on a task, forbids it)';

/** Starts the server, says where it listens, and closes it on the first signal (exits on a second). */
async function serve(options: ServerOptions & Omit<ReplicaOptions, 'store'>): Promise<void> {
  let server: BatonServer;
  let replica: BatonReplica | undefined;
  let stopping = false;
  try {
    if (isPostgresUrl(options.store)) {
      replica = await startReplica({
        ...options,
        store: options.store,
        onRole: (role, leader) => {
          if (role === 'standby')
            process.stdout.write(
              `baton: standby at ${replica?.url ?? 'this replica'}: the leader is ${leader ?? 'none yet'}; ` +
                'this replica takes over when its lease runs out\n',
            );
        },
        onDeposed: (reason) => {
          if (stopping) return;
          process.stderr.write(`baton: deposed: ${reason}; exiting (restart it to serve as a standby)\n`);
          process.exit(EXIT.refused);
        },
      });
      const started = replica;
      const stop = (): void => {
        stopping = true;
        started.close().then(() => process.exit(EXIT.ok));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      server = await replica.leading;
      process.removeListener('SIGINT', stop);
      process.removeListener('SIGTERM', stop);
    } else {
      server = await startServer(options);
    }
  } catch (error) {
    const reason = error instanceof StoreOpenError ? error.message : (error as Error).message;
    process.stderr.write(`baton: cannot start: ${reason}\n`);
    process.exit(EXIT.refused);
  }
  const progress = server.coordinator.taskQueue.getProgress();
  const where =
    options.store === 'memory'
      ? 'in memory (nothing survives a restart)'
      : isPostgresUrl(options.store)
        ? `in ${redactUrl(options.store)}`
        : `in ${options.dbPath}`;
  process.stdout.write(
    `baton: listening on ${server.url} (gRPC, gRPC-Web, Connect, REST /api/coordination)\n` +
      (replica === undefined ? '' : `baton: leader (fencing token ${replica.token}) at ${replica.url}\n`) +
      `baton: coordinator ${server.coordinator.state}, ${progress.total} task(s), state ${where}\n` +
      authLine(server, options) +
      `baton: assignment ${server.coordinator.workAssigner.strategy}, ${capabilityMode(server.coordinator.workAssigner.requireCapability)}\n` +
      (server.repo === undefined
        ? ''
        : `baton: repository ${server.repo.workspaces.gitDir}, target ${server.repo.workspaces.target}, ` +
          `merge queue ${server.repo.queue === undefined ? 'off (no --check)' : 'on'}\n`) +
      (server.coordinator.state === 'drained'
        ? 'baton: drained: it assigns nothing until POST /api/coordination/start resumes it\n'
        : ''),
  );
  const shutdown = (signal: string): void => {
    if (stopping) {
      process.stderr.write('baton: forced exit\n');
      process.exit(EXIT.interrupted);
    }
    stopping = true;
    process.stdout.write(`baton: ${signal}: shutting down\n`);
    (replica ?? server).close().then(
      () => process.exit(EXIT.ok),
      (error: unknown) => {
        process.stderr.write(`baton: shutdown failed: ${(error as Error).message}\n`);
        process.exit(EXIT.refused);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}
