#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ASSIGNMENT_STRATEGIES, type AssignmentStrategy } from '../core/work-assigner.js';
import { createLogger, isLogLevel, LOG_LEVELS } from '../server/observability/logger.js';
import { type ServerOptions, startServer } from '../server/server.js';
import { isPostgresUrl, redactUrl } from '../server/store/postgres-store.js';
import { StoreOpenError } from '../server/store/store-open-error.js';

const USAGE = `Usage: baton serve [options]

Runs the Baton coordinator: gRPC, gRPC-Web, Connect and REST on one port.

Options (environment variable in brackets):
  --host HOST                     listen address (BATON_HOST, default 127.0.0.1)
  --port PORT                     listen port, 0 for any (BATON_PORT, default 50051)
  --store sqlite|memory|URL       where state lives (BATON_STORE, default sqlite); a URL
                                  postgres://user[:password]@host[:port]/database keeps it in
                                  PostgreSQL
  --db PATH                       SQLite file (BATON_DB, default ./data/baton.db)
  --sync full|normal              fsync every commit, or only survive process crashes (default full)
  --strategy NAME                 ${ASSIGNMENT_STRATEGIES.join(' | ')} (default capability)
  --lease-ttl-ms MS               a silent worker loses its tasks after this (default 30000)
  --max-attempts N                default attempts per task (default 3)
  --max-requests-per-minute N     shared request budget (default 600)
  --max-tokens-per-minute N       shared LLM token budget (default 1000000)
  --global-budget-usd USD         stop all workers past this spend (default none)
  --worker-budget-usd USD         stop a worker past this spend (default none)
  --no-start                      leave a new coordinator in init until POST /api/coordination/start
  --reopen                        open a stopped coordinator again (stop is final otherwise), keeping
                                  its tasks; without it, serving a stopped store is refused
  --repo PATH                     share this git repository with the fleet: a worktree and branch per
                                  worker that asks, path locks, the conflict matrix (BATON_REPO)
  --target BRANCH                 the branch Baton owns and lands on (default main)
  --worktrees DIR                 where worker worktrees live (default <repo>/.git/baton-worktrees)
  --check COMMAND                 what a merge must pass, run by sh in a scratch worktree; turns the
                                  merge queue on (e.g. --check "npm test"; without it nothing lands)
  --check-timeout-ms MS           a check still running after this fails (default 600000)
  --merge-batch N                 queued branches merged and checked together (default 8)
  --log-level LEVEL               fatal | error | warn | info | debug | trace | silent (BATON_LOG_LEVEL, default info)
  --log-format json|pretty        log lines on stderr: JSON, or readable (BATON_LOG_FORMAT, default pretty on a terminal)
  -h, --help                      this text
`;

class UsageError extends Error {}

interface NumberRule {
  readonly what: string;
  readonly ok: (n: number) => boolean;
}
const PORT: NumberRule = {
  what: 'a port number from 0 to 65535',
  ok: (n) => Number.isInteger(n) && n >= 0 && n < 65536,
};
const WHOLE: NumberRule = { what: 'a whole number above 0', ok: (n) => Number.isInteger(n) && n > 0 };
const POSITIVE: NumberRule = { what: 'a number above 0', ok: (n) => Number.isFinite(n) && n > 0 };

const number = (name: string, raw: string | undefined, rule: NumberRule): number | undefined => {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !rule.ok(n))
    throw new UsageError(`--${name} must be ${rule.what}, got ${JSON.stringify(raw)}`);
  return n;
};

