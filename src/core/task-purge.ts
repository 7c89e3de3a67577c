import { invalidArgument } from './errors.js';
import type { TaskStatus } from './task.js';
import type { TaskRecord } from './task-record.js';

/** The statuses a task can be deleted or purged in: it settled, and nothing will run it again by itself. */
export const SETTLED_STATUSES = ['complete', 'failed', 'cancelled'] as const satisfies readonly TaskStatus[];
export type SettledStatus = (typeof SETTLED_STATUSES)[number];

const SETTLED: ReadonlySet<string> = new Set(SETTLED_STATUSES);

/** Which settled tasks a purge removes. */
export interface PurgeFilter {
  /** Only tasks that settled strictly before this time (ms, by the coordinator's clock). */
  readonly finishedBefore: number;
  /** Only tasks in one of these statuses. Empty or unset: all three settled statuses. */
  readonly status?: readonly SettledStatus[];
}

/** What a purge did. */
export interface PurgeOutcome {
  /** Tasks removed. */
  readonly purged: number;
  /**
   * Tasks the filter matched that stay, because a task that stays depends on them (directly, or
   * through other matched tasks): a dependency is only ever removed together with its dependents.
   */
  readonly kept: number;
}

/** The filter checked, with its statuses as a set; a bad one names the field and changes nothing. */
export function checkPurgeFilter(filter: PurgeFilter): { before: number; statuses: ReadonlySet<string> } {
  const before = filter?.finishedBefore;
  if (typeof before !== 'number' || !Number.isFinite(before)) {
    throw invalidArgument(`finishedBefore must be a time in milliseconds, got ${String(before)}`, {
      field: 'finishedBefore',
    });
  }
  const status = filter.status ?? [];
  for (const s of status) {
    if (!SETTLED.has(s)) {
      throw invalidArgument(
        `status must be among ${SETTLED_STATUSES.join(', ')} (only settled tasks are purged), got ${String(s)}`,
        { field: 'status' },
      );
    }
  }
  return { before, statuses: status.length === 0 ? SETTLED : new Set(status) };
}

/** True when the task may be deleted on its own: settled, and no task lists it in its deps. */
export const settledLeaf = (task: TaskRecord): boolean =>
  SETTLED.has(task.status) && task.dependents === null;

/**
 * The tasks a purge removes: those the filter matches, less every one that a task staying behind
 * depends on. Closing the set this way (a task dropped from it drops its deps in turn) keeps the
 * graph whole: no remaining task ever names a dep that is gone, so a retry, a restore from the
 * store and the dependency views all still find every dep. O(tasks + edges of matched tasks).
 */
export function selectPurge(
  tasks: Iterable<TaskRecord>,
  get: (id: string) => TaskRecord,
  filter: PurgeFilter,
): { readonly purge: Set<TaskRecord>; readonly kept: number } {
  const { before, statuses } = checkPurgeFilter(filter);
  const purge = new Set<TaskRecord>();
  for (const task of tasks) {
    if (statuses.has(task.status) && (task.finishedAt ?? task.updatedAt) < before) purge.add(task);
  }
  const dropped: TaskRecord[] = [];
  for (const task of purge) {
    if (task.dependents?.some((d) => !purge.has(d))) dropped.push(task);
  }
  let kept = 0;
  while (dropped.length > 0) {
    const task = dropped.pop() as TaskRecord;
    if (!purge.delete(task)) continue;
    kept++;
    for (const depId of task.deps) {
      const dep = get(depId);
      if (purge.has(dep)) dropped.push(dep);
    }
  }
  return { purge, kept };
}
