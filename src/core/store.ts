import type { CostAccountSnapshot, CostSnapshot, FlagState } from './cost-aggregator.js';
import type { CoordinatorState } from './lifecycle.js';
import type { RateLimiterSnapshot } from './rate-limiter.js';
import type { TaskQueueJson } from './task-queue.js';

/** One task as stored: its snapshot plus the two internal fields a restore needs. */
export type TaskRow = TaskQueueJson['tasks'][number];

/**
 * A durable record of a subsystem beside the task graph (a worker's workspace, a merge-queue
 * entry), by kind and id. The body is any JSON value; the store keeps it as given.
 */
export interface StoreRecord {
  readonly kind: string;
  readonly id: string;
  readonly body: unknown;
}

/** Everything a coordinator needs to come back after a crash exactly where it was acknowledged. */
export interface CoordinatorImage {
  readonly state: CoordinatorState;
  readonly tasks: TaskQueueJson;
  /** Worker id → lease deadline (ms since the epoch). */
  readonly leases: readonly (readonly [string, number])[];
  readonly rateLimiter: RateLimiterSnapshot | null;
  readonly costs: CostSnapshot | null;
  /** Records of the subsystems beside the graph, in no particular order. */
  readonly records?: readonly StoreRecord[];
}

/**
 * Spend that changed: only the workers that reported, and the report ids newly remembered (for
 * dropping resent reports). A store keeps the last RECENT_REPORTS ids of each worker, as the cost
 * aggregator does, so a commit costs O(what changed), not O(workers × remembered ids).
 */
export interface CostChanges {
  /** Forget every stored account and id first (the aggregator was reset or restored). */
  readonly replace?: boolean;
  readonly global: FlagState;
  readonly accounts: readonly CostAccountSnapshot[];
  /** [workerId, reportId], oldest first. */
  readonly reportIds: readonly (readonly [string, string])[];
}

/** What one group commit writes: only what changed since the last one. */
export interface StoreChanges {
  readonly state?: CoordinatorState;
  readonly nextSeq?: number;
  readonly upsertTasks: readonly TaskRow[];
  readonly removeTasks: readonly string[];
  readonly upsertLeases: readonly (readonly [string, number])[];
  readonly removeLeases: readonly string[];
  readonly rateLimiter?: RateLimiterSnapshot;
  readonly costs?: CostChanges;
  readonly upsertRecords?: readonly StoreRecord[];
  /** [kind, id] */
  readonly removeRecords?: readonly (readonly [string, string])[];
}

/**
 * Durable state in the core's own terms. A commit either succeeded (the changes are stored and may
 * be acknowledged) or failed and applied none of them. Synchronous stores (SQLite, memory) return
 * from `commit` or throw; an asynchronous one (PostgreSQL) returns a promise that settles the same
 * way, and the group commit releases nothing of it before it has resolved.
 */
export interface Store {
  readonly kind: string;
  /**
   * The last committed image, or undefined for a new store. Read once, when a coordinator opens on
   * the store; an asynchronous store reads it while it is opened and hands that over here.
   */
  load(): CoordinatorImage | undefined;
  /** Applies all of `changes` atomically, or fails and applies none. */
  commit(changes: StoreChanges): void | Promise<void>;
  close(): void | Promise<void>;
  /**
   * How many asynchronous commits may be under way at once (default 1). A store that takes more
   * than one applies them in the order given, settles them in that order, and refuses every commit
   * given before it has reported a failure, since each one holds only what changed after the one
   * before it.
   */
  readonly commitsInFlight?: number;
}
