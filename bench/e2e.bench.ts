import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http2 from 'node:http2';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create, toBinary } from '@bufbuild/protobuf';
import { createConnectTransport } from '@connectrpc/connect-node';
import { bearer } from '../src/client/connection.js';
import { type AdminClient, createAdminClient, createWorker, type NewTask } from '../src/client/index.js';
import { authLine, createToken } from '../src/server/auth/tokens.js';
import { BatchAddTasksRequestSchema } from '../src/server/codec/proto.js';
import { startPostgresCluster } from '../test/support/postgres-cluster.js';
import {
  type ServerConfig,
  type ServerReply,
  type ServerRequest,
  type WorkersConfig,
  type WorkersReply,
  type WorkersRequest,
  wallMs,
} from './e2e-ipc.js';
import { prng } from './prng.js';
import { fmt, median, percentile } from './stats.js';

/**
 * End to end (docs/benchmarks.md, "End to end (npm run bench:e2e)"): a Baton server process and
 * SDK worker processes on loopback, driven by this process through the admin API.
 *
 * - Throughput: `tasks` no-op tasks, flat and as a random DAG, through procs × workers SDK workers;
 *   all queued behind a gate task, timed from opening the gate to coord:all-complete (committed)
 *   on the server.
 * - Durable: the same runs against a second server on SQLite (temp file, sync=full).
 * - Step latency: a chain of `chain` tasks; the median gap between a worker receiving step k and
 *   a worker receiving step k+1, against the median round trip of a bare connect-node bidi echo
 *   (its own server process, same transport, same client).
 * - Dispatch latency: tasks added at half the measured flat throughput, a batch every `paceMs`,
 *   over a bare HTTP/2 Connect call; each task's latency runs from just before its batch is sent
 *   to the SDK handing it to the worker's handler.
 *
 * Each repetition starts fresh processes and warms them up with the same work, unmeasured; the
 * table shows every repetition and the median.
 */

interface Options {
  readonly tasks: number;
  readonly reps: number;
  readonly procs: number;
  readonly workers: number;
  readonly concurrency: number;
  readonly chain: number;
  readonly batch: number;
  readonly dagWindow: number;
  readonly dispatchSeconds: number;
  /** How often the dispatch-latency run adds a batch. */
  readonly paceMs: number;
  /**
   * Tasks/s of the dispatch-latency runs, one run each (a latency-by-load curve); empty: one run
   * at half the median flat in-memory throughput so far (the figure).
   */
  readonly dispatchRates: readonly number[];
  readonly only: ReadonlySet<string>;
  /** `server` or `workers`: write CPU profiles of those processes to ./prof. */
  readonly cpuProf: string;
  readonly timeoutMs: number;
  /** --sqlite-thread=0: the SQLite store with its connection on the event loop (step before the thread). */
  readonly sqliteThread: boolean;
}

const TARGET = {
  throughput: 20_000,
  stepRatio: 1.5,
  dispatchP99Ms: 5,
  /** SQLite ÷ memory (issue 14); PostgreSQL ÷ memory keeps the durability issue's 0.5. */
  sqliteRatio: 0.8,
  postgresRatio: 0.5,
};

