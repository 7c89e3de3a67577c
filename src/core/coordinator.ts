import type { Now, Scheduler } from './clock.js';
import {
  type BudgetCheck,
  type BudgetScopeStatus,
  type CostAggregator,
  createCostAggregator,
} from './cost-aggregator.js';
import { createDeadlineTimer } from './deadline-timer.js';
import { BatonError, invalidArgument, isBatonError } from './errors.js';
import { createEventBus, type EventBus } from './event-bus.js';
import type { BudgetScope, CoordEvents, LIFECYCLE_EVENTS } from './events.js';
import { createLeaseTable, type LeaseTable } from './lease.js';
import { COORDINATOR_STATES, type CoordinatorState } from './lifecycle.js';
import { checkMetadata, DEFAULT_LIMITS, type InputLimits, LIMIT_FLAGS, overLimit } from './limits.js';
import { createRateLimiter, type RateDecision, type RateLimiter } from './rate-limiter.js';
import { DEFAULT_RETRY_BACKOFF, normalizeBackoff, type RetryBackoffSpec } from './retry-backoff.js';
import type { TaskSnapshot, TaskSpec } from './task.js';
import type { PurgeFilter, PurgeOutcome } from './task-purge.js';
import { createTaskQueue, type Progress, type ReleaseOutcome, type TaskQueue } from './task-queue.js';
import { batchField, fieldPath, hasControl, undecodable } from './task-spec.js';
import {
  type Assignment,
  type AssignmentStrategy,
  createWorkAssigner,
  type WorkAssigner,
} from './work-assigner.js';
import { createWorkerPool, type MutableWorkerPool, type WorkerInfo, type WorkerJoin } from './worker-pool.js';

export { COORDINATOR_STATES, type CoordinatorState } from './lifecycle.js';

export interface CoordinatorOptions {
  readonly strategy?: AssignmentStrategy;
  /**
   * Strict capability mode: never give a task of category C to a worker that does not list C
   * (the task waits instead). Default false: the seed's least-loaded fallback when no connected
   * worker lists C. A task can ask for strictness alone (`TaskSpec.requireCapability`).
   */
  readonly requireCapability?: boolean;
  /** A worker that says nothing for this long loses its tasks to other workers. Default 30 s. */
  readonly leaseTtlMs?: number;
  /** How often workers should heartbeat; told to them on joining. Default a third of the lease. */
  readonly heartbeatIntervalMs?: number;
  readonly defaultMaxAttempts?: number;
  /**
   * The retry backoff of tasks that set none, field by field (default 1 s, doubling, at most
   * 60 s: core/retry-backoff.ts). A task keeps the backoff it was added with.
   */
  readonly retryBackoff?: RetryBackoffSpec;
  readonly maxRequestsPerMinute?: number;
  readonly maxTokensPerMinute?: number;
  readonly globalBudgetUsd?: number;
  readonly perWorkerBudgetUsd?: number;
  /** The one source of time, required by `createCoordinator`: the core never reads the wall clock. */
  readonly now?: Now;
  /**
   * Runs lease sweeps, and wakes the coordinator when a scheduled or backed-off task comes due
   * (one timer, for the earliest). Without one, call `sweepLeases()` and `dispatch()` yourself.
   */
  readonly scheduler?: Scheduler;
  /** Where a restored coordinator starts. Default `init`. */
  readonly initialState?: CoordinatorState;
  /** Input limits, each defaulting to DEFAULT_LIMITS (core/limits.ts). */
  readonly limits?: Partial<InputLimits>;
}

export interface CoordinatorDeps {
  readonly events?: EventBus<CoordEvents>;
  readonly pool?: MutableWorkerPool;
  readonly options: CoordinatorOptions & { readonly now: Now };
  /** Pre-built subsystems (tests, or state restored from a store). */
  readonly taskQueue?: TaskQueue;
  readonly workAssigner?: WorkAssigner;
  readonly rateLimiter?: RateLimiter;
  readonly costAggregator?: CostAggregator;
  readonly leases?: LeaseTable;
}

