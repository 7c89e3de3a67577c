import { performance } from 'node:perf_hooks';

/**
 * Messages between bench/e2e.bench.ts (the parent) and its child processes: bench/e2e-server.ts
 * (a Baton server, or the bare echo server) and bench/e2e-workers.ts (SDK workers). Every child
 * is forked with an IPC channel; the parent sends one request at a time and waits for its answer.
 */

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export const wallMs = (): number => performance.timeOrigin + performance.now();

export interface ServerConfig {
  readonly mode: 'baton' | 'echo';
  readonly store: 'memory' | 'sqlite' | 'postgres';
  readonly dbPath?: string;
  /** The PostgreSQL database of a `postgres` store. */
  readonly pgUrl?: string;
  /** false: the worker Session through connect-node's handler instead of transport/session-fast-path.ts. */
  readonly sessionFastPath?: boolean;
  /** false: the SQLite connection on the event loop instead of in its worker thread. */
  readonly sqliteThread?: boolean;
  /** An auth file's text: every call then needs a bearer token (the fleet's `token`). */
  readonly authFile?: string;
  /** false: the server counts nothing for /metrics (startServer's metrics option). */
  readonly metrics?: boolean;
}

export type ServerReply =
  | { readonly type: 'ready'; readonly url: string }
  /** coord:all-complete, sent once the turn that made it true is committed. */
  | { readonly type: 'all-complete'; readonly at: number; readonly complete: number }
  | { readonly type: 'cpu'; readonly ms: number };

export type ServerRequest =
  | { readonly type: 'cpu' }
  /** Send `all-complete` once coord:all-complete fires with at least `complete` tasks complete. */
  | { readonly type: 'await'; readonly complete: number }
  | { readonly type: 'close' };

export interface WorkersConfig {
  readonly url: string;
  readonly idPrefix: string;
  readonly workers: number;
  readonly maxConcurrency: number;
  /** The bearer token of the auth-on server. */
  readonly token?: string;
}

export type WorkersRequest =
  | { readonly type: 'collect' }
  /** Record the receipt time of tasks whose id starts with `prefix` ('' for none). */
  | { readonly type: 'track'; readonly prefix: string }
  | { readonly type: 'cpu' }
  | { readonly type: 'ping-pong'; readonly url: string; readonly warmup: number; readonly count: number }
  | { readonly type: 'close' };

export type WorkersReply =
  | { readonly type: 'ready' }
  | {
      readonly type: 'collected';
      readonly tasks: number;
      /** [task id, receipt wall time] of the tracked tasks. */
      readonly received: [string, number][];
      /** [chain index, receipt wall time] of chain tasks. */
      readonly chain: [number, number][];
    }
  | { readonly type: 'cpu'; readonly ms: number }
  | { readonly type: 'ping-pong'; readonly rttMs: number[] }
  | { readonly type: 'error'; readonly message: string };

export const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

if (process.env.E2E_CPU_AT_EXIT === '1') {
  process.on('exit', () => {
    const u = process.cpuUsage();
    console.error(
      `cpu ${process.argv[1]?.split('/').pop()}: user ${(u.user / 1000).toFixed(0)} ms, system ${(u.system / 1000).toFixed(0)} ms`,
    );
  });
}
