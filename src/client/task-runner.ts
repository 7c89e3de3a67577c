// Task running for the worker SDK: the handler, its abort signal, and what each ending reports.
import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import { timestampDate, type Value, ValueSchema } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import type { Assignment } from './proto.js';
import type { ReportBody, ReportOutcome } from './report-ledger.js';
import type {
  CostReport,
  TaskContext,
  TaskHandler,
  WorkerEvent,
  WorkerTask,
  WorkerWorkspace,
} from './worker-api.js';

/** A report about a task (not a cost report). */
export type TaskReportBody = Exclude<ReportBody, { case: 'cost' }>;

/** Why a running handler was aborted. */
export type AbortKind = 'cancelled' | 'stale' | 'budget' | 'stopped';

/** What the runner needs from the worker around it. */
export interface TaskRunnerHooks {
  readonly handler: TaskHandler;
  emit(event: WorkerEvent): void;
  report(body: TaskReportBody): void;
  reportCost(cost: CostReport): Promise<ReportOutcome>;
  heartbeat(): void;
  /** A handler ended or a task left: ask for more work and see whether the worker is done. */
  settled(): void;
  /** True once nothing may be reported any more (a forced stop, a worker that ended). */
  silenced(): boolean;
  /** The worker's workspace, once a Welcome named one. */
  workspace(): WorkerWorkspace | undefined;
  /** The commit the workspace's HEAD is at, or '' if it cannot be read. */
  headOf(workspace: WorkerWorkspace): Promise<string>;
}

export interface TaskRunner {
  /** The most handlers run at once (the Welcome may lower it). */
  capacity: number;
  /** Handlers running now. */
  readonly running: number;
  /** Slots not taken by running or waiting tasks. */
  readonly freeSlots: number;
  /** Nothing running and nothing waiting to run. */
  readonly idle: boolean;
  /** Runs new assignments (repeats are ignored), or with `refuse` hands them back. */
  accept(assignments: readonly Assignment[], refuse: string | undefined): void;
  /** Drops waiting assignments and aborts handlers of the task (attempt 0: any attempt). */
  cancel(taskId: string, attempt: number, reason: string): void;
  /** A report showed the attempt is stale: abort the handler still running it, if any. */
  stale(taskId: string, attempt: number): void;
  /** Aborts every handler; `refuse` also hands waiting assignments back, otherwise they are dropped. */
  abortAll(kind: AbortKind, reason: string, refuse?: string): void;
}

interface RunningTask {
  readonly taskId: string;
  readonly attempt: number;
  /** Made when the handler first reads `context.signal` (most fast handlers never do). */
  controller: AbortController | undefined;
  /** Abort reason kind; `undefined` while not aborted. */
  aborted: AbortKind | undefined;
  /** Why it was aborted, for a signal first read after the abort. */
  abortReason: ConnectError | undefined;
}

/** The task's signal, made on first use: aborted already (with the reason) if the task was. */
function signalOf(r: RunningTask): AbortSignal {
  if (r.controller === undefined) {
    r.controller = new AbortController();
    if (r.abortReason !== undefined) r.controller.abort(r.abortReason);
  }
  return r.controller.signal;
}

/**
 * Runs assignments up to `capacity` handlers at once, the rest waiting in arrival order. Every
 * ending is reported exactly once: complete with the result, failed (retryable when the error says
 * so, or on a budget stop), or nothing when the attempt was cancelled, is stale, or the worker stopped.
 */