export interface CostReport {
  /** Idempotency key: a resent report with the same id is counted once. */
  readonly reportId?: string;
  readonly totalUsd: number;
  readonly inputTokens?: number;
  readonly outputTokens?: number;
}

export interface CoordinatorStatus {
  readonly state: CoordinatorState;
  readonly strategy: AssignmentStrategy;
  /** Strict capability mode for every task (no least-loaded fallback). */
  readonly requireCapability: boolean;
  readonly leaseTtlMs: number;
  readonly heartbeatIntervalMs: number;
  readonly workers: readonly WorkerInfo[];
  readonly progress: Progress;
}

export interface Coordinator {
  readonly state: CoordinatorState;
  readonly events: EventBus<CoordEvents>;
  readonly pool: MutableWorkerPool;
  readonly taskQueue: TaskQueue;
  readonly workAssigner: WorkAssigner;
  readonly rateLimiter: RateLimiter;
  readonly costAggregator: CostAggregator;
  readonly leases: LeaseTable;
  readonly leaseTtlMs: number;
  readonly heartbeatIntervalMs: number;

  /** init, draining or drained → running (idempotent while running). Throws once stopped. */
  start(): void;
  /** No new assignments; becomes drained (not stopped: `start()` resumes) once nothing is held. */
  drain(): void;
  /** Final: no more changes, nor a start, until an operator deliberately calls `reopen()`. */
  stop(): void;
  /** stopped → init, keeping every task; does nothing in any other state. */
  reopen(): void;

  /** Adds tasks (atomically) and, while running, assigns what became ready. */
  addTask(spec: TaskSpec): TaskSnapshot;
  addTasks(specs: readonly TaskSpec[]): TaskSnapshot[];
  /** Cancels a task and its cascade; `reason` is told to the worker running it and recorded in events. */
  cancelTask(id: string, reason?: string): string[];
  retryTask(id: string): string[];
  /**
   * Deletes a settled task no other task depends on (see `TaskQueue.remove`) and announces
   * `coord:task-deleted`; returns its last snapshot. Refused while stopped.
   */
  deleteTask(id: string): TaskSnapshot;
  /**
   * Deletes the settled tasks that finished before a time, keeping those that remaining tasks
   * depend on (see `TaskQueue.purge`), and announces one `coord:tasks-purged` if it removed any.
   * Refused while stopped.
   */
  purgeTasks(filter: PurgeFilter): PurgeOutcome;

  workerJoined(worker: WorkerJoin): WorkerInfo;
  /**
   * Refuses (INVALID_ARGUMENT, `field: workerId`) an id that breaks a task id's rules: longer
   * than --max-id-length, not printable, not UTF-8. Sessions and rate streams check it on hello.
   */
  checkWorkerId(id: string): void;
  /** The worker's connection ended. Its tasks stay leased to it until the lease lapses. */
  workerLeft(workerId: string, reason?: string): void;
  /** The seed's `coord:request`: assigns what it can and tells the worker to wait if it got nothing. */
  /**
   * The seed's `coord:request`: assigns what it can and tells the worker to wait if it has room
   * but got nothing. `count` sets the worker's standing demand (tasks wanted beyond those held;
   * 0 pauses); without it the worker wants to be full.
   */
  request(workerId: string, count?: number): Assignment[];
  heartbeat(workerId: string): number;
  /** The worker began a task it was given (optional: completing an assigned task is fine). */
  taskStarted(workerId: string, taskId: string, attempt: number): void;
  /** Applies the report, or says it repeats one already applied (and changes nothing). */
  complete(workerId: string, taskId: string, attempt: number, result?: unknown): ReportResult;
  fail(workerId: string, taskId: string, attempt: number, error: string, retryable?: boolean): ReportResult;
  rateRequest(workerId: string, tokens: number, requestId?: string): RateDecision;
  /** Records spend, stops the worker (or the fleet) when a budget is spent, and returns the check. */
  recordCost(workerId: string, cost: CostReport): BudgetCheck;
  /** Requeues the tasks of workers whose leases lapsed. Runs on its own with a scheduler. */
  sweepLeases(): string[];
  /** Assigns whatever ready tasks the workers with free slots can take. */
  dispatch(): Assignment[];
  status(): CoordinatorStatus;
}

