// runtime/: the running coordinator wired to its store and listeners: group commit, sessions, events.
// Imports src/core, src/wire, codec/ and workspaces/ (test/architecture/walls.test.ts).
import type { CostAggregator } from '../../core/cost-aggregator.js';
import type { EventBus } from '../../core/event-bus.js';
import { type CoordEvents, LIFECYCLE_EVENTS } from '../../core/events.js';
import type { LeaseTable } from '../../core/lease.js';
import type { CoordinatorState } from '../../core/lifecycle.js';
import type { RateLimiter } from '../../core/rate-limiter.js';
import type { CostChanges, StoreChanges, StoreRecord, TaskRow } from '../../core/store.js';
import type { TaskQueue } from '../../core/task-queue.js';
import type { ChangeSource } from './group-commit.js';

export interface ChangeTracker extends ChangeSource {
  /** Give to `createTaskQueue({ onChange })`. */
  taskChanged(id: string): void;
  /** Wire the subsystems once they exist; returns them wrapped so their writes are tracked. */
  attach(parts: TrackedParts): TrackedParts;
  /** Forget everything marked so far: after a restore, the store already holds it. */
  reset(): void;
  /** Stores a record (or, with `undefined`, removes it) in the next group commit. */
  record(kind: string, id: string, body: unknown): void;
}

export interface TrackedParts {
  readonly taskQueue: TaskQueue;
  readonly leases: LeaseTable;
  readonly rateLimiter: RateLimiter;
  readonly costAggregator: CostAggregator;
  readonly events: EventBus<CoordEvents>;
  readonly state: () => CoordinatorState;
}

/** Wraps `methods` of `target` so that each call also runs `mark`. */
function marking<T extends object>(
  target: T,
  methods: readonly (keyof T)[],
  mark: (args: unknown[]) => void,
): T {
  const wrapped = Object.create(target) as T;
  for (const name of methods) {
    const original = target[name] as (...args: unknown[]) => unknown;
    (wrapped as Record<keyof T, unknown>)[name] = (...args: unknown[]) => {
      const result = original.apply(target, args);
      mark(args);
      return result;
    };
  }
  return wrapped;
}

function recordChanges(
  changes: Iterable<StoreRecord | readonly [string, string]>,
): Pick<StoreChanges, 'upsertRecords' | 'removeRecords'> {
  const upsertRecords: StoreRecord[] = [];
  const removeRecords: (readonly [string, string])[] = [];
  for (const change of changes) {
    if (Array.isArray(change)) removeRecords.push(change as readonly [string, string]);
    else upsertRecords.push(change as StoreRecord);
  }
  return { upsertRecords, removeRecords };
}

/** What changed since the last collect: ids to read back at the next one, and flags. */
interface Marks {
  readonly tasks: Set<string>;
  readonly leases: Set<string>;
  rate: boolean;
  costs: boolean;
  /** Workers whose spend changed, and the report ids newly remembered, oldest first. */
  readonly costWorkers: Set<string>;
  reportIds: [string, string][];
  replaceCosts: boolean;
  lifecycle: boolean;
  /** Records by kind and id: the body to store, or [kind, id] to remove. */
  readonly records: Map<string, StoreRecord | readonly [string, string]>;
}

const freshMarks = (): Marks => ({
  tasks: new Set(),
  leases: new Set(),
  rate: false,
  costs: false,
  costWorkers: new Set(),
  reportIds: [],
  replaceCosts: false,
  lifecycle: false,
  records: new Map(),
});

const isClean = (m: Marks): boolean =>
  m.tasks.size === 0 && m.leases.size === 0 && !m.rate && !m.costs && !m.lifecycle && m.records.size === 0;

/** The marks of a commit that failed, with what was marked since (newer records win). */
function merged(older: Marks, newer: Marks): Marks {
  for (const id of newer.tasks) older.tasks.add(id);
  for (const id of newer.leases) older.leases.add(id);
  for (const id of newer.costWorkers) older.costWorkers.add(id);
  for (const [key, record] of newer.records) older.records.set(key, record);
  return {
    ...older,
    rate: older.rate || newer.rate,
    costs: older.costs || newer.costs,
    reportIds: older.reportIds.concat(newer.reportIds),
    replaceCosts: older.replaceCosts || newer.replaceCosts,
    lifecycle: older.lifecycle || newer.lifecycle,
  };
}

/**
 * Finds what a group commit must write: the tasks, leases and lifecycle that changed, and the
 * rate limiter's and cost aggregator's snapshots when they changed (both are small).
 */