class Child<Reply extends { type: string }, Request> {
  private readonly waiting: { type: string; resolve(r: Reply): void }[] = [];
  private readonly listeners = new Set<(r: Reply) => void>();
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly process: ChildProcess,
  ) {
    process.on('message', (reply: Reply) => {
      for (const l of this.listeners) l(reply);
      const i = this.waiting.findIndex((w) => w.type === reply.type);
      if (i >= 0) this.waiting.splice(i, 1)[0]?.resolve(reply);
    });
    this.exited = new Promise((resolve) => process.once('exit', (code) => resolve(code)));
  }

  next<T extends Reply['type']>(type: T, timeoutMs = 120_000): Promise<Extract<Reply, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.name}: no ${type} in ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiting.push({
        type,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r as Extract<Reply, { type: T }>);
        },
      });
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${code}) while waiting for ${type}`));
      });
    });
  }

  on(listener: (r: Reply) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  send(request: Request): void {
    this.process.send(request as object);
  }

  ask<T extends Reply['type']>(request: Request, type: T): Promise<Extract<Reply, { type: T }>> {
    const reply = this.next(type);
    this.send(request);
    return reply;
  }
}

type ServerChild = Child<ServerReply, ServerRequest>;
type WorkersChild = Child<WorkersReply, WorkersRequest>;

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));

function spawn<R extends { type: string }, Q>(
  file: string,
  name: string,
  arg: object,
  profile: string | undefined,
): Child<R, Q> {
  // Diagnostics for every child, e.g. E2E_NODE_ARGS=--trace-gc (NODE_OPTIONS refuses some flags),
  // and E2E_SERVER_NODE_ARGS for the Baton servers only; their output goes to stdout, which is
  // otherwise ignored.
  const serverArgs = name.startsWith('server(') ? (process.env.E2E_SERVER_NODE_ARGS ?? '') : '';
  const diagnostics = `${process.env.E2E_NODE_ARGS ?? ''} ${serverArgs}`.split(' ').filter((a) => a !== '');
  const child = fork(here(file), [JSON.stringify(arg)], {
    stdio: ['ignore', diagnostics.length > 0 ? 'inherit' : 'ignore', 'inherit', 'ipc'],
    execArgv: [
      ...(profile === undefined
        ? []
        : ['--cpu-prof', '--cpu-prof-interval=250', `--cpu-prof-dir=${profile}`]),
      ...diagnostics,
    ],
  });
  return new Child<R, Q>(name, child);
}

interface Fleet {
  readonly label: string;
  readonly server: ServerChild;
  readonly url: string;
  readonly admin: AdminClient;
  readonly workers: WorkersChild[];
  readonly gate: Gate;
}

/**
 * Holds the gate of a throughput run: one SDK worker in this process, the only one listing the
 * `gate` category, so the capability strategy gives it (and only it) the run's gate task. Its
 * handler holds the task until `open()`; every task of the run depends on the gate (the roots
 * of a DAG), so all of them are queued before the clock starts and become ready together.
 */
interface Gate {
  /** Resolves once the gate task `id` is being held. */
  held(id: string): Promise<void>;
  /** Completes the held gate task. */
  open(): void;
  stop(): Promise<void>;
}

function startGate(url: string, label: string, token: string | undefined): Promise<Gate> {
  const waiting = new Map<string, () => void>();
  let release: (() => void) | undefined;
  const worker = createWorker({
    url,
    token,
    id: `${label}-gate`,
    capabilities: ['gate'],
    maxConcurrency: 1,
    handler: (task) =>
      new Promise<void>((resolve) => {
        release = resolve;
        waiting.get(task.id)?.();
      }),
  });
  return worker.start().then(() => ({
    held: (id) =>
      new Promise<void>((resolve) => {
        waiting.set(id, resolve);
      }),
    open() {
      release?.();
      release = undefined;
    },
    stop: () => worker.stop({ signal: AbortSignal.timeout(2000) }),
  }));
}

/** The auth-on fleet's server config and token: one admin token (workers join under many ids). */
function withAuth(config: ServerConfig): { config: ServerConfig; token: string } {
  const token = createToken();
  return { config: { ...config, authFile: authLine(token, 'admin') }, token };
}

async function startFleet(
  label: string,
  config: ServerConfig,
  options: Options,
  token?: string,
): Promise<Fleet> {
  const profDir = join(process.cwd(), 'prof');
  const server = spawn<ServerReply, ServerRequest>(
    './e2e-server.js',
    `server(${label})`,
    config,
    options.cpuProf === 'server' ? profDir : undefined,
  );
  const { url } = await server.next('ready', 30_000);
  const admin = createAdminClient({
    url,
    transport: createConnectTransport({
      baseUrl: url,
      httpVersion: '2',
      interceptors: token === undefined ? [] : [bearer(token)],
    }),
  });
  const workers: WorkersChild[] = [];
  for (let p = 0; p < options.procs; p++) {
    const wc: WorkersConfig = {
      url,
      idPrefix: `${label}-p${p}`,
      workers: options.workers,
      maxConcurrency: options.concurrency,
      ...(token === undefined ? {} : { token }),
    };
    workers.push(
      spawn<WorkersReply, WorkersRequest>(
        './e2e-workers.js',
        `workers(${label} ${p})`,
        wc,
        options.cpuProf === 'workers' ? profDir : undefined,
      ),
    );
  }
  await Promise.all(workers.map((w) => w.next('ready', 60_000)));
  const gate = await startGate(url, label, token);
  return { label, server, url, admin, workers, gate };
}

async function stopFleet(fleet: Fleet): Promise<void> {
  await fleet.gate.stop();
  for (const w of fleet.workers) w.send({ type: 'close' });
  await Promise.all(fleet.workers.map((w) => w.exited));
  fleet.server.send({ type: 'close' });
  await fleet.server.exited;
}

/** Each task depends on 0–3 distinct earlier tasks, uniformly within the previous `window`. */
function dagSpecs(prefix: string, n: number, window: number): { specs: NewTask[]; depth: number } {
  const random = prng(42);
  const level = new Int32Array(n);
  const specs: NewTask[] = [];
  let depth = 0;
  for (let i = 0; i < n; i++) {
    const deps = new Set<number>();
    const want = Math.min(i, Math.floor(random() * 4));
    while (deps.size < want) deps.add(i - 1 - Math.floor(random() * Math.min(i, window)));
    let l = 1;
    for (const d of deps) l = Math.max(l, (level[d] as number) + 1);
    level[i] = l;
    depth = Math.max(depth, l);
    specs.push({ id: `${prefix}${i}`, deps: [...deps].map((d) => `${prefix}${d}`) });
  }
  return { specs, depth };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function cpuOf(fleet: Fleet): Promise<{ server: number; workers: number }> {
  const [s, ...w] = await Promise.all([
    fleet.server.ask({ type: 'cpu' }, 'cpu'),
    ...fleet.workers.map((c) => c.ask({ type: 'cpu' }, 'cpu')),
  ]);
  return { server: s?.ms ?? 0, workers: w.reduce((sum, r) => sum + r.ms, 0) };
}

async function collect(fleet: Fleet): Promise<Extract<WorkersReply, { type: 'collected' }>> {
  const replies = await Promise.all(fleet.workers.map((w) => w.ask({ type: 'collect' }, 'collected')));
  return {
    type: 'collected',
    tasks: replies.reduce((sum, r) => sum + r.tasks, 0),
    received: replies.flatMap((r) => r.received),
    chain: replies.flatMap((r) => r.chain),
  };
}

interface RunResult {
  readonly seconds: number;
  readonly tasks: number;
  readonly serverCpuUsPerTask: number;
  readonly workerCpuUsPerTask: number;
  readonly received: Extract<WorkersReply, { type: 'collected' }>;
}

let gates = 0;

/**
 * The category of every measured task: only the worker processes list it, so the capability
 * strategy never gives one to the gate worker (and the gate task goes only to it).
 */
const WORK = 'work';

/**
 * Runs `specs` to completion: waits for coord:all-complete (committed) with every one complete.
 * `gated`: the tasks are added behind a gate task (see Gate) and the clock runs from opening
 * the gate; otherwise from the first add (`add`, or batches of `options.batch` in order).
 */
async function run(
  fleet: Fleet,
  specs: readonly NewTask[],
  options: Options,
  mode: { readonly gated: boolean; readonly add?: () => Promise<void> },
): Promise<RunResult> {
  const work = specs.map((s) => ({ ...s, category: WORK }));
  await collect(fleet); // forget anything earlier
  const before = (await fleet.admin.progress()).complete;
  let target = before + specs.length;
  let gateOpen: (() => void) | undefined;
  if (mode.gated) {
    const gateId = `gate-${++gates}`;
    const held = fleet.gate.held(gateId);
    await fleet.admin.addTask({ id: gateId, category: 'gate' });
    await held;
    for (let i = 0; i < work.length; i += options.batch) {
      await fleet.admin.addTasks(
        work
          .slice(i, i + options.batch)
          .map((s) => ((s.deps ?? []).length === 0 ? { ...s, deps: [gateId] } : s)),
      );
    }
    target++;
    gateOpen = () => fleet.gate.open();
  }
  let resolveDone!: (at: number) => void;
  const done = new Promise<number>((resolve) => {
    resolveDone = resolve;
  });
  const off = fleet.server.on((r) => {
    if (r.type === 'all-complete' && r.complete >= target) resolveDone(r.at);
  });
  fleet.server.send({ type: 'await', complete: target });
  const cpu0 = await cpuOf(fleet);
  const t0 = wallMs();
  try {
    if (gateOpen !== undefined) gateOpen();
    else if (mode.add !== undefined) await mode.add();
    else {
      for (let i = 0; i < work.length; i += options.batch) {
        await fleet.admin.addTasks(work.slice(i, i + options.batch));
      }
    }
    // Cleared once the run is done: a pending timer kept the bench alive (and then failed it)
    // two minutes after it had printed its table.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${fleet.label}: not all complete after ${options.timeoutMs} ms`)),
        options.timeoutMs,
      );
    });
    const t1 = await Promise.race([done, timeout]).finally(() => clearTimeout(timer));
    const cpu1 = await cpuOf(fleet);
    const received = await collect(fleet);
    if (received.tasks !== specs.length) {
      throw new Error(`${fleet.label}: workers ran ${received.tasks} tasks, expected ${specs.length}`);
    }
    return {
      seconds: (t1 - t0) / 1000,
      tasks: specs.length,
      serverCpuUsPerTask: ((cpu1.server - cpu0.server) * 1000) / specs.length,
      workerCpuUsPerTask: ((cpu1.workers - cpu0.workers) * 1000) / specs.length,
      received,
    };
  } finally {
    off();
  }
}

