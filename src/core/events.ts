import type { TaskSnapshot } from './task.js';

/** Which budget an event is about: one worker's, or the whole fleet's. */
export type BudgetScope = 'worker' | 'global';

export interface BudgetEvent {
  readonly scope: BudgetScope;
  /** Set when `scope` is `worker`. */
  readonly workerId?: string;
  readonly spentUsd: number;
  readonly budgetUsd: number;
}

/** How the tasks ended when the graph settled. */
export interface SettledCounts {
  readonly at: number;
  readonly complete: number;
  readonly failed: number;
  readonly cancelled: number;
}

export interface TaskEvent {
  readonly task: TaskSnapshot;
}

/** A purge removed settled tasks (one event for the whole purge, not one per task). */
export interface TasksPurgedEvent {
  readonly at: number;
  /** The purge's cutoff: tasks that settled before it went. */
  readonly finishedBefore: number;
  readonly purged: number;
  /** Matched, but kept because a task that stays depends on them. */
  readonly kept: number;
}

/** Two branches of the shared repository (or a branch and the target) began or ceased to conflict. */
export interface ConflictEvent {
  readonly branch: string;
  /** Another worker branch, or the target. */
  readonly other: string;
  /** The conflicting paths (for a cleared conflict: the paths that were). */
  readonly paths: readonly string[];
}

/** A merge queue entry was queued, landed or rejected. */
export interface MergeEvent {
  readonly entryId: string;
  readonly branch: string;
  readonly head: string;
  /** A worker id, or the operator who queued it. */
  readonly by: string;
  /** The target commit it landed as (merged only). */
  readonly landedAs?: string;
  /** Why it was rejected (merge-rejected only). */
  readonly reason?: string;
}

/**
 * Every coordination event, by the seed's `coord:*` names. The first block is what the
 * coordinator announces (the server bridges these to `WatchEvents`); the second is what workers
 * say to the coordinator when they are wired through the bus instead of calling it directly.
 */
export interface CoordEvents {
  'coord:started': { readonly at: number };
  'coord:draining': { readonly at: number };
  'coord:drained': { readonly at: number };
  'coord:stopped': { readonly at: number };
  'coord:reopened': { readonly at: number };
  'coord:task-added': TaskEvent;
  'coord:assigned': TaskEvent & { readonly workerId: string };
  'coord:task-started': TaskEvent;
  'coord:task-complete': TaskEvent;
  'coord:task-failed': TaskEvent;
  'coord:task-cancelled': TaskEvent & { readonly cause: string };
  'coord:task-retried': TaskEvent;
  'coord:task-requeued': TaskEvent & { readonly reason: string };
  /** An operator deleted a settled task: the payload is its last snapshot. */
  'coord:task-deleted': TaskEvent;
  'coord:tasks-purged': TasksPurgedEvent;
  /** Every task settled (none pending, assigned or running), however they ended. */
  'coord:all-settled': SettledCounts;
  /** The run succeeded: all settled, something completed, nothing failed. After all-settled. */
  'coord:all-complete': SettledCounts;
  'coord:budget-warning': BudgetEvent;
  'coord:budget-exceeded': BudgetEvent;
  'coord:worker-joined': {
    readonly workerId: string;
    readonly capabilities: readonly string[];
    readonly labels: Readonly<Record<string, string>>;
    readonly maxConcurrency: number;
  };
  'coord:worker-left': { readonly workerId: string; readonly reason: string };
  'coord:conflict': ConflictEvent;
  'coord:conflict-cleared': ConflictEvent;
  'coord:merge-queued': MergeEvent;
  'coord:merged': MergeEvent;
  'coord:merge-rejected': MergeEvent;

  'coord:request': { readonly workerId: string };
  'coord:heartbeat': { readonly workerId: string };
  'coord:complete': {
    readonly workerId: string;
    readonly taskId: string;
    readonly attempt: number;
    readonly result?: unknown;
  };
  'coord:failed': {
    readonly workerId: string;
    readonly taskId: string;
    readonly attempt: number;
    readonly error: string;
    readonly retryable?: boolean;
  };
  'coord:rate-request': { readonly workerId: string; readonly tokens: number; readonly requestId?: string };
  'coord:cost': {
    readonly workerId: string;
    readonly totalUsd: number;
    readonly inputTokens?: number;
    readonly outputTokens?: number;
  };
}

export type CoordEventKind = keyof CoordEvents;

/** The events a coordinator announces (as opposed to the ones workers send it). */
export const ANNOUNCED_EVENTS = [
  'coord:started',
  'coord:draining',
  'coord:drained',
  'coord:stopped',
  'coord:reopened',
  'coord:task-added',
  'coord:assigned',
  'coord:task-started',
  'coord:task-complete',
  'coord:task-failed',
  'coord:task-cancelled',
  'coord:task-retried',
  'coord:task-requeued',
  'coord:task-deleted',
  'coord:tasks-purged',
  'coord:all-settled',
  'coord:all-complete',
  'coord:budget-warning',
  'coord:budget-exceeded',
  'coord:worker-joined',
  'coord:worker-left',
  'coord:conflict',
  'coord:conflict-cleared',
  'coord:merge-queued',
  'coord:merged',
  'coord:merge-rejected',
] as const satisfies readonly CoordEventKind[];

/** The events that change the coordinator's lifecycle state (stores and health watch these). */
export const LIFECYCLE_EVENTS = [
  'coord:started',
  'coord:draining',
  'coord:drained',
  'coord:stopped',
  'coord:reopened',
] as const satisfies readonly CoordEventKind[];
