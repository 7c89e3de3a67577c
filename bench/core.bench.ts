import { execFileSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createManualClock } from '../src/core/clock.js';
import { type Coordinator, createCoordinator } from '../src/core/coordinator.js';
import type { CoordinatorMessage } from '../src/core/messages.js';
import type { TaskSpec } from '../src/core/task.js';
import { createWorkerPool } from '../src/core/worker-pool.js';
import { prng } from './prng.js';
import { median } from './stats.js';

/** The figures the core engine is judged by (see docs/benchmarks.md). */
export const TARGETS = {
  driveTasksPerSecond: 200_000,
  heapBytesPerTask: 600,
  /** µs per task at 1M over µs per task at 10k. */
  scalingRatio: 2,
  rateLimiterDecisionsPerSecond: 2_000_000,
} as const;

const CATEGORIES = ['api', 'db', 'docs', 'frontend', 'infra', 'ml', 'security', 'tests'];
const WORKERS = 256;
const BATCH = 10_000;
/** A realistic epoch-milliseconds start, so timestamps are heap numbers as in production. */
const EPOCH = 1_750_000_000_000;

/**
 * Task `i` depends on 0–3 earlier tasks, at distances drawn from a cubic bias towards recent ones
 * within a window of 20 000: wide enough to keep 256 workers busy, yet hundreds of levels deep.
 */
function makeBatch(random: () => number, from: number, count: number): TaskSpec[] {
  const specs: TaskSpec[] = [];
  for (let i = from; i < from + count; i++) {
    const want = Math.min(i, Math.floor(random() * 4));
    const deps: string[] = [];
    const window = Math.min(i, 20_000);
    for (let k = 0; k < want; k++) {
      const r = random();
      const dep = `t${i - 1 - Math.floor(r * r * r * window)}`;
      if (!deps.includes(dep)) deps.push(dep);
    }
    specs.push({
      id: `t${i}`,
      deps,
      priority: Math.floor(random() * 10),
      category: CATEGORIES[Math.floor(random() * CATEGORIES.length)] as string,
    });
  }
  return specs;
}

/** Longest dependency chain (in tasks) of the graph `makeBatch` builds: to show it is deep. */
function depthOf(n: number, seed: number): number {
  const random = prng(seed);
  const level = new Int32Array(n);
  let depth = 0;
  for (let from = 0; from < n; from += BATCH) {
    for (const spec of makeBatch(random, from, Math.min(BATCH, n - from))) {
      const i = Number(spec.id.slice(1));
      let l = 0;
      for (const d of spec.deps ?? []) l = Math.max(l, (level[Number(d.slice(1))] as number) + 1);
      level[i] = l;
      depth = Math.max(depth, l + 1);
    }
  }
  return depth;
}

interface Proceed {
  readonly workerId: string;
  readonly taskId: string;
  readonly attempt: number;
}

export interface DriveResult {
  readonly tasks: number;
  readonly addMs: number;
  readonly driveMs: number;
  /** CPU time of the drive: steadier than wall time on a shared machine. */
  readonly driveCpuMs: number;
  readonly heapBytesPerTask: number;
  readonly maxInFlight: number;
}

/**
 * A full collection, twice: V8 sweeps concurrently after a mark-compact, and `heapUsed` still
 * counts what is not yet swept; the second collection first finishes the sweep of the first.
 */
const gc = (): void => {
  const collect = (globalThis as { gc?: () => void }).gc;
  collect?.();
  collect?.();
};

/**
 * Builds a coordinator with 256 in-process workers, adds `n` tasks in batches of 10 000 while it
 * runs (so assignments start during the adds), then plays the workers: each `coord:proceed` goes
 * onto a FIFO, and the loop pops it, starts the task and completes it for the attempt it was
 * given, which frees the slot and makes the coordinator assign the next tasks.
 */
