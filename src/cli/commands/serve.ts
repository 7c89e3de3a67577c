import type { Command } from 'commander';
import { ASSIGNMENT_STRATEGIES } from '../../core/work-assigner.js';
import { LOG_LEVELS } from '../../server/observability/log-levels.js';
import { usageChecked } from '../usage-checked.js';
import type { ServeFlags } from './serve-run.js';

/** `baton serve`: runs the coordinator in this process until SIGINT/SIGTERM. */
export function addServeCommand(program: Command): void {
  program
    .command('serve')
    .summary('run the coordinator (gRPC, gRPC-Web, Connect, REST and /metrics on one port)')
    .description(
      'Runs the Baton coordinator: gRPC, gRPC-Web, Connect and REST on one port.\n\n' +
        'Options name their environment variable in brackets; a flag wins over it.',
    )
    .option('--host <host>', 'listen address (BATON_HOST, default 127.0.0.1)')
    .option('--port <port>', 'listen port, 0 for any (BATON_PORT, default 50051)')
    .option(
      '--store <kind>',
      'sqlite | memory | postgres://user[:password]@host[:port]/db: where state lives (BATON_STORE, default sqlite)',
    )
    .option('--db <path>', 'SQLite file (BATON_DB, default ./data/baton.db)')
    .option(
      '--advertise-url <url>',
      'with a postgres:// store: the URL clients reach this replica at, which standbys name ' +
        '(BATON_ADVERTISE_URL, default http://host:port)',
    )
    .option(
      '--leader-ttl-ms <ms>',
      'with a postgres:// store: a dead leader is replaced this long after its last renewal (default 3000)',
    )
    .option(
      '--sync <mode>',
      'full | normal: fsync every commit, or only survive process crashes (default full)',
    )
    .option('--strategy <name>', `${ASSIGNMENT_STRATEGIES.join(' | ')} (default capability)`)
    .option(
      '--require-capability',
      'strict capability mode: never give a task to a worker that does not list its category (it ' +
        'waits instead); default: a category no worker lists falls back to the least-loaded worker',
    )
    .option('--lease-ttl-ms <ms>', 'a silent worker loses its tasks after this (default 30000)')
    .option('--max-attempts <n>', 'default attempts per task (default 3)')
    .option(
      '--retry-initial-ms <ms>',
      'after a retryable failure a task waits up to this long before its next attempt, 0 for no wait ' +
        '(the ceiling; the wait is drawn from its upper half; default 1000)',
    )
    .option('--retry-max-ms <ms>', 'the ceiling of that wait never grows past this (default 60000)')
    .option(
      '--retry-multiplier <x>',
      'the ceiling grows this many times per failed attempt, 1 or more (default 2)',
    )
    .option('--max-requests-per-minute <n>', 'shared request budget (default 600)')
    .option('--max-tokens-per-minute <n>', 'shared LLM token budget (default 1000000)')
    .option('--global-budget-usd <usd>', 'stop all workers past this spend (default none)')
    .option('--worker-budget-usd <usd>', 'stop a worker past this spend (default none)')
    .option('--no-start', 'leave a new coordinator in init until POST /api/coordination/start')
    .option(
      '--reopen',
      'open a stopped coordinator again (stop is final otherwise), keeping its tasks; without it, ' +
        'serving a stopped store is refused',
    )
    .option(
      '--repo <path>',
      'share this git repository with the fleet: a worktree and branch per worker that asks, path ' +
        'locks, the conflict matrix (BATON_REPO)',
    )
    .option('--target <branch>', 'the branch Baton owns and lands on (default main)')
    .option('--worktrees <dir>', 'where worker worktrees live (default <repo>/.git/baton-worktrees)')
    .option(
      '--check <command>',
      'what a merge must pass, run by sh in a scratch worktree; turns the merge queue on (e.g. ' +
        '--check "npm test"; without it nothing lands)',
    )
    .option('--check-timeout-ms <ms>', 'a check still running after this fails (default 600000)')
    .option('--merge-batch <n>', 'queued branches merged and checked together (default 8)')
    .option(
      '--auth-file <path>',
      'bearer tokens with roles, one `<role> sha256:<hex> [<worker id>]` a line (see `baton token ' +
        'create`); every call then needs a token (BATON_AUTH_FILE, default none: open, loopback only)',
    )
    .option(
      '--insecure',
      'listen beyond loopback without --auth-file: anyone who reaches the port may do anything',
    )
    .option(
      '--tls-cert <path>',
      'PEM certificate: serve every protocol over TLS on the port (BATON_TLS_CERT)',
    )
    .option('--tls-key <path>', 'PEM private key of --tls-cert (BATON_TLS_KEY)')
    .option('--max-batch-tasks <n>', 'tasks in one BatchAddTasks (default 10000)')
    .option('--max-tasks <n>', 'tasks in the graph, whatever their status (default 2000000)')
    .option('--max-metadata-bytes <n>', "one task's metadata as JSON, in bytes (default 65536)")
    .option('--max-metadata-depth <n>', "how deeply one task's metadata nests (default 32)")
    .option('--max-id-length <n>', 'characters in a task id (default 256)')
    .option('--max-category-length <n>', "characters in a task's category (default 256)")
    .option(
      '--max-request-bytes <n>',
      'one request message on any protocol: REST body, Connect or gRPC message (default 16777216)',
    )
    .option('--max-streams <n>', 'HTTP/2 streams (calls) open at once on one connection (default 1000)')
    .option(
      '--header-timeout-ms <ms>',
      "a connection that has not sent its request's headers by then is closed (default 10000)",
    )
    .option(
      '--idle-timeout-ms <ms>',
      'a connection with no call in flight is closed after this (default 300000)',
    )
    .option(
      '--events-replay <n>',
      'events kept for watchers resuming after a sequence; an older one is refused (default 10000)',
    )
    .option('--log-level <level>', `${LOG_LEVELS.join(' | ')} (BATON_LOG_LEVEL, default info)`)
    .option(
      '--log-format <format>',
      'json | pretty: log lines on stderr (BATON_LOG_FORMAT, default pretty on a terminal)',
    )
    .action(
      usageChecked(async (command) => {
        // The server and its dependencies load only here, so other commands start without them.
        const { runServe } = await import('./serve-run.js');
        await runServe(command.opts<ServeFlags>(), process.env);
      }),
    );
}