/** `duplicate`: the report repeats one already applied (the worker did not hear the answer). */
export type ReportResult = 'applied' | 'duplicate';

const DEFAULT_LEASE_TTL_MS = 30_000;

/** Refuses options that would only fail later, deep inside a subsystem or a timer. */
function checkOptions(options: CoordinatorOptions): void {
  const positive = (value: number | undefined, field: string, integer = false): void => {
    if (value === undefined) return;
    if (
      typeof value !== 'number' ||
      !Number.isFinite(value) ||
      value <= 0 ||
      (integer && !Number.isInteger(value))
    ) {
      throw invalidArgument(`${field} must be a positive ${integer ? 'integer' : 'number'}, got ${value}`, {
        field,
      });
    }
  };
  positive(options.leaseTtlMs, 'leaseTtlMs');
  positive(options.heartbeatIntervalMs, 'heartbeatIntervalMs');
  positive(options.defaultMaxAttempts, 'defaultMaxAttempts', true);
  normalizeBackoff(options.retryBackoff, DEFAULT_RETRY_BACKOFF, 'retryBackoff');
  for (const name of Object.keys(LIMIT_FLAGS) as (keyof InputLimits)[])
    positive(options.limits?.[name], `limits.${name}`, true);
  if (options.requireCapability !== undefined && typeof options.requireCapability !== 'boolean') {
    throw invalidArgument('requireCapability must be true or false', { field: 'requireCapability' });
  }
  const ttl = options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
  if (options.heartbeatIntervalMs !== undefined && options.heartbeatIntervalMs >= ttl) {
    throw invalidArgument(
      `heartbeatIntervalMs (${options.heartbeatIntervalMs}) must be below leaseTtlMs (${ttl})`,
      {
        field: 'heartbeatIntervalMs',
      },
    );
  }
  if (typeof options?.now !== 'function') {
    throw invalidArgument('now must be a function returning milliseconds', { field: 'now' });
  }
  if (options.scheduler !== undefined && typeof options.scheduler?.setTimeout !== 'function') {
    throw invalidArgument('scheduler must have a setTimeout(callback, delayMs) method', {
      field: 'scheduler',
    });
  }
  if (options.initialState !== undefined && !COORDINATOR_STATES.includes(options.initialState)) {
    throw invalidArgument(`initialState must be one of ${COORDINATOR_STATES.join(', ')}`, {
      field: 'initialState',
    });
  }
}