function parse(argv: readonly string[]): ServerOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      store: { type: 'string' },
      db: { type: 'string' },
      sync: { type: 'string' },
      strategy: { type: 'string' },
      'lease-ttl-ms': { type: 'string' },
      'max-attempts': { type: 'string' },
      'max-requests-per-minute': { type: 'string' },
      'max-tokens-per-minute': { type: 'string' },
      'global-budget-usd': { type: 'string' },
      'worker-budget-usd': { type: 'string' },
      'no-start': { type: 'boolean' },
      reopen: { type: 'boolean' },
      'log-level': { type: 'string' },
      'log-format': { type: 'string' },
      repo: { type: 'string' },
      target: { type: 'string' },
      worktrees: { type: 'string' },
      check: { type: 'string' },
      'check-timeout-ms': { type: 'string' },
      'merge-batch': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals.length > 1 || (positionals[0] ?? 'serve') !== 'serve') {
    throw new UsageError(`unknown command ${JSON.stringify(positionals.join(' '))}`);
  }
  const env = process.env;
  const store = values.store ?? env.BATON_STORE ?? 'sqlite';
  if (store !== 'sqlite' && store !== 'memory' && !isPostgresUrl(store))
    throw new UsageError('--store must be sqlite, memory or a postgres:// URL');
  const sync = values.sync ?? 'full';
  if (sync !== 'full' && sync !== 'normal') throw new UsageError('--sync must be full or normal');
  const strategy = values.strategy ?? 'capability';
  if (!ASSIGNMENT_STRATEGIES.includes(strategy as AssignmentStrategy)) {
    throw new UsageError(`--strategy must be one of ${ASSIGNMENT_STRATEGIES.join(', ')}`);
  }
  const level = values['log-level'] ?? env.BATON_LOG_LEVEL ?? 'info';
  if (!isLogLevel(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const format = values['log-format'] ?? env.BATON_LOG_FORMAT;
  if (format !== undefined && format !== 'json' && format !== 'pretty')
    throw new UsageError('--log-format must be json or pretty');
  const port = number('port', values.port ?? env.BATON_PORT, PORT) ?? 50051;
  const repoPath = values.repo ?? env.BATON_REPO;
  const repoFlags = ['target', 'worktrees', 'check', 'check-timeout-ms', 'merge-batch'] as const;
  const stray = repoFlags.find((flag) => values[flag] !== undefined);
  if (repoPath === undefined && stray !== undefined) throw new UsageError(`--${stray} needs --repo`);
  if (values.check !== undefined && values.check.trim() === '')
    throw new UsageError('--check must be a command');
  const repo =
    repoPath === undefined
      ? undefined
      : Object.fromEntries(
          Object.entries({
            repo: repoPath,
            target: values.target,
            worktreesDir: values.worktrees,
            check: values.check,
            checkTimeoutMs: number('check-timeout-ms', values['check-timeout-ms'], WHOLE),
            maxBatch: number('merge-batch', values['merge-batch'], WHOLE),
          }).filter(([, v]) => v !== undefined),
        );
  const options: Record<string, unknown> = {
    host: values.host ?? env.BATON_HOST ?? '127.0.0.1',
    port,
    store,
    dbPath: values.db ?? env.BATON_DB ?? './data/baton.db',
    sync,
    strategy,
    autoStart: values['no-start'] !== true,
    logger: createLogger({ level, ...(format === undefined ? {} : { format }) }),
    whenStopped: values.reopen === true ? 'reopen' : 'refuse',
    leaseTtlMs: number('lease-ttl-ms', values['lease-ttl-ms'], POSITIVE),
    defaultMaxAttempts: number('max-attempts', values['max-attempts'], WHOLE),
    maxRequestsPerMinute: number('max-requests-per-minute', values['max-requests-per-minute'], WHOLE),
    maxTokensPerMinute: number('max-tokens-per-minute', values['max-tokens-per-minute'], WHOLE),
    globalBudgetUsd: number('global-budget-usd', values['global-budget-usd'], POSITIVE),
    perWorkerBudgetUsd: number('worker-budget-usd', values['worker-budget-usd'], POSITIVE),
    repo,
  };
  for (const key of Object.keys(options)) if (options[key] === undefined) delete options[key];
  return options as unknown as ServerOptions;
}

async function main(): Promise<void> {
  let options: ServerOptions | 'help';
  try {
    options = parse(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`baton: ${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (options === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(options);
  } catch (error) {
    const reason = error instanceof StoreOpenError ? error.message : (error as Error).message;
    process.stderr.write(`baton: cannot start: ${reason}\n`);
    process.exit(1);
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
      `baton: coordinator ${server.coordinator.state}, ${progress.total} task(s), state ${where}\n` +
      (server.repo === undefined
        ? ''
        : `baton: repository ${server.repo.workspaces.gitDir}, target ${server.repo.workspaces.target}, ` +
          `merge queue ${server.repo.queue === undefined ? 'off (no --check)' : 'on'}\n`) +
      (server.coordinator.state === 'drained'
        ? 'baton: drained: it assigns nothing until POST /api/coordination/start resumes it\n'
        : ''),
  );
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) {
      process.stderr.write('baton: forced exit\n');
      process.exit(130);
    }
    stopping = true;
    process.stdout.write(`baton: ${signal}: shutting down\n`);
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`baton: shutdown failed: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

await main();
