// The worker SDK's public shapes: what a handler gets, what a worker says, the options of createWorker.
import type { JsonObject } from '@bufbuild/protobuf';
import type { ConnectError, Transport } from '@connectrpc/connect';
import type { ReconnectOptions } from './backoff.js';
import type { ConnectionOptions } from './connection.js';
import type { MergeEntry } from './proto.js';
import type { AcquireOptions, Reservation } from './rate-limit-client.js';
import type { ReportBody, ReportOutcome } from './report-ledger.js';

/** A task as the handler sees it: the Assignment, with plain JavaScript types. */
export interface WorkerTask {
  readonly id: string;
  /** The fencing token of this assignment; every report about the task names it. */
  readonly attempt: number;
  readonly category: string;
  readonly priority: number;
  /** The JSON object given when the task was added (`{}` when none). */
  readonly metadata: JsonObject;
  /** When the worker's lease lapses unless it says something, by the coordinator's clock. */
  readonly leaseDeadline: Date | undefined;
}

/** Money spent on model calls since the previous cost report (a delta). */
export interface CostReport {
  readonly totalUsd: number;
  readonly inputTokens: number | bigint;
  readonly outputTokens: number | bigint;
  /** The task the money was spent on, for attribution only. */
  readonly taskId?: string;
}

/** What a handler gets besides its task. */
/** A worker's own git worktree and branch of the repository the fleet shares. */
export interface WorkerWorkspace {
  /** Absolute path of the worktree (on the server's machine: run the worker there). */
  readonly path: string;
  /** The worker's branch, `baton/<worker id>`. */
  readonly branch: string;
  /** The branch work lands on. */
  readonly target: string;
}

export interface TaskContext {
  /**
   * Aborts when the coordinator cancels this attempt, when a report shows it is stale, on a budget
   * stop, or on a forced stop. `signal.reason` is a ConnectError: Canceled (cancelled or stopped),
   * Aborted (stale attempt) or ResourceExhausted (budget stop). Pass it to every model call.
   */
  readonly signal: AbortSignal;
  readonly attempt: number;
  /** Reports spend attributed to this task; resolves once the coordinator applied it. */
  reportCost(cost: Omit<CostReport, 'taskId'>): Promise<ReportOutcome>;
  /** Renews the lease now (heartbeats are automatic; this is for a handler that knows it is about to block). */
  heartbeat(): void;
  /**
   * The worker's workspace, when it asked for one (`workspace: true`). Commit your work there:
   * when the handler returns, the worktree's HEAD goes with the completion, so the coordinator's
   * conflict matrix follows it and a task with `land` queues it for landing.
   */
  readonly workspace: WorkerWorkspace | undefined;
}

/**
 * Runs one task. Its return value (any JSON-serialisable value; undefined for none) becomes the
 * task's result. Throwing fails the task: an error with `retryable: true` (see {@link RetryableError})
 * sends it back to pending while it has attempts left, anything else fails it for good.
 */
export type TaskHandler = (task: WorkerTask, context: TaskContext) => unknown;

/** An error whose `retryable` flag tells the coordinator that running the task again might work. */
export class RetryableError extends Error {
  readonly retryable = true;
  override name = 'RetryableError';
}

/**
 * Where the worker is: `idle` before start(), `connecting` until the first Welcome, `running`
 * while welcomed, `reconnecting` after a drop, `draining` after a Drain (finishing held tasks),
 * `budget-stopped` after a BudgetStop (taking nothing, still connected), `stopping` during stop(),
 * `stopped` at the end.
 */
export type WorkerRunState =
  | 'idle'
  | 'connecting'
  | 'running'
  | 'reconnecting'
  | 'draining'
  | 'budget-stopped'
  | 'stopping'
  | 'stopped';

/** What the coordinator accepted in its Welcome. */
export interface WelcomeInfo {
  readonly workerId: string;
  readonly serverTime: Date | undefined;
  readonly leaseTtlMs: number;
  readonly heartbeatIntervalMs: number;
  readonly maxConcurrency: number;
  /** The worker's workspace, when it asked for one. */
  readonly workspace: WorkerWorkspace | undefined;
}