export function createCoordinator(deps: CoordinatorDeps): Coordinator {
  const { options } = deps;
  checkOptions(options);
  const { now } = options;
  const limits: InputLimits = { ...DEFAULT_LIMITS, ...options.limits };
  /**
   * A worker id reaches logs, metrics labels, events and status as it is: held to a task id's
   * rules (--max-id-length, printable, valid UTF-8). None of the refusals echoes it.
   */
  const checkWorkerId = (id: string): void => {
    if (id.length > limits.maxIdLength)
      throw overLimit('maxIdLength', limits, `workerId is ${id.length} characters`, 'workerId');
    if (hasControl(id) || id.trim() === '')
      throw invalidArgument('workerId must be printable and not blank', { field: 'workerId' });
    if (undecodable(id))
      throw invalidArgument('workerId must be valid UTF-8 (it has undecodable characters)', {
        field: 'workerId',
      });
  };
  const events = deps.events ?? createEventBus<CoordEvents>();
  const pool = deps.pool ?? createWorkerPool();
  const taskQueue =
    deps.taskQueue ??
    createTaskQueue({
      now,
      ...(options.defaultMaxAttempts === undefined ? {} : { defaultMaxAttempts: options.defaultMaxAttempts }),
      ...(options.retryBackoff === undefined ? {} : { defaultRetryBackoff: options.retryBackoff }),
      lengths: limits,
    });
  const workAssigner =
    deps.workAssigner ??
    createWorkAssigner({
      pool,
      taskQueue,
      events,
      ...(options.strategy === undefined ? {} : { strategy: options.strategy }),
      ...(options.requireCapability === undefined ? {} : { requireCapability: options.requireCapability }),
    });
  const rateLimiter =
    deps.rateLimiter ??
    createRateLimiter({
      maxRequestsPerMinute: options.maxRequestsPerMinute ?? 600,
      maxTokensPerMinute: options.maxTokensPerMinute ?? 1_000_000,
      now,
      scheduler: options.scheduler,
    });
  const costAggregator =
    deps.costAggregator ??
    createCostAggregator({
      events,
      ...(options.globalBudgetUsd === undefined ? {} : { globalBudgetUsd: options.globalBudgetUsd }),
      ...(options.perWorkerBudgetUsd === undefined ? {} : { perWorkerBudgetUsd: options.perWorkerBudgetUsd }),
    });
  const leaseTtlMs = deps.leases?.ttlMs ?? options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
  const leases = deps.leases ?? createLeaseTable({ ttlMs: leaseTtlMs, now });
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? Math.max(1, Math.floor(leaseTtlMs / 3));
  const { scheduler } = options;

  let state: CoordinatorState = options.initialState ?? 'init';
  let announcedAllComplete = taskQueue.allTerminal();
  let unsubscribe: (() => void)[] = [];
  let globalStop = false;
  /**
   * Workers that (re)joined while holding tasks. An assignment is sent once, after the commit that
   * stored it; if the connection (or the coordinator) died before it arrived, the worker comes back
   * not knowing it holds the task and its heartbeats would keep the task from ever running. So the
   * first request after a join re-sends the tasks still `assigned` to it: by then the worker has
   * resent its unacknowledged reports (they precede the request on the stream), so a task it did
   * start is already `running` and is not sent again, and one it merely queued is a repeat the SDK
   * ignores.
   */
  const rejoined = new Set<string>();

  // Tasks restored from a store may be held by workers with no lease on record: give those
  // workers one full lease to come back rather than leaving the tasks stuck forever.
  for (const workerId of Array.from(taskQueue.holders())) {
    if (leases.expiresAt(workerId) === undefined) leases.touch(workerId);
  }

  const unavailableIfStopped = (): void => {
    if (state === 'stopped') throw new BatonError('unavailable', 'coordinator is stopped');
  };

  const enter = (next: CoordinatorState, event: (typeof LIFECYCLE_EVENTS)[number]): void => {
    state = next;
    events.emit(event, { at: now() });
  };

  const sweepTimer =
    scheduler === undefined
      ? undefined
      : createDeadlineTimer(scheduler, now, () => {
          coordinator.sweepLeases();
          scheduleSweep();
        });
  const scheduleSweep = (): void => {
    if (state !== 'stopped') sweepTimer?.armFor(leases.nextExpiry());
  };

  /**
   * One timer, for the earliest task that waits for its not-before time (the due set's top): when
   * it fires the due tasks join the ready set and are dispatched, and `settle` arms it again for
   * the next one. Only while running: a drained coordinator assigns nothing anyway.
   */
  const wakeTimer = scheduler === undefined ? undefined : createDeadlineTimer(scheduler, now, () => settle());
  const scheduleWake = (): void => {
    if (state === 'running') wakeTimer?.armFor(taskQueue.nextDueAt());
  };

  const touch = (workerId: string): number => {
    const expiresAt = leases.touch(workerId);
    scheduleSweep();
    return expiresAt;
  };

  /**
   * Any message from a worker proves it alive: renew its lease. Only for workers the coordinator
   * knows (joined, or holding a lease), so a report from a forgotten worker leaves no orphan lease.
   */
  const renew = (workerId: string): number | undefined =>
    leases.expiresAt(workerId) !== undefined || pool.get(workerId) !== undefined
      ? touch(workerId)
      : undefined;

  /**
   * True when a refused report repeats one already applied (the worker did not hear the answer
   * and said it again): same worker, same attempt, same outcome.
   */
  const alreadyReported = (
    error: unknown,
    taskId: string,
    workerId: string,
    attempt: number,
    status: 'complete' | 'failed',
  ): boolean => {
    if (!isBatonError(error) || error.code !== 'aborted') return false;
    const seen = taskQueue.peek(taskId);
    return seen?.status === status && seen.attempt === attempt && seen.workerId === workerId;
  };

  const announceIfAllComplete = (): void => {
    if (!taskQueue.allTerminal()) {
      announcedAllComplete = false;
      return;
    }
    if (announcedAllComplete) return;
    announcedAllComplete = true;
    const p = taskQueue.getProgress();
    const counts = { at: now(), complete: p.complete, failed: p.failed, cancelled: p.cancelled };
    events.emit('coord:all-settled', counts);
    // "Complete" is a claim about the run: an all-cancelled or partly failed graph only settled.
    // An operator's cancellations do not spoil it; a failure (and its cascade) does.
    if (p.complete > 0 && p.failed === 0) events.emit('coord:all-complete', counts);
  };

  const finishDrain = (): void => {
    if (state !== 'draining') return;
    const p = taskQueue.getProgress();
    if (p.assigned + p.running === 0) enter('drained', 'coord:drained');
  };

  const emitCancelled = (ids: readonly string[], cause: string): void => {
    for (const id of ids)
      events.emit('coord:task-cancelled', { task: taskQueue.get(id) as TaskSnapshot, cause });
  };

  /** A task left its worker (failed, requeued or cancelled): free the slot, then follow up. */
  const afterRelease = (outcome: ReleaseOutcome, workerId: string | null): void => {
    if (workerId !== null) pool.release(workerId);
    if (outcome.requeued) {
      events.emit('coord:task-requeued', { task: outcome.task, reason: outcome.task.error ?? '' });
    } else {
      events.emit('coord:task-failed', { task: outcome.task });
      emitCancelled(outcome.cancelled, `dependency ${outcome.task.id} failed`);
    }
  };

  /**
   * Assigns what fits and sends each assignment, collecting them only when asked: after every
   * report this runs for the one slot it freed, and a list per call would be the only garbage.
   */
  const assignAndSend = (collect?: Assignment[]): void => {
    if (state !== 'running' || globalStop) return;
    for (let a = workAssigner.assignNext(); a !== undefined; a = workAssigner.assignNext()) {
      pool.sendTo(a.workerId, {
        type: 'coord:proceed',
        task: a.task,
        leaseExpiresAt: leases.expiresAt(a.workerId) ?? touch(a.workerId),
      });
      collect?.push(a);
    }
  };

  const settle = (): void => {
    assignAndSend();
    announceIfAllComplete();
    finishDrain();
    scheduleWake();
  };

  /** Budget-stopped workers keep their tasks (they may finish them) but get no new ones. */
  const sendBudgetStop = (workerId: string, scope: BudgetScope, status: BudgetScopeStatus): void => {
    const worker = pool.get(workerId);
    if (worker === undefined || worker.status === 'offline') return;
    pool.setStatus(workerId, 'stopped');
    pool.sendTo(workerId, {
      type: 'coord:budget-stop',
      scope,
      spentUsd: status.spentUsd,
      budgetUsd: status.budgetUsd ?? 0,
    });
  };

  /**
   * Stops the worker when its budget is spent, and the whole fleet (once) when the global one is.
   * Returns false when the worker may not take work.
   */
  const enforceBudget = (
    workerId: string,
    check: BudgetCheck = costAggregator.checkBudget(workerId),
  ): boolean => {
    if (check.allowed && !globalStop) return true;
    if (check.global.exceeded || globalStop) {
      if (!globalStop) {
        globalStop = true;
        for (const w of pool.list()) sendBudgetStop(w.id, 'global', check.global);
      } else {
        sendBudgetStop(workerId, 'global', check.global);
      }
    } else {
      sendBudgetStop(workerId, 'worker', check.worker);
    }
    return false;
  };

  const inbound = (): (() => void)[] => {
    // The seed's event protocol: workers wired through the bus get their answers via the pool,
    // and a refused report is answered with `coord:rejected` instead of being thrown at the bus.
    const guard =
      <T extends { workerId: string }>(handle: (payload: T) => void) =>
      (payload: T): void => {
        try {
          handle(payload);
        } catch (error) {
          if (!isBatonError(error)) throw error;
          pool.sendTo(payload.workerId, {
            type: 'coord:rejected',
            code: error.code,
            message: error.message,
            ...(error.taskId === undefined ? {} : { taskId: error.taskId }),
          });
        }
      };
    return [
      events.on(
        'coord:request',
        guard((p) => coordinator.request(p.workerId)),
      ),
      events.on(
        'coord:heartbeat',
        guard((p) => coordinator.heartbeat(p.workerId)),
      ),
      events.on(
        'coord:complete',
        guard((p) => coordinator.complete(p.workerId, p.taskId, p.attempt, p.result)),
      ),
      events.on(
        'coord:failed',
        guard((p) => coordinator.fail(p.workerId, p.taskId, p.attempt, p.error, p.retryable === true)),
      ),
      events.on(
        'coord:rate-request',
        guard((p) => coordinator.rateRequest(p.workerId, p.tokens, p.requestId)),
      ),
      events.on(
        'coord:cost',
        guard((p) =>
          coordinator.recordCost(p.workerId, {
            totalUsd: p.totalUsd,
            ...(p.inputTokens === undefined ? {} : { inputTokens: p.inputTokens }),
            ...(p.outputTokens === undefined ? {} : { outputTokens: p.outputTokens }),
          }),
        ),
      ),
    ];
  };

  /** Announces tasks just added and hands them out if running. */
  /** The batch's size, the graph's size after it, and each task's metadata, against the limits. */
  const checkLimits = (specs: readonly TaskSpec[], fieldOf: (i: number) => string = batchField): void => {
    if (!Array.isArray(specs)) return; // the queue names what is wrong with it
    if (specs.length > limits.maxBatchTasks)
      throw overLimit('maxBatchTasks', limits, `a batch of ${specs.length} tasks`, 'tasks');
    const total = taskQueue.size + specs.length;
    if (total > limits.maxTasks)
      throw overLimit(
        'maxTasks',
        limits,
        `the graph would hold ${total} tasks`,
        'tasks',
        'resource-exhausted',
      );
    for (const [i, spec] of specs.entries())
      checkMetadata(spec?.metadata, limits, fieldPath(fieldOf(i), 'metadata'));
  };

  const added = (tasks: TaskSnapshot[]): TaskSnapshot[] => {
    for (const task of tasks) events.emit('coord:task-added', { task });
    if (state === 'running') settle();
    else announceIfAllComplete();
    return tasks;
  };

  const coordinator: Coordinator = {
    get state() {
      return state;
    },
    events,
    pool,
    taskQueue,
    workAssigner,
    rateLimiter,
    costAggregator,
    leases,
    leaseTtlMs,
    heartbeatIntervalMs,

    start() {
      if (state === 'running') return;
      if (state === 'stopped') {
        throw new BatonError(
          'failed-precondition',
          'cannot start: coordinator is stopped, and stop is final (`baton serve --reopen` opens it again)',
        );
      }
      enter('running', 'coord:started');
      scheduleSweep();
      settle();
    },
    drain() {
      if (state === 'draining' || state === 'drained' || state === 'stopped') return;
      enter('draining', 'coord:draining');
      wakeTimer?.cancel();
      for (const w of pool.list()) if (w.status !== 'offline') pool.sendTo(w.id, { type: 'coord:drain' });
      finishDrain();
    },
    stop() {
      if (state === 'stopped') return;
      for (const off of unsubscribe) off();
      unsubscribe = [];
      sweepTimer?.cancel();
      wakeTimer?.cancel();
      enter('stopped', 'coord:stopped');
    },
    reopen() {
      if (state !== 'stopped') return;
      unsubscribe = inbound();
      enter('init', 'coord:reopened');
    },

    addTask(spec) {
      unavailableIfStopped();
      checkLimits([spec], () => '');
      return added([taskQueue.add(spec)])[0] as TaskSnapshot;
    },
    addTasks(specs) {
      unavailableIfStopped();
      checkLimits(specs);
      return added(taskQueue.addMany(specs));
    },
    cancelTask(id, reason = 'cancelled by an operator') {
      unavailableIfStopped();
      const before = taskQueue.peek(id);
      const holder =
        before !== undefined && (before.status === 'assigned' || before.status === 'running')
          ? before
          : undefined;
      const holderId = holder?.workerId ?? null;
      const attempt = holder?.attempt ?? 0;
      const cancelled = taskQueue.cancel(id);
      if (holderId !== null) {
        pool.release(holderId);
        pool.sendTo(holderId, {
          type: 'coord:cancel',
          taskId: id,
          attempt,
          reason,
        });
      }
      const cascaded = cancelled[0] === id ? cancelled.slice(1) : cancelled;
      if (cascaded !== cancelled) emitCancelled([id], reason);
      emitCancelled(cascaded, `dependency ${id} was cancelled`);
      settle();
      return cancelled;
    },
    retryTask(id) {
      unavailableIfStopped();
      const restored = taskQueue.retry(id);
      for (const rid of restored)
        events.emit('coord:task-retried', { task: taskQueue.get(rid) as TaskSnapshot });
      announcedAllComplete = false;
      if (state === 'running') settle();
      return restored;
    },
    deleteTask(id) {
      unavailableIfStopped();
      const task = taskQueue.remove(id);
      events.emit('coord:task-deleted', { task });
      return task;
    },
    purgeTasks(filter) {
      unavailableIfStopped();
      const outcome = taskQueue.purge(filter);
      if (outcome.purged > 0) {
        events.emit('coord:tasks-purged', { at: now(), finishedBefore: filter.finishedBefore, ...outcome });
      }
      return outcome;
    },

    checkWorkerId,

    workerJoined(worker) {
      unavailableIfStopped();
      checkWorkerId(worker.id);
      // A worker coming back (same id) keeps the tasks it still holds: they count against its slots.
      const held = taskQueue.countByWorker(worker.id);
      const info = pool.join({ ...worker, running: held }, now());
      touch(info.id);
      if (held > 0) rejoined.add(info.id);
      else rejoined.delete(info.id);
      events.emit('coord:worker-joined', {
        workerId: info.id,
        capabilities: [...info.capabilities],
        labels: { ...info.labels },
        maxConcurrency: info.maxConcurrency,
      });
      if (state === 'draining') {
        pool.setStatus(info.id, 'draining');
        pool.sendTo(info.id, { type: 'coord:drain' });
      } else {
        enforceBudget(info.id);
      }
      return pool.get(info.id) as WorkerInfo;
    },
    workerLeft(workerId, reason = 'disconnected') {
      const worker = pool.get(workerId);
      if (worker === undefined || worker.status === 'offline') return;
      pool.leave(workerId);
      // Holding nothing, it has nothing to come back for: drop its lease now.
      if (taskQueue.countByWorker(workerId) === 0) leases.release(workerId);
      events.emit('coord:worker-left', { workerId, reason });
    },
    request(workerId, count) {
      unavailableIfStopped();
      if (pool.get(workerId) === undefined) {
        throw new BatonError('failed-precondition', `worker ${workerId} has not joined`, {
          field: 'workerId',
        });
      }
      touch(workerId);
      if (rejoined.delete(workerId)) {
        for (const task of taskQueue.getByWorker(workerId)) {
          if (task.status !== 'assigned') continue;
          pool.sendTo(workerId, {
            type: 'coord:proceed',
            task,
            leaseExpiresAt: leases.expiresAt(workerId) ?? touch(workerId),
          });
        }
      }
      if (count !== undefined) pool.setDemand(workerId, count);
      if (state !== 'running') {
        pool.sendTo(workerId, { type: 'coord:wait', reason: `coordinator is ${state}` });
        return [];
      }
      if (!enforceBudget(workerId)) return [];
      const assigned = coordinator.dispatch();
      const w = pool.get(workerId) as WorkerInfo;
      // Wait means "you have room but nothing fits yet"; a full, paused, draining or stopped
      // worker already knows why it gets nothing.
      const hasRoom =
        (w.status === 'idle' || w.status === 'busy') && w.running < Math.min(w.wanted, w.maxConcurrency);
      if (hasRoom && !assigned.some((a) => a.workerId === workerId)) {
        pool.sendTo(workerId, { type: 'coord:wait', reason: 'no ready task for this worker' });
      }
      return assigned;
    },
    heartbeat(workerId) {
      const expiresAt = renew(workerId);
      if (expiresAt === undefined) {
        throw new BatonError('failed-precondition', `worker ${workerId} has not joined`, {
          field: 'workerId',
        });
      }
      return expiresAt;
    },
    taskStarted(workerId, taskId, attempt) {
      renew(workerId);
      const wasRunning = taskQueue.peek(taskId, workerId)?.status === 'running';
      taskQueue.start(taskId, { workerId, attempt });
      // Payloads are copies (listeners may keep them): only built when someone listens.
      if (!wasRunning && events.wants('coord:task-started')) {
        events.emit('coord:task-started', { task: taskQueue.get(taskId) as TaskSnapshot });
      }
    },
    complete(workerId, taskId, attempt, result) {
      renew(workerId);
      try {
        taskQueue.complete(taskId, result, { workerId, attempt });
      } catch (error) {
        if (alreadyReported(error, taskId, workerId, attempt, 'complete')) return 'duplicate';
        throw error;
      }
      pool.release(workerId);
      if (events.wants('coord:task-complete')) {
        events.emit('coord:task-complete', { task: taskQueue.get(taskId) as TaskSnapshot });
      }
      settle();
      return 'applied';
    },
    fail(workerId, taskId, attempt, error, retryable = false) {
      renew(workerId);
      let outcome: ReleaseOutcome;
      try {
        outcome = taskQueue.fail(taskId, error, { workerId, attempt }, { retryable });
      } catch (thrown) {
        if (alreadyReported(thrown, taskId, workerId, attempt, 'failed')) return 'duplicate';
        throw thrown;
      }
      afterRelease(outcome, workerId);
      settle();
      return 'applied';
    },
    rateRequest(workerId, tokens, requestId) {
      unavailableIfStopped();
      const decision = rateLimiter.tryAcquire(workerId, tokens, requestId);
      pool.sendTo(
        workerId,
        decision.granted
          ? {
              type: 'coord:rate-grant',
              requestId,
              reservationId: decision.reservation.id,
              remaining: decision.remaining,
            }
          : { type: 'coord:rate-wait', requestId, waitMs: decision.waitMs, remaining: decision.remaining },
      );
      return decision;
    },
    recordCost(workerId, cost) {
      const check = costAggregator.record(workerId, cost);
      enforceBudget(workerId, check);
      return check;
    },
    sweepLeases() {
      if (state === 'stopped') return [];
      const expired = leases.takeExpired();
      for (const workerId of expired) {
        const held = taskQueue.getByWorker(workerId);
        for (const task of held) {
          const outcome = taskQueue.requeue(task.id, `lease of worker ${workerId} expired`, {
            workerId,
            attempt: task.attempt,
          });
          afterRelease(outcome, workerId);
        }
        if (held.length > 0) coordinator.workerLeft(workerId, 'lease expired');
      }
      // A listener of the events above may have stopped the coordinator.
      if (expired.length > 0 && (state as CoordinatorState) !== 'stopped') settle();
      return expired;
    },
    dispatch() {
      const assigned: Assignment[] = [];
      assignAndSend(assigned);
      return assigned;
    },
    status() {
      return {
        state,
        strategy: workAssigner.strategy,
        requireCapability: workAssigner.requireCapability,
        leaseTtlMs,
        heartbeatIntervalMs,
        workers: pool.list(),
        progress: taskQueue.getProgress(),
      };
    },
  };

  // Workers on the bus are answered from the start (a request before `start()` gets a wait).
  if (state !== 'stopped') unsubscribe = inbound();
  if (state === 'running') {
    scheduleSweep();
    scheduleWake();
  }
  // Restored mid-drain with nothing held any more (the last report landed just before a crash).
  finishDrain();
  return coordinator;
}
