import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoreChanges, TaskRow } from '../src/core/store.js';
import { createTaskQueue, type TaskQueue } from '../src/core/task-queue.js';
import { encodeCommit } from '../src/server/store/sqlite-commit.js';
import { openSqliteConnection, type SqliteConnection } from '../src/server/store/sqlite-connection.js';
import { prng } from './prng.js';
import { fmt, median, percentile } from './stats.js';

/**
 * The SQLite connection alone (docs/benchmarks.md, "Durable at full speed"): the commits of a
 * DAG-like run, without a server. `tasks` tasks are added in batches of 2,000, then run: each
 * commit assigns `per` tasks and completes the `per` assigned `lag` commits before, in an order
 * shuffled within windows of 2,000 (tasks finish in an order that wanders within the graph's
 * window). With `sync=full`, in a temp file, as `bench:e2e`'s durable fleet.
 *
 * Prints per repetition the commit time (mean, median, p90), µs per task row written, the time a
 * store thread spends folding the task log between commits (foldStep after each commit, as the
 * thread does when no commit is waiting; absent before schema 6), and the time to load the image.
 * `--restore=N`: also the load time of a store holding N tasks (half of them complete).
 *
 * `node dist/bench/sqlite-store.bench.js [--tasks=40000] [--per=120] [--reps=3] [--restore=1000000]`
 */

const arg = (name: string, fallback: number): number => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit === undefined ? fallback : Number(hit.slice(name.length + 3));
};
const tasks = arg('tasks', 40_000);
const per = arg('per', 120);
const lag = arg('lag', 2);
const reps = arg('reps', 3);
const restore = arg('restore', 0);
const WINDOW = 2_000;

interface Run {
  readonly commitMs: number[];
  readonly rows: number;
  readonly foldMs: number;
  readonly loadMs: number;
}

/** A commit of task rows alone (the first one also stores the lifecycle state). */
const tasksChanged = (
  connection: SqliteConnection,
  upsertTasks: TaskRow[],
  nextSeq: number,
): StoreChanges => ({
  nextSeq,
  upsertTasks,
  removeTasks: [],
  upsertLeases: [],
  removeLeases: [],
  ...(connection.storedNextSeq === 0 ? { state: 'running' as const } : {}),
});

/** Loads the image, checks it holds `n` tasks, closes the store and removes its directory. */
const timedLoad = (connection: SqliteConnection, n: number, dir: string): number => {
  const start = performance.now();
  const image = connection.load();
  const ms = performance.now() - start;
  if (image?.tasks.tasks.length !== n) throw new Error(`loaded ${image?.tasks.tasks.length} tasks`);
  connection.close();
  rmSync(dir, { recursive: true, force: true });
  return ms;
};

/** Folds the log as the store thread does between commits, where the connection can. */
const foldBetween = (connection: SqliteConnection): number => {
  const fold = (connection as Partial<SqliteConnection>).foldStep;
  if (fold === undefined) return 0;
  const start = performance.now();
  fold.call(connection);
  return performance.now() - start;
};

function runOnce(seed: number): Run {
  const dir = mkdtempSync(join(tmpdir(), 'baton-sqlite-bench-'));
  const connection = openSqliteConnection({ path: join(dir, 'baton.db') });
  const queue = createTaskQueue({ now: () => 1_700_000_000_000 });
  const commitMs: number[] = [];
  let rows = 0;
  let foldMs = 0;
  const commit = (q: TaskQueue, ids: readonly string[]): void => {
    const changes = tasksChanged(
      connection,
      ids.flatMap((id) => q.rowOf(id) ?? []),
      q.nextSeq,
    );
    const start = performance.now();
    const encoded = encodeCommit(changes, connection.storedNextSeq);
    connection.apply(encoded);
    commitMs.push(performance.now() - start);
    rows +=
      encoded.tasks.specs.length / 3 + encoded.tasks.states.length / 12 + encoded.tasks.results.length / 2;
    foldMs += foldBetween(connection);
  };

  const ids = Array.from({ length: tasks }, (_, i) => `t${i}`);
  for (let i = 0; i < tasks; i += WINDOW) {
    const batch = ids.slice(i, i + WINDOW);
    queue.addMany(batch.map((id) => ({ id, metadata: { prompt: `task ${id}` } })));
    commit(queue, batch);
  }
  const added = commitMs.length;
  const addedRows = rows;
  const random = prng(seed);
  const order = [...ids];
  for (let w = 0; w < tasks; w += WINDOW) {
    for (let i = Math.min(tasks, w + WINDOW) - 1; i > w; i--) {
      const j = w + Math.floor(random() * (i - w + 1));
      [order[i], order[j]] = [order[j] as string, order[i] as string];
    }
  }
  const assigned: string[][] = [];
  for (let i = 0; i < tasks || assigned.length > 0; i += per) {
    const now = order.slice(i, i + per);
    for (const id of now) queue.assign(id, 'w1');
    const finishing = i / per >= lag || i >= tasks ? (assigned.shift() ?? []) : [];
    for (const id of finishing) queue.complete(id, undefined, { workerId: 'w1', attempt: 1 });
    if (now.length > 0) assigned.push(now);
    commit(queue, [...now, ...finishing]);
  }
  const loadMs = timedLoad(connection, tasks, dir);
  return { commitMs: commitMs.slice(added), rows: rows - addedRows, foldMs, loadMs };
}