export function driveOnce(n: number, seed = 42): DriveResult {
  const random = prng(seed);
  const clock = createManualClock(EPOCH);
  const inbox: Proceed[] = [];
  let head = 0;
  const pool = createWorkerPool({
    send: (workerId, message: CoordinatorMessage) => {
      if (message.type === 'coord:proceed') {
        inbox.push({ workerId, taskId: message.task.id, attempt: message.task.attempt });
      }
    },
  });
  const coordinator: Coordinator = createCoordinator({
    pool,
    options: { strategy: 'capability', now: clock.now, scheduler: clock },
  });
  coordinator.start();
  for (let w = 0; w < WORKERS; w++) {
    const capabilities = CATEGORIES.filter(() => random() < 0.35);
    if (capabilities.length === 0) capabilities.push(CATEGORIES[w % CATEGORIES.length] as string);
    coordinator.workerJoined({
      id: `w${w}`,
      capabilities,
      maxConcurrency: 1 + Math.floor(random() * 4),
    });
  }

  // Specs are generated batch by batch (untimed) so that the heap delta counts only what the
  // coordinator keeps: the ids it shares with the specs included, the discarded specs not.
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  let addMs = 0;
  for (let from = 0; from < n; from += BATCH) {
    const batch = makeBatch(random, from, Math.min(BATCH, n - from));
    const start = performance.now();
    coordinator.addTasks(batch);
    addMs += performance.now() - start;
  }
  gc();
  const heapBytesPerTask = (process.memoryUsage().heapUsed - heapBefore) / n;

  let maxInFlight = 0;
  let done = 0;
  const driveStart = performance.now();
  const cpuStart = process.cpuUsage();
  while (head < inbox.length) {
    maxInFlight = Math.max(maxInFlight, inbox.length - head);
    const { workerId, taskId, attempt } = inbox[head++] as Proceed;
    if (head > 4096 && head * 2 > inbox.length) {
      inbox.splice(0, head);
      head = 0;
    }
    coordinator.taskStarted(workerId, taskId, attempt);
    coordinator.complete(workerId, taskId, attempt);
    if (++done % 256 === 0) clock.advance(1);
  }
  const driveMs = performance.now() - driveStart;
  const cpu = process.cpuUsage(cpuStart);
  const driveCpuMs = (cpu.user + cpu.system) / 1000;
  const progress = coordinator.taskQueue.getProgress();
  if (progress.complete !== n) {
    throw new Error(
      `drive stopped with ${progress.complete} of ${n} tasks complete: ${JSON.stringify(progress)}`,
    );
  }
  coordinator.stop();
  return { tasks: n, addMs, driveMs, driveCpuMs, heapBytesPerTask, maxInFlight };
}

/**
 * One large drive in a fresh process. In this one, an earlier drive's graph can outlive it (V8's
 * optimized code of `driveOnce`, on the stack again, may still reference the last run's objects)
 * and would be freed in the middle of the next run's heap reading. A million-task drive needs no
 * warm-up. The child inherits this process's flags (`--expose-gc`, `--cpu-prof`).
 */
function driveInChild(n: number): DriveResult {
  const out = execFileSync(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), '--child', `--tasks=${n}`],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 },
  );
  return JSON.parse(out) as DriveResult;
}

interface RateLimiterBenchModule {
  benchRateLimiter(): { decisionsPerSecond: number; runs: readonly number[] };
}