export function createTaskRunner(hooks: TaskRunnerHooks, capacity: number): TaskRunner {
  const running = new Map<string, RunningTask>();
  const backlog: Assignment[] = [];

  const abortTask = (r: RunningTask, kind: AbortKind, reason: string): void => {
    if (r.aborted !== undefined) return;
    r.aborted = kind;
    const code = kind === 'stale' ? Code.Aborted : kind === 'budget' ? Code.ResourceExhausted : Code.Canceled;
    r.abortReason = new ConnectError(reason, code);
    r.controller?.abort(r.abortReason);
  };

  /** Hands an assignment back: the only way to refuse one is to fail it, retryably. */
  const refuse = (a: Assignment, reason: string): void => {
    hooks.emit({ type: 'task-refused', taskId: a.taskId, attempt: a.attempt, reason });
    hooks.report({
      case: 'failed',
      value: { seq: 0, taskId: a.taskId, attempt: a.attempt, error: reason, retryable: true },
    });
  };

  const finished = (a: Assignment, outcome: 'complete' | 'failed' | 'dropped', error?: unknown): void => {
    hooks.emit({
      type: 'task-finished',
      taskId: a.taskId,
      attempt: a.attempt,
      outcome,
      ...(outcome === 'complete' ? {} : { error }),
    });
  };

  const fail = (a: Assignment, error: string, retryable: boolean): void => {
    hooks.report({
      case: 'failed',
      value: { seq: 0, taskId: a.taskId, attempt: a.attempt, error, retryable },
    });
  };

  /** Reports how the handler ended, once. */
  const conclude = (
    a: Assignment,
    r: RunningTask,
    ok: boolean,
    result: unknown,
    error: unknown,
    headCommit: string,
  ): void => {
    if (r.aborted === 'cancelled' || r.aborted === 'stale' || hooks.silenced()) {
      finished(a, 'dropped', error);
      return;
    }
    if (!ok) {
      const budget = r.aborted === 'budget';
      fail(
        a,
        budget ? `worker budget-stopped: ${errorMessage(error)}` : errorMessage(error),
        budget || isRetryable(error),
      );
      finished(a, 'failed', error);
      return;
    }
    const value = toResultValue(result);
    if (value instanceof Error) {
      fail(a, value.message, false);
      finished(a, 'failed', value);
      return;
    }
    const done = { seq: 0, taskId: a.taskId, attempt: a.attempt, headCommit };
    hooks.report({ case: 'complete', value: value === undefined ? done : { ...done, result: value } });
    finished(a, 'complete');
  };

  const runTask = async (a: Assignment): Promise<void> => {
    const r: RunningTask = {
      taskId: a.taskId,
      attempt: a.attempt,
      controller: undefined,
      aborted: undefined,
      abortReason: undefined,
    };
    running.set(keyOf(a.taskId, a.attempt), r);
    hooks.emit({ type: 'task-started', taskId: a.taskId, attempt: a.attempt });
    hooks.report({ case: 'started', value: { seq: 0, taskId: a.taskId, attempt: a.attempt } });
    let deadline: Date | undefined;
    const task: WorkerTask = {
      id: a.taskId,
      attempt: a.attempt,
      category: a.category,
      priority: a.priority,
      metadata: a.metadata ?? {},
      get leaseDeadline() {
        if (deadline === undefined && a.leaseDeadline !== undefined)
          deadline = timestampDate(a.leaseDeadline);
        return deadline;
      },
    };
    const context: TaskContext = {
      get signal() {
        return signalOf(r);
      },
      attempt: a.attempt,
      reportCost: (cost) => hooks.reportCost({ ...cost, taskId: a.taskId }),
      heartbeat: hooks.heartbeat,
      workspace: hooks.workspace(),
    };
    let ok = false;
    let result: unknown;
    let error: unknown;
    // Let the flush scheduled by the Started report run first, so Started (batched with those of
    // tasks assigned together) is on the wire before any handler work begins.
    await Promise.resolve();
    let headCommit = '';
    try {
      result = await hooks.handler(task, context);
      ok = true;
      if (context.workspace !== undefined) headCommit = await hooks.headOf(context.workspace);
    } catch (e) {
      error = e;
    }
    running.delete(keyOf(a.taskId, a.attempt));
    conclude(a, r, ok, result, error, headCommit);
    pump();
    hooks.settled();
  };

  /** Starts backlog tasks while there are free slots. */
  const pump = (): void => {
    while (backlog.length > 0 && running.size < runner.capacity && !hooks.silenced()) {
      const a = backlog.shift()!;
      runTask(a).catch((error: unknown) => hooks.emit({ type: 'error', error }));
    }
  };

  const runner: TaskRunner = {
    capacity,
    get running() {
      return running.size;
    },
    get freeSlots() {
      return Math.max(0, runner.capacity - running.size - backlog.length);
    },
    get idle() {
      return running.size === 0 && backlog.length === 0;
    },
    accept(assignments, refusal) {
      for (const a of assignments) {
        if (running.has(keyOf(a.taskId, a.attempt))) continue; // a repeat, e.g. after a reconnect
        if (backlog.some((b) => b.taskId === a.taskId && b.attempt === a.attempt)) continue;
        if (refusal !== undefined) refuse(a, refusal);
        else backlog.push(a);
      }
      pump();
    },
    cancel(taskId, attempt, reason) {
      const matches = (t: string, n: number): boolean => t === taskId && (attempt === 0 || n === attempt);
      for (let i = backlog.length - 1; i >= 0; i--) {
        const b = backlog[i]!;
        if (matches(b.taskId, b.attempt)) backlog.splice(i, 1);
      }
      for (const r of running.values()) {
        if (matches(r.taskId, r.attempt)) abortTask(r, 'cancelled', reason || 'cancelled by the coordinator');
      }
    },
    stale(taskId, attempt) {
      const r = running.get(keyOf(taskId, attempt));
      if (r !== undefined)
        abortTask(r, 'stale', 'the attempt is stale: the task was reassigned or cancelled');
    },
    abortAll(kind, reason, refusal) {
      for (const a of backlog.splice(0)) if (refusal !== undefined) refuse(a, refusal);
      for (const r of running.values()) abortTask(r, kind, reason);
    },
  };
  return runner;
}

function keyOf(taskId: string, attempt: number): string {
  return `${attempt}:${taskId}`;
}

function isRetryable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { retryable?: unknown }).retryable === true;
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

/**
 * The handler's return value as a google.protobuf.Value: undefined for no result, an Error when
 * it is not JSON (a cycle, a BigInt), which fails the task rather than losing the result.
 */
function toResultValue(result: unknown): Value | undefined | Error {
  if (result === undefined) return undefined;
  try {
    const text = JSON.stringify(result);
    if (text === undefined) return undefined;
    return fromJson(ValueSchema, JSON.parse(text) as JsonValue);
  } catch (e) {
    return new Error(`the handler's result is not JSON: ${errorMessage(e)}`);
  }
}