/** A store of `n` tasks, half complete, written in commits of 2,000; its load time. */
function restoreTime(n: number): { readonly loadMs: number; readonly writeMs: number } {
  const dir = mkdtempSync(join(tmpdir(), 'baton-sqlite-restore-'));
  const connection = openSqliteConnection({ path: join(dir, 'baton.db') });
  // Rows copied from one task of a queue, pending and complete: a queue of n tasks is not measured.
  const queue = createTaskQueue({ now: () => 1_700_000_000_000 });
  queue.add({ id: 'p', metadata: { prompt: 'task' } });
  const pending = queue.rowOf('p') as TaskRow;
  queue.assign('p', 'w1');
  queue.complete('p', undefined, { workerId: 'w1', attempt: 1 });
  const complete = queue.rowOf('p') as TaskRow;
  const write = performance.now();
  for (let i = 0; i < n; i += WINDOW) {
    const upsertTasks: TaskRow[] = [];
    for (let seq = i; seq < Math.min(n, i + WINDOW); seq++) {
      upsertTasks.push({ ...(seq % 2 === 0 ? complete : pending), id: `t${seq}`, seq });
    }
    const changes = tasksChanged(connection, upsertTasks, i + upsertTasks.length);
    connection.apply(encodeCommit(changes, connection.storedNextSeq));
    foldBetween(connection);
  }
  const writeMs = performance.now() - write;
  connection.close();
  return { loadMs: timedLoad(openSqliteConnection({ path: join(dir, 'baton.db') }), n, dir), writeMs };
}

console.log(
  `bench:sqlite-store — ${fmt(tasks)} tasks, ${per} assigned and ${per} completed per commit, sync=full; load ${loadavg()[0]?.toFixed(2)}`,
);
const runs: Run[] = [];
for (let rep = 0; rep < reps; rep++) {
  const r = runOnce(rep + 1);
  runs.push(r);
  const total = r.commitMs.reduce((a, b) => a + b, 0);
  console.log(
    `  run ${rep + 1}: commit mean ${fmt(total / r.commitMs.length, 2)} ms, median ${fmt(median(r.commitMs), 2)}, p90 ${fmt(percentile(r.commitMs, 0.9), 2)}; ${fmt((1000 * total) / r.rows, 2)} µs per row; fold ${fmt(r.foldMs)} ms; load ${fmt(r.loadMs)} ms`,
  );
}
const pooled = runs.flatMap((r) => r.commitMs);
console.log(
  `pooled: commit median ${fmt(median(pooled), 2)} ms, mean ${fmt(pooled.reduce((a, b) => a + b, 0) / pooled.length, 2)} ms; fold median ${fmt(median(runs.map((r) => r.foldMs)))} ms per run; load ${fmt(median(runs.map((r) => r.loadMs)))} ms`,
);
if (restore > 0) {
  const r = restoreTime(restore);
  console.log(
    `restore: ${fmt(restore)} tasks written in ${fmt(r.writeMs / 1000, 1)} s, loaded in ${fmt(r.loadMs)} ms`,
  );
}
console.log(`load at the end ${loadavg()[0]?.toFixed(2)}`);