/** The rate-limiter bench is another engineer's file: run it when it is there. */
async function loadRateLimiterBench(): Promise<RateLimiterBenchModule | undefined> {
  const specifier: string = './rate-limiter.bench.js';
  try {
    return (await import(specifier)) as RateLimiterBenchModule;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const big = Number(args.find((a) => a.startsWith('--tasks='))?.slice(8) ?? 1_000_000);
  if (args.includes('--child')) {
    process.stdout.write(JSON.stringify(driveOnce(big)));
    return;
  }
  const bigRuns = Number(args.find((a) => a.startsWith('--runs='))?.slice(7) ?? 1);
  // For profiling: `--only-large` skips the 10k runs, `--no-rate-limiter` the rate-limiter bench.
  const onlyLarge = args.includes('--only-large');
  const withRateLimiter = !args.includes('--no-rate-limiter');
  const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
  const ratio = (x: number): string => `${x.toFixed(2)}x`;
  if ((globalThis as { gc?: unknown }).gc === undefined) {
    console.log('note: run with --expose-gc (npm run bench:core) for a meaningful heap figure');
  }
  const load = (): string =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  console.log(
    `core engine bench: Node ${process.version}, ${availableParallelism()} cores, load ${load()}, ` +
      `${WORKERS} workers, strategy capability`,
  );
  console.log(`graph: ${fmt(big)} tasks, depth ${fmt(depthOf(big, 42))} levels, batches of ${fmt(BATCH)}`);

  if (!onlyLarge) driveOnce(10_000, 7); // warm-up
  const small = onlyLarge ? [] : [driveOnce(10_000), driveOnce(10_000), driveOnce(10_000)];
  const large: DriveResult[] = [];
  for (let r = 0; r < bigRuns; r++) large.push(driveInChild(big));

  const addRate = median(large.map((r) => (r.tasks / r.addMs) * 1000));
  const driveRate = median(large.map((r) => (r.tasks / r.driveMs) * 1000));
  const driveCpuRate = median(large.map((r) => (r.tasks / r.driveCpuMs) * 1000));
  const heap = median(large.map((r) => r.heapBytesPerTask));
  const usSmall = median(small.map((r) => (r.driveMs * 1000) / r.tasks));
  const usLarge = median(large.map((r) => (r.driveMs * 1000) / r.tasks));
  const runsNote = `median of ${large.length} run(s) at ${fmt(big)}, 3 at 10,000`;

  console.log(`add:     ${fmt(addRate)} tasks/s (${runsNote})`);
  console.log(
    `drive:   ${fmt(driveRate)} tasks/s = ${ratio(driveRate / TARGETS.driveTasksPerSecond)} the ≥ ${fmt(TARGETS.driveTasksPerSecond)}/s target ` +
      `(per CPU second: ${fmt(driveCpuRate)})`,
  );
  console.log(
    `heap:    ${fmt(heap)} bytes/task = ${ratio(heap / TARGETS.heapBytesPerTask)} the ≤ ${TARGETS.heapBytesPerTask} target`,
  );
  console.log(
    `scaling: ${usLarge.toFixed(2)} µs/task at ${fmt(big)} vs ${usSmall.toFixed(2)} at 10,000 = ` +
      `${ratio(usLarge / usSmall)} (target ≤ ${TARGETS.scalingRatio}x)`,
  );
  for (const [i, r] of large.entries()) {
    console.log(
      `  run ${i + 1} at ${fmt(r.tasks)}: add ${fmt((r.tasks / r.addMs) * 1000)}/s, ` +
        `drive ${fmt((r.tasks / r.driveMs) * 1000)}/s, heap ${fmt(r.heapBytesPerTask)} B/task`,
    );
  }
  console.log(
    `  10,000-task drives: ${small.map((r) => ((r.driveMs * 1000) / r.tasks).toFixed(2)).join(', ')} µs/task`,
  );
  console.log(
    `in flight: up to ${fmt(Math.max(...large.map((r) => r.maxInFlight)))} proceed messages queued`,
  );

  console.log(`load average after the drives: ${load()}`);
  const rateBench = withRateLimiter ? await loadRateLimiterBench() : undefined;
  if (!withRateLimiter) {
    console.log('rate limiter: skipped (--no-rate-limiter)');
  } else if (rateBench === undefined) {
    console.log('rate limiter: skipped (bench/rate-limiter.bench.ts not found)');
  } else {
    const { decisionsPerSecond, runs } = rateBench.benchRateLimiter();
    console.log(
      `rate limiter: ${fmt(decisionsPerSecond)} decisions/s (median of ${runs.length}) = ` +
        `${ratio(decisionsPerSecond / TARGETS.rateLimiterDecisionsPerSecond)} the ≥ ${fmt(TARGETS.rateLimiterDecisionsPerSecond)}/s target`,
    );
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