export function createChangeTracker(onDirty: () => void): ChangeTracker {
  let marks = freshMarks();
  /**
   * What the commits under way write, oldest first, with the queue's insertion counter each
   * stores: taken from `marks` by collect, dropped when committed, put back if one fails.
   */
  let taken: { readonly marks: Marks; readonly seq: number | undefined }[] = [];
  /** The queue's insertion counter as last committed. */
  let storedSeq: number | undefined;
  let parts: TrackedParts | undefined;

  const reset = (): void => {
    marks = freshMarks();
    taken = [];
    storedSeq = undefined;
  };

  const costChanges = (aggregator: CostAggregator): CostChanges => {
    if (marks.replaceCosts) {
      const all = aggregator.snapshot();
      return {
        replace: true,
        global: all.global,
        accounts: all.workers.map(({ recentReportIds: _, ...account }) => account),
        reportIds: all.workers.flatMap((w) =>
          (w.recentReportIds ?? []).map((id) => [w.workerId, id] as const),
        ),
      };
    }
    const accounts = [];
    for (const id of marks.costWorkers) {
      const account = aggregator.accountOf(id);
      if (account !== undefined) accounts.push(account);
    }
    return { global: aggregator.globalFlags(), accounts, reportIds: marks.reportIds };
  };

  return {
    taskChanged(id) {
      marks.tasks.add(id);
      onDirty();
    },
    attach(raw) {
      const leaseTable = marking(raw.leases, ['touch', 'restore', 'release'], ([id]) => {
        marks.leases.add(id as string);
        onDirty();
      });
      (leaseTable as { takeExpired: () => string[] }).takeExpired = () => {
        const expired = raw.leases.takeExpired();
        for (const id of expired) marks.leases.add(id);
        if (expired.length > 0) onDirty();
        return expired;
      };
      const rateLimiter = marking(
        raw.rateLimiter,
        ['tryAcquire', 'enqueue', 'acquire', 'cancel', 'processWaiters', 'settle', 'reset', 'restore'],
        () => {
          marks.rate = true;
          onDirty();
        },
      );
      const costAggregator = marking(raw.costAggregator, ['reset', 'restore'], () => {
        marks.costs = true;
        marks.replaceCosts = true;
        onDirty();
      });
      costAggregator.record = (workerId, cost) => {
        const reportId = cost?.reportId;
        const fresh =
          typeof reportId === 'string' &&
          reportId !== '' &&
          !raw.costAggregator.remembers(workerId, reportId);
        const check = raw.costAggregator.record(workerId, cost);
        marks.costs = true;
        marks.costWorkers.add(workerId);
        if (fresh) marks.reportIds.push([workerId, reportId]);
        onDirty();
        return check;
      };
      for (const kind of LIFECYCLE_EVENTS) {
        raw.events.on(kind, () => {
          marks.lifecycle = true;
          onDirty();
        });
      }
      parts = { ...raw, leases: leaseTable, rateLimiter, costAggregator };
      return parts;
    },
    reset,
    record(kind, id, body) {
      marks.records.set(`${kind}\u0000${id}`, body === undefined ? [kind, id] : { kind, id, body });
      onDirty();
    },
    collect(): StoreChanges | undefined {
      if (parts === undefined || isClean(marks)) return undefined;
      const m = marks;
      // The counter as the commits before this one leave it.
      const previousSeq = taken.length === 0 ? storedSeq : taken[taken.length - 1]?.seq;
      const collectedSeq = parts.taskQueue.nextSeq;
      const upsertTasks: TaskRow[] = [];
      const removeTasks: string[] = [];
      for (const id of m.tasks) {
        const row = parts.taskQueue.rowOf(id);
        if (row === undefined) removeTasks.push(id);
        else upsertTasks.push(row);
      }
      const upsertLeases: [string, number][] = [];
      const removeLeases: string[] = [];
      for (const id of m.leases) {
        const at = parts.leases.expiresAt(id);
        if (at === undefined) removeLeases.push(id);
        else upsertLeases.push([id, at]);
      }
      const changes: StoreChanges = {
        ...(m.lifecycle ? { state: parts.state() } : {}),
        ...(collectedSeq !== previousSeq ? { nextSeq: collectedSeq } : {}),
        upsertTasks,
        removeTasks,
        upsertLeases,
        removeLeases,
        ...(m.rate ? { rateLimiter: parts.rateLimiter.snapshot() } : {}),
        ...(m.costs ? { costs: costChanges(parts.costAggregator) } : {}),
        ...(m.records.size === 0 ? {} : recordChanges(m.records.values())),
      };
      // What changes while this commit is under way is marked afresh, for the next one.
      taken.push({ marks: m, seq: collectedSeq });
      marks = freshMarks();
      return changes;
    },
    committed() {
      const oldest = taken.shift();
      if (oldest !== undefined) storedSeq = oldest.seq;
    },
    failed() {
      // The store refuses the commits after a failed one too: all of them go back, oldest first.
      marks = taken.reduceRight((newer, t) => merged(t.marks, newer), marks);
      taken = [];
    },
  };
}