/** Things worth logging or counting, delivered to `onEvent` synchronously. */
export type WorkerEvent =
  | { readonly type: 'state'; readonly state: WorkerRunState }
  | { readonly type: 'connected'; readonly welcome: WelcomeInfo; readonly resumed: boolean }
  | { readonly type: 'disconnected'; readonly error: ConnectError | undefined }
  | { readonly type: 'reconnecting'; readonly attempt: number; readonly delayMs: number }
  | { readonly type: 'wait'; readonly reason: string }
  | { readonly type: 'task-started'; readonly taskId: string; readonly attempt: number }
  | {
      readonly type: 'task-finished';
      readonly taskId: string;
      readonly attempt: number;
      /** `dropped`: cancelled, stale or stopped, so nothing was reported. */
      readonly outcome: 'complete' | 'failed' | 'dropped';
      readonly error?: unknown;
    }
  | {
      /** The worker's branch started (or, `cleared`, stopped) conflicting with `other`. */
      readonly type: 'conflict';
      readonly branch: string;
      readonly other: string;
      readonly paths: readonly string[];
      readonly cleared: boolean;
    }
  | {
      /** A merge queue entry of the worker's branch landed, or was rejected for `reason`. */
      readonly type: 'merge';
      readonly entryId: string;
      readonly landed: boolean;
      readonly reason: string;
      readonly landedAs: string;
    }
  | {
      readonly type: 'task-cancelled';
      readonly taskId: string;
      readonly attempt: number;
      readonly reason: string;
    }
  | {
      readonly type: 'task-refused';
      readonly taskId: string;
      readonly attempt: number;
      readonly reason: string;
    }
  | {
      readonly type: 'stale';
      readonly taskId: string;
      readonly attempt: number;
      readonly report: ReportBody['case'];
    }
  | {
      readonly type: 'budget-stopped';
      readonly scope: 'worker' | 'global' | 'unspecified';
      readonly reason: string;
      readonly spentUsd: number;
      readonly budgetUsd: number;
    }
  | { readonly type: 'drain'; readonly reason: string }
  | { readonly type: 'report-refused'; readonly report: ReportBody['case']; readonly error: ConnectError }
  | { readonly type: 'error'; readonly error: unknown };

/** Options of {@link createWorker}; `token` and `ca` apply only when no transport is given. */
export interface WorkerOptions extends ConnectionOptions {
  /** The coordinator's base URL, e.g. `http://127.0.0.1:7070`. Used only when no transport is given. */
  readonly url: string;
  /**
   * Every replica's URL, when several `baton serve` share one PostgreSQL database (`url` among
   * them or not). The worker's session follows the leader: a standby's UNAVAILABLE names it, and a
   * replica that cannot be reached is left for the next URL; unacknowledged reports are resent to
   * whichever leads, as across a restart. Default: `[url]`.
   */
  readonly urls?: readonly string[];
  /** The worker's stable id; reconnecting with the same id resumes the same worker and its tasks. */
  readonly id: string;
  /**
   * Task categories the worker is meant for. Under the `capability` strategy a task goes to a
   * worker listing its category while any connected worker lists it; a category that no connected
   * worker lists (and a task without one) goes to the least-loaded worker, whatever it lists.
   * Default: none.
   */
  readonly capabilities?: readonly string[];
  /** Free-form labels shown in status (host, model, region, ...). */
  readonly labels?: Readonly<Record<string, string>>;
  /** The most tasks run at once (the coordinator may cap it lower in its Welcome). */
  readonly maxConcurrency: number;
  /**
   * Ask for a workspace: a git worktree and branch of the coordinator's repository for this
   * worker alone (the server must run with `--repo`). Handlers find it in `context.workspace`.
   */
  readonly workspace?: boolean;
  readonly handler: TaskHandler;
  /** Defaults to gRPC over HTTP/2 at `url`: a long-lived bidi stream needs HTTP/2. */
  readonly transport?: Transport;
  /** Overrides the Welcome's heartbeat_interval_ms. */
  readonly heartbeatIntervalMs?: number;
  /** Backoff between reconnection attempts (exponential with jitter). Default 100 ms to 10 s. */
  readonly reconnect?: Partial<ReconnectOptions>;
  /**
   * After a Wait, ask again after this long (growing to 8× while the answer stays Wait). The
   * coordinator pushes work when it appears; this only guards against a lost wake-up. 0: never.
   * Default 1000 ms.
   */
  readonly waitRetryMs?: number;
  /** How long to wait for the coordinator to end a session the worker closed. Default 5000 ms. */
  readonly closeTimeoutMs?: number;
  readonly onEvent?: (event: WorkerEvent) => void;
}

/** Options of {@link Worker.stop}. */
export interface StopOptions {
  /**
   * Aborting forces the stop: running handlers are aborted and unacknowledged reports are given
   * up. Without it, stop() waits for handlers and receipts however long they take.
   */
  readonly signal?: AbortSignal;
}

/** A worker connected to a coordinator. */
export interface Worker {
  /** Connects and resolves once welcomed; keeps retrying a coordinator that is not up yet. */
  start(): Promise<void>;
  /**
   * Asks for no more tasks (Request 0), lets running handlers (and any task already on its way)
   * finish and their reports be acknowledged, then closes the session.
   */
  stop(options?: StopOptions): Promise<void>;
  /** Reserves shared rate-limit capacity for one model call, over the worker's own rate stream. */
  acquire(tokens: number, options?: AcquireOptions): Promise<Reservation>;
  /** Reports spend not tied to one task; resolves once applied. */
  reportCost(cost: CostReport): Promise<ReportOutcome>;
  /**
   * Queues the worker's branch for landing at `head` (default: the worktree's HEAD now). Needs a
   * workspace; the entry's outcome arrives as a `merge` event.
   */
  enqueueMerge(head?: string): Promise<MergeEntry>;
  /** The worker's workspace, once welcomed with one (`workspace: true`). */
  readonly workspace: WorkerWorkspace | undefined;
  readonly state: WorkerRunState;
  /** Handlers running now. */
  readonly running: number;
  /**
   * Settles when the worker is finished: resolves after stop() or a completed drain, rejects
   * with the ConnectError that ended it otherwise (ABORTED: another session took over this id).
   */
  readonly done: Promise<void>;
}
