import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { ConnectError, createClient, type Interceptor, type Transport } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { ErrorCode } from '../../src/client/proto.js';
import {
  type CoordinatorMessage,
  type Receipt,
  type WorkerMessageSchema,
  WorkerService,
} from '../../src/server/codec/proto.js';
import { createAsyncQueue } from '../../src/wire/async-queue.js';
import { type PostgresCluster, postgresOrSkip } from '../support/postgres-cluster.js';

/** dist/src/cli/main.js, next to this file's compiled form in dist/test/durability. */
export const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

/** A port that was free a moment ago: the server is restarted on it, so workers keep one URL. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

export function tempDir(prefix: string): { readonly path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A seeded PRNG, so a failing run can be replayed. */
export { prng as seeded } from '../../bench/prng.js';

export const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
  everyMs = 10,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export interface ServerProcess {
  readonly child: ChildProcess;
  /** Everything the process wrote, stdout and stderr interleaved. */
  output(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs the CLI (`baton serve ...args`) and resolves once it listens. */
export async function startCli(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<ServerProcess> {
  const proc = runCli(args, env);
  await Promise.race([
    waitFor('the server to listen', () => proc.output().includes('baton: listening on'), 20_000),
    proc.exited.then((code) => {
      throw new Error(`server exited with ${code} before listening:\n${proc.output()}`);
    }),
  ]);
  return proc;
}

/** A `baton serve` replica on a PostgreSQL database (docs/deployment.md). */
export interface Replica {
  readonly proc: ServerProcess;
  /** `http(s)://127.0.0.1:port`: what it serves at and advertises. */
  readonly url: string;
  readonly port: number;
}

/** Whether a replica took the lead (it prints where it listens only then). */
export const leads = (p: ServerProcess): boolean => p.output().includes('listening on');

/**
 * Starts a replica on `db` (at `port`, default a free one) with `args` besides `--store`; resolves
 * once it says whether it leads or stands by. With `--tls-cert` its URL is https.
 */
export async function startReplica(
  db: string,
  args: readonly string[] = [],
  port?: number,
  env: Readonly<Record<string, string>> = {},
): Promise<Replica> {
  const at = port ?? (await freePort());
  const proc = runCli(['--port', String(at), '--store', db, ...args], env);
  await Promise.race([
    waitFor('the replica to lead or stand by', () => /listening on|standby at/.test(proc.output()), 20_000),
    proc.exited.then((code) => {
      throw new Error(`replica exited with ${code} before it led or stood by:\n${proc.output()}`);
    }),
  ]);
  const scheme = args.includes('--tls-cert') ? 'https' : 'http';
  return { proc, url: `${scheme}://127.0.0.1:${at}`, port: at };
}

/** A suite of replicas: its database cluster, and replicas that are killed after each spec. */
export interface ReplicaSuite {
  /** The shared PostgreSQL cluster (the suite is skipped, saying why, when it cannot start). */
  cluster(): PostgresCluster;
  /** {@link startReplica}, killed (woken first if stopped) after the spec. */
  start(db: string, args?: readonly string[], port?: number): Promise<Replica>;
}

/** Registers the suite's hooks: call it in a `describe`. */
export function replicaSuite(): ReplicaSuite {
  let cluster: PostgresCluster | undefined;
  const running: ServerProcess[] = [];
  before(async function () {
    cluster = await postgresOrSkip(this);
  });
  afterEach(async () => {
    for (const p of running.splice(0)) {
      p.child.kill('SIGCONT');
      await p.kill('SIGKILL');
    }
  });
  return {
    cluster: () => {
      if (cluster === undefined) throw new Error('no cluster before the suite started');
      return cluster;
    },
    async start(db, args, port) {
      const replica = await startReplica(db, args, port);
      running.push(replica.proc);
      return replica;
    },
  };
}

/** Runs the CLI without waiting for anything. */
export function runCli(args: readonly string[], env: Readonly<Record<string, string>> = {}): ServerProcess {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return {
    child,
    output: () => text,
    exited,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** What one worker's session carried: reports by seq until their receipt, and the receipts. */
export interface ReportTally {
  /** Acknowledged (ok) completions per task id. */
  readonly completions: Map<string, number>;
  /** The attempt of each task's (last) acknowledged completion. */
  readonly attempts: Map<string, number>;
  /** Sum of acknowledged cost reports, in micro-dollars. */
  costMicros: number;
  /** Receipts that refused a report, by error code name. */
  readonly refusals: Map<string, number>;
}

export function newTally(): ReportTally {
  return { completions: new Map(), attempts: new Map(), costMicros: 0, refusals: new Map() };
}

type Kind = { case?: string; value?: unknown } | undefined;
interface ReportLike {
  readonly kind?: Kind;
}

/**
 * Watches a worker's WorkerService.Session from outside the SDK: every complete and cost report
 * it writes (by seq, as the SDK's ledger keys them), and every receipt. A report counts once, on
 * its first receipt, exactly as the SDK's ledger settles it; a report resent after a reconnect
 * keeps its seq, so it is not counted twice.
 */
export function tallyInterceptor(tally: ReportTally): Interceptor {
  const outstanding = new Map<number, { readonly type: 'complete' | 'cost'; readonly value: unknown }>();
  const noteReport = (kind: Kind): void => {
    if (kind?.case !== 'complete' && kind?.case !== 'cost') return;
    const value = kind.value as { seq: number };
    outstanding.set(value.seq, { type: kind.case, value });
  };
  async function* tapOut(messages: AsyncIterable<ReportLike>): AsyncIterable<ReportLike> {
    for await (const m of messages) {
      if (m.kind?.case === 'reports') {
        for (const r of (m.kind.value as { reports: ReportLike[] }).reports) noteReport(r.kind);
      } else noteReport(m.kind);
      yield m;
    }
  }
  async function* tapIn(messages: AsyncIterable<ReportLike>): AsyncIterable<ReportLike> {
    for await (const m of messages) {
      if (m.kind?.case === 'ack') {
        const receipts = (
          m.kind.value as { receipts: { seq: number; ok: boolean; error?: { code: number } }[] }
        ).receipts;
        for (const r of receipts) {
          const report = outstanding.get(r.seq);
          if (report === undefined) continue;
          outstanding.delete(r.seq);
          if (!r.ok) {
            const name = ErrorCode[r.error?.code ?? 0] ?? String(r.error?.code);
            tally.refusals.set(name, (tally.refusals.get(name) ?? 0) + 1);
          } else if (report.type === 'complete') {
            const { taskId: id, attempt } = report.value as { taskId: string; attempt: number };
            tally.completions.set(id, (tally.completions.get(id) ?? 0) + 1);
            tally.attempts.set(id, attempt);
          } else {
            tally.costMicros += Math.round((report.value as { totalUsd: number }).totalUsd * 1e6);
          }
        }
      }
      yield m;
    }
  }
  return (next) => async (req) => {
    if (!req.stream || req.method.name !== 'Session') return next(req);
    const res = await next({
      ...req,
      message: tapOut(req.message as AsyncIterable<ReportLike>),
    } as typeof req);
    if (!res.stream) return res;
    return { ...res, message: tapIn(res.message as AsyncIterable<ReportLike>) } as typeof res;
  };
}

// biome-ignore lint/suspicious/noExplicitAny: REST answers are checked field by field.
export type Json = any;

export async function getJson(base: string, path: string): Promise<Json> {
  const response = await fetch(`${base}${path}`);
  const text = await response.text();
  if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

/**
 * A worker session without the SDK: the test decides every message, so it can go silent with the
 * stream open, or send a report the SDK would have dropped.
 */
export interface RawSession {
  send(message: MessageInitShape<typeof WorkerMessageSchema>): void;
  /** The next received message (also ones received earlier and not yet taken) that `match` accepts. */
  next<T>(what: string, match: (m: CoordinatorMessage) => T | undefined, timeoutMs?: number): Promise<T>;
  /** The receipt of report `seq`. */
  receipt(seq: number, timeoutMs?: number): Promise<Receipt>;
  /** Drops the stream from this side. */
  abort(): void;
  /** Settles when the coordinator ends the stream: undefined for a clean end, else the error. */
  readonly ended: Promise<ConnectError | undefined>;
}

export function openRawSession(
  url: string,
  workerId: string,
  maxConcurrency = 1,
  transport: Transport = createGrpcTransport({ baseUrl: url }),
): RawSession {
  const client = createClient(WorkerService, transport);
  const out = createAsyncQueue<MessageInitShape<typeof WorkerMessageSchema>>();
  const controller = new AbortController();
  const inbox: CoordinatorMessage[] = [];
  let wake: (() => void) | undefined;
  out.push({ kind: { case: 'hello', value: { workerId, maxConcurrency } } });
  const ended = (async (): Promise<ConnectError | undefined> => {
    try {
      for await (const m of client.session(out, { signal: controller.signal })) {
        inbox.push(m);
        wake?.();
      }
      return undefined;
    } catch (e) {
      return ConnectError.from(e);
    } finally {
      out.close();
      wake?.();
    }
  })();
  let over = false;
  void ended.then(() => {
    over = true;
  });
  const next = async <T>(
    what: string,
    match: (m: CoordinatorMessage) => T | undefined,
    timeoutMs = 5000,
  ): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const [i, m] of inbox.entries()) {
        const found = match(m);
        if (found !== undefined) {
          inbox.splice(i, 1);
          return found;
        }
      }
      if (over) throw new Error(`session of ${workerId} ended before ${what}: ${await ended}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} for ${workerId} within ${timeoutMs} ms`);
      await new Promise<void>((done) => {
        const timer = setTimeout(done, left);
        wake = () => {
          clearTimeout(timer);
          done();
        };
      });
    }
  };
  return {
    send: (message) => out.push(message),
    next,
    receipt: (seq, timeoutMs) =>
      next(
        `receipt ${seq}`,
        (m) => (m.kind.case === 'ack' ? m.kind.value.receipts.find((r) => r.seq === seq) : undefined),
        timeoutMs,
      ),
    abort: () => controller.abort(),
    ended,
  };
}

/** A TCP proxy in front of the server whose connections the test can cut, and refuse for a while. */
export interface CuttableProxy {
  readonly url: string;
  /** Destroys every connection through the proxy and refuses new ones until `resume`. */
  cut(): void;
  resume(): void;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<CuttableProxy> {
  const sockets = new Set<Socket>();
  let refusing = false;
  const server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(a);
      a.pipe(b);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    cut() {
      refusing = true;
      for (const socket of sockets) socket.destroy();
    },
    resume() {
      refusing = false;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((done) => server.close(() => done()));
    },
  };
}
