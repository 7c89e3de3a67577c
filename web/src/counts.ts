// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import { type Task, TaskStatus } from './proto.js';
import { statusName } from './status.js';

/** Task counts by status word, plus `ready` (pending with every dep complete) and `total`. */
export type Counts = Readonly<Record<string, number>>;

export function countTasks(tasks: ReadonlyMap<string, Task>): Counts {
  const counts: Record<string, number> = {
    total: tasks.size,
    pending: 0,
    ready: 0,
    assigned: 0,
    running: 0,
    complete: 0,
    failed: 0,
    cancelled: 0,
  };
  for (const task of tasks.values()) {
    const name = statusName(task.status);
    counts[name] = (counts[name] ?? 0) + 1;
    if (
      task.status === TaskStatus.PENDING &&
      task.deps.every((d) => tasks.get(d)?.status === TaskStatus.COMPLETE)
    )
      counts.ready!++;
  }
  return counts;
}

/** Completions per bin over the last `bins * binMs` ms before `now`, oldest first. */
export function throughput(
  completions: readonly number[],
  now: number,
  bins: number,
  binMs: number,
): number[] {
  const out = new Array<number>(bins).fill(0);
  const from = now - bins * binMs;
  for (const at of completions) {
    if (at < from || at > now) continue;
    out[Math.min(bins - 1, Math.floor((at - from) / binMs))]!++;
  }
  return out;
}