const flatSpecs = (prefix: string, n: number): NewTask[] =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}` }));

/**
 * BatchAddTasks as a bare Connect unary call over one HTTP/2 connection (the admin API without the
 * connect client, whose ~1 ms of CPU per call would otherwise count as dispatch latency and make
 * this process the bottleneck of the paced run). Resolves when the call is answered.
 */
function createRawAdder(url: string): { add(tasks: readonly NewTask[]): Promise<void>; close(): void } {
  const session = http2.connect(url);
  session.on('error', () => {});
  return {
    add(tasks) {
      const body = toBinary(
        BatchAddTasksRequestSchema,
        create(BatchAddTasksRequestSchema, {
          tasks: tasks.map((t) => ({
            id: t.id,
            deps: [...(t.deps ?? [])],
            category: t.category ?? '',
            ...(t.metadata === undefined ? {} : { metadata: t.metadata }),
          })),
        }),
      );
      return new Promise((resolve, reject) => {
        const call = session.request({
          ':method': 'POST',
          ':path': '/coord.v1.CoordinatorService/BatchAddTasks',
          'content-type': 'application/proto',
          'connect-protocol-version': '1',
        });
        let status = 0;
        call.on('response', (headers) => {
          status = Number(headers[':status']);
        });
        call.on('data', () => {});
        call.on('end', () =>
          status === 200 ? resolve() : reject(new Error(`BatchAddTasks: HTTP ${status}`)),
        );
        call.on('error', reject);
        call.end(body);
      });
    },
    close: () => session.close(),
  };
}

/**
 * Dispatch latency (ready → Proceed received): tasks added at `rate` for `seconds`, a batch every
 * `options.paceMs` through the raw adder, each batch's t0 = the wall clock just before its
 * BatchAddTasks is sent (so the figure also holds the add call's trip to the server); the workers
 * note when the SDK hands each task to the handler, by id. No metadata: the measurement must not
 * make the tasks dearer than the no-op tasks of the other runs.
 */
async function paced(
  fleet: Fleet,
  prefix: string,
  rate: number,
  seconds: number,
  options: Options,
): Promise<RunResult & { achieved: number; dispatchMs: number[] }> {
  const n = Math.max(1, Math.round(rate * seconds));
  const specs = flatSpecs(prefix, n);
  const t0s = new Float64Array(n);
  const adder = createRawAdder(fleet.url);
  let achieved = 0;
  const add = async (): Promise<void> => {
    const inFlight: Promise<unknown>[] = [];
    const start = wallMs();
    let added = 0;
    while (added < n) {
      const due = Math.min(n, Math.floor((rate * (wallMs() - start)) / 1000));
      if (due > added) {
        t0s.fill(wallMs(), added, due);
        inFlight.push(adder.add(specs.slice(added, due).map((s) => ({ ...s, category: WORK }))));
        added = due;
      }
      await sleep(options.paceMs);
    }
    achieved = n / ((wallMs() - start) / 1000);
    await Promise.all(inFlight);
  };
  for (const w of fleet.workers) w.send({ type: 'track', prefix });
  try {
    const result = await run(fleet, specs, options, { gated: false, add });
    const dispatchMs = result.received.received.map(
      ([id, at]) => at - (t0s[Number(id.slice(prefix.length))] as number),
    );
    return { ...result, achieved, dispatchMs };
  } finally {
    for (const w of fleet.workers) w.send({ type: 'track', prefix: '' });
    adder.close();
  }
}

async function chainRun(
  fleet: Fleet,
  prefix: string,
  options: Options,
): Promise<{ stepMs: number; meanMs: number }> {
  const n = options.chain;
  const specs: NewTask[] = Array.from({ length: n }, (_, i) => ({
    id: `${prefix}${i}`,
    deps: i === 0 ? [] : [`${prefix}${i - 1}`],
    metadata: { chain: i },
  }));
  const result = await run(fleet, specs, { ...options, batch: n }, { gated: false });
  const at = new Float64Array(n);
  for (const [k, t] of result.received.chain) at[k] = t;
  const gaps: number[] = [];
  for (let k = 1; k < n; k++) gaps.push((at[k] as number) - (at[k - 1] as number));
  return { stepMs: median(gaps), meanMs: ((at[n - 1] as number) - (at[0] as number)) / (n - 1) };
}

// --- report ------------------------------------------------------------------------------------

interface Row {
  readonly figure: string;
  readonly values: number[];
  readonly digits: number;
  readonly target?: { readonly text: string; readonly value: number; readonly atMost: boolean };
}

function printTable(rows: readonly Row[], reps: number): void {
  const header = [
    'figure',
    ...Array.from({ length: reps }, (_, i) => `run ${i + 1}`),
    'median',
    'target',
    'ratio',
    '',
  ];
  const lines = rows.map((r) => {
    const m = median(r.values);
    const ratio = r.target === undefined ? Number.NaN : m / r.target.value;
    const ok =
      r.target === undefined
        ? ''
        : (r.target.atMost ? m <= r.target.value : m >= r.target.value)
          ? 'ok'
          : 'MISSED';
    return [
      r.figure,
      ...Array.from({ length: reps }, (_, i) => fmt(r.values[i] ?? Number.NaN, r.digits)),
      fmt(m, r.digits),
      r.target?.text ?? '',
      r.target === undefined ? '' : `${ratio.toFixed(2)}x`,
      ok,
    ];
  });
  const all = [header, ...lines];
  const widths = header.map((_, c) => Math.max(...all.map((l) => (l[c] as string).length)));
  for (const [i, l] of all.entries()) {
    console.log(
      l.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  '),
    );
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

// --- main ----------------------------------------------------------------------------------------

async function main(options: Options): Promise<void> {
  const want = (what: string): boolean => options.only.size === 0 || options.only.has(what);
  /** One flat run in a fleet of its own (a server variant), started, warmed and stopped here. */
  const flatInOwnFleet = async (label: string, config: ServerConfig, rep: number, token?: string) => {
    const fleet = await startFleet(label, config, options, token);
    try {
      await run(fleet, flatSpecs(`warm-${label}-`, options.tasks), options, { gated: true });
      return await run(fleet, flatSpecs(`${label}${rep}-`, options.tasks), options, { gated: true });
    } finally {
      await stopFleet(fleet);
    }
  };
  const dbDir = mkdtempSync(join(tmpdir(), 'baton-e2e-'));
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  const total = options.procs * options.workers;
  log(
    `bench:e2e — ${options.tasks} tasks, ${options.procs} worker processes × ${options.workers} workers ` +
      `(maxConcurrency ${options.concurrency}), ${options.reps} repetitions; load ${loadavg()[0]?.toFixed(2)}`,
  );

  const echo = spawn<ServerReply, ServerRequest>(
    './e2e-server.js',
    'echo',
    { mode: 'echo', store: 'memory' },
    undefined,
  );
  const echoUrl = (await echo.next('ready', 30_000)).url;

  const rows = new Map<string, Row>();
  const record = (figure: string, value: number, digits: number, target?: Row['target']): void => {
    let row = rows.get(figure);
    if (row === undefined) {
      row = { figure, values: [], digits, ...(target === undefined ? {} : { target }) };
      rows.set(figure, row);
    }
    row.values.push(value);
  };
  const dag = dagSpecs('x', options.tasks, options.dagWindow);
  const flatRates: number[] = [];

  let memory: Fleet | undefined;
  let sqlite: Fleet | undefined;
  let postgres: Fleet | undefined;
  // PostgreSQL as it ships (fsync and synchronous_commit on), a throwaway cluster on loopback.
  const cluster = want('postgres') ? await startPostgresCluster({ durable: true }) : undefined;
  try {
    for (let rep = 1; rep <= options.reps; rep++) {
      // Every repetition gets fresh processes (and a fresh SQLite file), warmed up by the same
      // work once, unmeasured: V8 has then optimized the hot paths of every process (a first
      // pass runs at about half the speed), and each repetition meets the same server state.
      log(`repetition ${rep}: starting and warming up`);
      memory = await startFleet('mem', { mode: 'baton', store: 'memory' }, options);
      sqlite = want('sqlite')
        ? await startFleet(
            'sql',
            {
              mode: 'baton',
              store: 'sqlite',
              dbPath: join(dbDir, `baton-${rep}.db`),
              ...(options.sqliteThread ? {} : { sqliteThread: false }),
            },
            options,
          )
        : undefined;
      postgres =
        cluster === undefined
          ? undefined
          : await startFleet(
              'pg',
              { mode: 'baton', store: 'postgres', pgUrl: await cluster.createDatabase() },
              options,
            );
      for (const fleet of [memory, sqlite, postgres]) {
        if (fleet === undefined) continue;
        await run(fleet, flatSpecs('warm-f-', options.tasks), options, { gated: true });
        const warmDag = dag.specs.map((s) => ({
          ...s,
          id: `warm-d-${s.id}`,
          deps: (s.deps ?? []).map((d) => `warm-d-${d}`),
        }));
        await run(fleet, warmDag, options, { gated: true });
      }
      if (want('dispatch')) await paced(memory, 'warm-p-', 5000, 1, options);
      log(`repetition ${rep}: measuring`);
      if (want('chain')) {
        const { rttMs } = await (memory.workers[0] as WorkersChild).ask(
          { type: 'ping-pong', url: echoUrl, warmup: 200, count: 1000 },
          'ping-pong',
        );
        const rtt = median(rttMs);
        record('bare bidi ping-pong RTT, ms (median)', rtt, 3);
        const chain = await chainRun(memory, `c${rep}-`, options);
        record(`chain of ${options.chain}: ms per step (median)`, chain.stepMs, 3, {
          text: `≤ ${fmt(TARGET.stepRatio * rtt, 3)}`,
          value: TARGET.stepRatio * rtt,
          atMost: true,
        });
        record('  step ÷ ping-pong RTT', chain.stepMs / rtt, 2, {
          text: `≤ ${TARGET.stepRatio}`,
          value: TARGET.stepRatio,
          atMost: true,
        });
        record(`chain of ${options.chain}: ms per step (mean)`, chain.meanMs, 3);
        log(
          `  ping-pong ${fmt(rtt, 3)} ms; chain step ${fmt(chain.stepMs, 3)} ms (mean ${fmt(chain.meanMs, 3)})`,
        );
      }
      let memFlat = Number.NaN;
      if (want('flat')) {
        const r = await run(memory, flatSpecs(`f${rep}-`, options.tasks), options, { gated: true });
        memFlat = r.tasks / r.seconds;
        flatRates.push(memFlat);
        record('flat, memory: tasks/s', memFlat, 0, {
          text: `≥ ${fmt(TARGET.throughput)}`,
          value: TARGET.throughput,
          atMost: false,
        });
        record('  server CPU µs/task', r.serverCpuUsPerTask, 1);
        record('  workers CPU µs/task', r.workerCpuUsPerTask, 1);
        log(
          `  flat memory ${fmt(memFlat)} tasks/s (server ${fmt(r.serverCpuUsPerTask, 1)} µs/task, workers ${fmt(r.workerCpuUsPerTask, 1)} µs/task)`,
        );
      }
      if (want('session-path') && want('flat')) {
        // What the hand-written Session path buys: the same flat run with connect-node's stream
        // handler on the server.
        const r = await flatInOwnFleet(
          'cnx',
          { mode: 'baton', store: 'memory', sessionFastPath: false },
          rep,
        );
        const rate = r.tasks / r.seconds;
        record('flat, memory, connect-node Session: tasks/s', rate, 0);
        record('  session fast path ÷ connect-node', memFlat / rate, 2);
        log(`  flat memory via connect-node Session ${fmt(rate)} tasks/s`);
      }
      if (want('auth') && want('flat')) {
        // What checking tokens costs: every worker session and admin call carries a bearer token.
        const authed = withAuth({ mode: 'baton', store: 'memory' });
        const r = await flatInOwnFleet('aut', authed.config, rep, authed.token);
        const rate = r.tasks / r.seconds;
        record('flat, memory, auth on: tasks/s', rate, 0);
        record('  auth on ÷ off', rate / memFlat, 2);
        record('  server CPU µs/task, auth on', r.serverCpuUsPerTask, 1);
        log(
          `  flat memory with auth on ${fmt(rate)} tasks/s (server ${fmt(r.serverCpuUsPerTask, 1)} µs/task)`,
        );
      }
      if (want('metrics') && want('flat')) {
        // What counting for /metrics costs: the main fleet counts; this one has metrics off.
        const r = await flatInOwnFleet('nom', { mode: 'baton', store: 'memory', metrics: false }, rep);
        const rate = r.tasks / r.seconds;
        record('flat, memory, metrics off: tasks/s', rate, 0);
        record('  metrics on ÷ off', memFlat / rate, 2, { text: '≥ 0.95', value: 0.95, atMost: false });
        record('  server CPU µs/task, metrics off', r.serverCpuUsPerTask, 1);
        log(
          `  flat memory with metrics off ${fmt(rate)} tasks/s (server ${fmt(r.serverCpuUsPerTask, 1)} µs/task)`,
        );
      }
      if (sqlite !== undefined && want('flat')) {
        const r = await run(sqlite, flatSpecs(`f${rep}-`, options.tasks), options, { gated: true });
        const rate = r.tasks / r.seconds;
        record('flat, SQLite (sync=full): tasks/s', rate, 0);
        record('  durable ÷ memory', rate / memFlat, 2, {
          text: `≥ ${TARGET.sqliteRatio}`,
          value: TARGET.sqliteRatio,
          atMost: false,
        });
        record('  server CPU µs/task ', r.serverCpuUsPerTask, 1);
        log(`  flat sqlite ${fmt(rate)} tasks/s (server ${fmt(r.serverCpuUsPerTask, 1)} µs/task)`);
      }
      if (postgres !== undefined && want('flat')) {
        const r = await run(postgres, flatSpecs(`f${rep}-`, options.tasks), options, { gated: true });
        const rate = r.tasks / r.seconds;
        record('flat, PostgreSQL (local): tasks/s', rate, 0);
        record('  PostgreSQL ÷ memory', rate / memFlat, 2, {
          text: `≥ ${TARGET.postgresRatio}`,
          value: TARGET.postgresRatio,
          atMost: false,
        });
        record('  server CPU µs/task  ', r.serverCpuUsPerTask, 1);
        log(`  flat postgres ${fmt(rate)} tasks/s (server ${fmt(r.serverCpuUsPerTask, 1)} µs/task)`);
      }
      let memDag = Number.NaN;
      if (want('dag')) {
        const specs = dag.specs.map((s) => ({
          ...s,
          id: `d${rep}-${s.id}`,
          deps: (s.deps ?? []).map((d) => `d${rep}-${d}`),
        }));
        const r = await run(memory, specs, options, { gated: true });
        memDag = r.tasks / r.seconds;
        record(`DAG (depth ${dag.depth}), memory: tasks/s`, memDag, 0, {
          text: `≥ ${fmt(TARGET.throughput)}`,
          value: TARGET.throughput,
          atMost: false,
        });
        log(`  dag memory ${fmt(memDag)} tasks/s`);
        if (sqlite !== undefined) {
          const rs = await run(sqlite, specs, options, { gated: true });
          const rate = rs.tasks / rs.seconds;
          record(`DAG, SQLite (sync=full): tasks/s`, rate, 0);
          record('  durable ÷ memory ', rate / memDag, 2, {
            text: `≥ ${TARGET.sqliteRatio}`,
            value: TARGET.sqliteRatio,
            atMost: false,
          });
          log(`  dag sqlite ${fmt(rate)} tasks/s`);
        }
        if (postgres !== undefined) {
          const rp = await run(postgres, specs, options, { gated: true });
          const rate = rp.tasks / rp.seconds;
          record('DAG, PostgreSQL (local): tasks/s', rate, 0);
          record('  PostgreSQL ÷ memory ', rate / memDag, 2, {
            text: `≥ ${TARGET.postgresRatio}`,
            value: TARGET.postgresRatio,
            atMost: false,
          });
          log(`  dag postgres ${fmt(rate)} tasks/s`);
        }
      }
      if (want('dispatch')) {
        const runs =
          options.dispatchRates.length > 0
            ? options.dispatchRates.map((rate) => ({ rate, label: `at ${fmt(rate)}/s` }))
            : [{ rate: Math.round(median(flatRates) / 2), label: 'at ½ flat' }];
        for (const { rate, label } of runs) {
          if (!Number.isFinite(rate)) continue; // half of flat, but flat was not run
          const r = await paced(memory, `p${rep}-${rate}-`, rate, options.dispatchSeconds, options);
          const p50 = percentile(r.dispatchMs, 0.5);
          const p99 = percentile(r.dispatchMs, 0.99);
          record(`dispatch ${label}: offered tasks/s`, r.achieved, 0);
          record(`dispatch ${label}: latency p50, ms`, p50, 2);
          record(`dispatch ${label}: latency p99, ms`, p99, 2, {
            text: `≤ ${TARGET.dispatchP99Ms}`,
            value: TARGET.dispatchP99Ms,
            atMost: true,
          });
          log(
            `  dispatch at ${fmt(r.achieved)} tasks/s: p50 ${fmt(p50, 2)} ms, p99 ${fmt(p99, 2)} ms ` +
              `(server ${fmt(r.serverCpuUsPerTask, 1)} µs/task, workers ${fmt(r.workerCpuUsPerTask, 1)} µs/task)`,
          );
        }
      }
      await stopFleet(memory);
      memory = undefined;
      if (sqlite !== undefined) await stopFleet(sqlite);
      sqlite = undefined;
      if (postgres !== undefined) await stopFleet(postgres);
      postgres = undefined;
    }
  } finally {
    echo.send({ type: 'close' });
    if (memory !== undefined) await stopFleet(memory);
    if (sqlite !== undefined) await stopFleet(sqlite);
    if (postgres !== undefined) await stopFleet(postgres);
    await cluster?.stop();
    await echo.exited;
    rmSync(dbDir, { recursive: true, force: true });
  }

  const model = cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `\nEnd to end — ${options.tasks} no-op tasks, ${options.procs} worker processes × ${options.workers} SDK workers ` +
      `(${total} workers, maxConcurrency ${options.concurrency}), server and workers in separate processes, loopback; ` +
      `Node ${process.versions.node}, ${availableParallelism()} × ${model}, load ${loadavg()[0]?.toFixed(2)}\n`,
  );
  printTable([...rows.values()], options.reps);
}

const arg = (name: string, fallback: number): number => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit === undefined ? fallback : Number(hit.slice(name.length + 3));
};
const argText = (name: string, fallback: string): string => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit === undefined ? fallback : hit.slice(name.length + 3);
};

const only = argText('only', '');
const dispatchRates = argText('dispatch-rate', '')
  .split(',')
  .filter((r) => r !== '')
  .map(Number);
if (dispatchRates.some((r) => !(r > 0))) {
  throw new Error(`--dispatch-rate takes tasks/s, comma-separated: ${argText('dispatch-rate', '')}`);
}
await main({
  tasks: arg('tasks', 20_000),
  reps: arg('reps', 3),
  procs: arg('procs', 4),
  workers: arg('workers', 16),
  concurrency: arg('concurrency', 16),
  chain: arg('chain', 200),
  batch: arg('batch', 1000),
  dagWindow: arg('dag-window', 2000),
  dispatchSeconds: arg('dispatch-seconds', 3),
  paceMs: arg('pace-ms', 5),
  dispatchRates,
  only: new Set(only === '' ? [] : only.split(',')),
  cpuProf: argText('cpu-prof', ''),
  timeoutMs: arg('timeout-ms', 120_000),
  sqliteThread: arg('sqlite-thread', 1) !== 0,
});
