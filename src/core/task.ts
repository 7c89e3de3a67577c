/** A task's life: pending → assigned → running → complete | failed | cancelled. */
export type TaskStatus = 'pending' | 'assigned' | 'running' | 'complete' | 'failed' | 'cancelled';

export const TASK_STATUSES: readonly TaskStatus[] = [
  'pending',
  'assigned',
  'running',
  'complete',
  'failed',
  'cancelled',
];

/** Statuses a task never leaves on its own: only `retry` brings failed or cancelled back. */
export const isTerminal = (status: TaskStatus): boolean =>
  status === 'complete' || status === 'failed' || status === 'cancelled';

/** JSON-compatible metadata attached to a task by whoever adds it. */
export type Metadata = Readonly<Record<string, unknown>>;

/** What a caller gives to add a task. Only `id` is required. */
export interface TaskSpec {
  readonly id: string;
  readonly deps?: readonly string[] | undefined;
  /** Higher runs first. Default 0. */
  readonly priority?: number | undefined;
  /** Matched against worker capabilities by the capability strategy. Default `''` (any worker). */
  readonly category?: string | undefined;
  /**
   * Never give this task to a worker that does not list its category, even when no connected
   * worker does (it waits instead, and `waitingFor` says so). Default false: the coordinator's
   * own `requireCapability` decides, and without it the least-loaded fallback applies.
   */
  readonly requireCapability?: boolean | undefined;
  readonly metadata?: Metadata | undefined;
  /** How many assignments may end in a lapsed lease or retryable failure before the task fails. */
  readonly maxAttempts?: number | undefined;
  /**
   * Globs of the repository paths the task will touch (`src/**`, `docs/api.md`). It does not start
   * while a running task holds an overlapping one (core/path-glob.ts says what overlaps).
   */
  readonly paths?: readonly string[] | undefined;
  /** Queue the worker's branch for landing when the task completes with a head commit. */
  readonly land?: boolean | undefined;
}

/** A read-only copy of a task: what every query returns. */
export interface TaskSnapshot {
  readonly id: string;
  readonly deps: readonly string[];
  readonly priority: number;
  readonly category: string;
  readonly metadata: Metadata;
  readonly status: TaskStatus;
  /** The worker holding the task while assigned or running (and the last one after). */
  readonly workerId: string | null;
  /** Fencing token: incremented by every assignment. Reports must name the current one. */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly result: unknown;
  readonly error: string | null;
  /** The task whose failure or cancellation cascaded to this one (null when cancelled directly). */
  readonly cancelledBy: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly assignedAt: number | null;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  readonly paths: readonly string[];
  readonly land: boolean;
  /** The task's own `requireCapability` (the coordinator's may be on too). */
  readonly requireCapability: boolean;
  /**
   * Why a ready task is not running yet (a path held by another task, no worker with its
   * category under requireCapability); null otherwise.
   */
  readonly waitingFor: string | null;
}
