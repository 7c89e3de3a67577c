import { randomUUID } from 'node:crypto';
import { fromJson, type JsonObject, type JsonValue, type MessageInitShape } from '@bufbuild/protobuf';
import { timestampDate, type Value, ValueSchema } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type Transport } from '@connectrpc/connect';
import { onAbort } from './abort-listeners.js';
import { backoffDelay, defaultReconnect, type ReconnectOptions, sleep } from './backoff.js';
import { isFatalSessionEnd } from './errors.js';
import { type Assignment, BudgetScope, type CoordinatorMessage, type WorkerMessageSchema } from './proto.js';
import {
  type AcquireOptions,
  createRateLimitClient,
  type RateLimitClient,
  type Reservation,
} from './rate-limit-client.js';
import {
  createReportLedger,
  type ReportBody,
  type ReportOutcome,
  type ReportSettled,
} from './report-ledger.js';
import { connectSessions, grpcSessions, type SessionChannel } from './session-channel.js';

/** A report about a task (not a cost report). */
type TaskReportBody = Exclude<ReportBody, { case: 'cost' }>;

type WorkerMessageInit = MessageInitShape<typeof WorkerMessageSchema>;

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

/** Options of {@link createWorker}. */
export interface WorkerOptions {
  /** The coordinator's base URL, e.g. `http://127.0.0.1:7070`. Used only when no transport is given. */
  readonly url: string;
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
  readonly state: WorkerRunState;
  /** Handlers running now. */
  readonly running: number;
  /**
   * Settles when the worker is finished: resolves after stop() or a completed drain, rejects
   * with the ConnectError that ended it otherwise (ABORTED: another session took over this id).
   */
  readonly done: Promise<void>;
}

interface RunningTask {
  readonly taskId: string;
  readonly attempt: number;
  /** Made when the handler first reads `context.signal` (most fast handlers never do). */
  controller: AbortController | undefined;
  /** Abort reason kind; `undefined` while not aborted. */
  aborted: 'cancelled' | 'stale' | 'budget' | 'stopped' | undefined;
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

interface Session {
  readonly generation: number;
  readonly queue: SessionChannel;
  readonly controller: AbortController;
  welcomed: boolean;
  closing: boolean;
  heartbeatMs: number;
}

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

const maxBatch = 256;

/**
 * Creates a worker that holds one WorkerService.Session stream to the coordinator, runs the tasks
 * it is given up to its concurrency, reports them, and survives coordinator restarts.
 *
 * Why it is built the way it is:
 * - Reports are kept until their receipt arrives and are written again on every new session,
 *   because a stream can break between the write and the receipt; the coordinator treats a
 *   repeated report as success and a stale one as ABORTED, so resending is always safe.
 * - Request is sent after Welcome and when a slot frees, never in answer to BudgetStop, Drain or
 *   Wait (a coordinator may answer a Request with those, and echoing would ping-pong); after a
 *   Wait, a slowly growing timer re-requests in case a wake-up was lost.
 * - Timers are unref'd while a session holds the process open, and all are cleared on stop.
 */
export function createWorker(options: WorkerOptions): Worker {
  if (options.id === '') throw new TypeError('worker id must not be empty');
  if (!Number.isInteger(options.maxConcurrency) || options.maxConcurrency < 1) {
    throw new TypeError(`maxConcurrency must be a positive integer, got ${options.maxConcurrency}`);
  }
  // Without a transport, the session speaks gRPC over node:http2 directly (session-channel.ts).
  const openSession =
    options.transport === undefined ? grpcSessions(options.url) : connectSessions(options.transport);
  const reconnect = { ...defaultReconnect, ...options.reconnect };
  const waitRetryMs = options.waitRetryMs ?? 1_000;
  const closeTimeoutMs = options.closeTimeoutMs ?? 5_000;
  const ledger = createReportLedger();
  // Cost reports carry `<instance>-<n>` so a resent one is counted once even across a restart of
  // the coordinator that lost the first receipt; the instance part keeps ids unique per process.
  const instance = randomUUID();
  let costReports = 0;
  const running = new Map<string, RunningTask>();
  const backlog: Assignment[] = [];

  let capacity = options.maxConcurrency;
  let session: Session | undefined;
  let generation = 0;
  let connection: 'idle' | 'connecting' | 'running' | 'reconnecting' | 'stopped' = 'idle';
  let draining = false;
  let budgetStopped = false;
  let stopping = false;
  let forced = false;
  let everWelcomed = false;
  let loop: Promise<void> | undefined;
  let wake = new AbortController();
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let lastWriteAt = 0;
  let waitTimer: NodeJS.Timeout | undefined;
  let waitRound = 0;
  let closeTimer: NodeJS.Timeout | undefined;
  let flushScheduled = false;
  let rateLimiter: RateLimitClient | undefined;
  let lastState: WorkerRunState = 'idle';
  const welcomed = deferred<void>();
  const done = deferred<void>();
  // Both are also awaited by callers; these handlers only keep an unobserved failure from being
  // reported as an unhandled rejection.
  welcomed.promise.catch(() => {});
  done.promise.catch(() => {});

  const emit = (event: WorkerEvent): void => {
    if (options.onEvent === undefined) return;
    try {
      options.onEvent(event);
    } catch {
      // A logging callback must not break the protocol.
    }
  };

  const state = (): WorkerRunState => {
    if (connection === 'stopped') return 'stopped';
    if (stopping) return 'stopping';
    if (draining) return 'draining';
    if (budgetStopped) return 'budget-stopped';
    return connection;
  };

  const stateChanged = (): void => {
    const now = state();
    if (now === lastState) return;
    lastState = now;
    emit({ type: 'state', state: now });
  };

  const accepting = (): boolean => !draining && !budgetStopped && !stopping;
  const freeSlots = (): number => Math.max(0, capacity - running.size - backlog.length);
  const quiescent = (): boolean => running.size === 0 && backlog.length === 0 && ledger.size === 0;
  const finishing = (): boolean => stopping || draining;

  // --- writing ---------------------------------------------------------------------------------

  const stopHeartbeat = (): void => {
    clearTimeout(heartbeatTimer);
    heartbeatTimer = undefined;
  };

  /**
   * A heartbeat goes out after heartbeatMs without a write. Rather than re-arming a timer on every
   * write (a timer per message), a write only notes the time, and the one pending timer, when it
   * fires, waits out the rest of the interval if something was written meanwhile.
   */
  const onHeartbeatTimer = (): void => {
    heartbeatTimer = undefined;
    const s = session;
    if (s === undefined || !s.welcomed || s.closing || s.heartbeatMs <= 0) return;
    const quietMs = performance.now() - lastWriteAt;
    if (quietMs < s.heartbeatMs) {
      heartbeatTimer = setTimeout(onHeartbeatTimer, s.heartbeatMs - quietMs);
      heartbeatTimer.unref();
      return;
    }
    flushReports(); // reports refused with UNAVAILABLE are written again at this pace
    write({ kind: { case: 'heartbeat', value: {} } });
  };

  const armHeartbeat = (): void => {
    const s = session;
    if (s === undefined || !s.welcomed || s.closing || s.heartbeatMs <= 0) {
      stopHeartbeat();
      return;
    }
    lastWriteAt = performance.now();
    if (heartbeatTimer !== undefined) return;
    heartbeatTimer = setTimeout(onHeartbeatTimer, s.heartbeatMs);
    heartbeatTimer.unref();
  };

  /** Writes to the welcomed session, if there is one; anything else waits for the next Welcome. */
  const write = (message: WorkerMessageInit): boolean => {
    const s = session;
    if (s === undefined || !s.welcomed || s.closing) return false;
    s.queue.push(message);
    armHeartbeat();
    return true;
  };

  const flushReports = (): void => {
    const s = session;
    if (s === undefined || !s.welcomed || s.closing) return;
    const bodies = ledger.takeUnsent(s.generation);
    for (let i = 0; i < bodies.length; i += maxBatch) {
      const chunk = bodies.slice(i, i + maxBatch);
      if (chunk.length === 1) write({ kind: chunk[0]! });
      else write({ kind: { case: 'reports', value: { reports: chunk.map((kind) => ({ kind })) } } });
    }
  };

  /** Reports made in the same tick go out together, in one Reports batch. */
  const scheduleFlush = (): void => {
    if (flushScheduled) return;
    flushScheduled = true;
    queueMicrotask(() => {
      flushScheduled = false;
      flushReports();
    });
  };

  /**
   * The end of a task's report: a stale attempt aborts the handler still running it (if any);
   * any other refusal becomes an event. One function for every report, so a report costs no closure.
   */
  const taskReportSettled: ReportSettled = (outcome, body) => {
    maybeFinish();
    if (outcome === 'applied' || body.case === 'cost') return;
    if (outcome === 'stale') {
      const { taskId, attempt } = body.value;
      emit({ type: 'stale', taskId, attempt, report: body.case });
      const r = running.get(keyOf(taskId, attempt));
      if (r !== undefined) {
        abortTask(r, 'stale', 'the attempt is stale: the task was reassigned or cancelled');
      }
      return;
    }
    emit({ type: 'report-refused', report: body.case, error: outcome });
  };

  /** Reports about a task; `seq` is given by the ledger. */
  const reportTask = (body: TaskReportBody): void => {
    ledger.add(body, taskReportSettled);
    scheduleFlush();
  };

  const requestMore = (): void => {
    if (!accepting()) return;
    const count = freeSlots();
    if (count > 0) write({ kind: { case: 'request', value: { count } } });
  };

  const pause = (): void => {
    clearTimeout(waitTimer);
    write({ kind: { case: 'request', value: { count: 0 } } });
  };

  // --- tasks -------------------------------------------------------------------------------------

  const abortTask = (r: RunningTask, kind: NonNullable<RunningTask['aborted']>, reason: string): void => {
    if (r.aborted !== undefined) return;
    r.aborted = kind;
    const code = kind === 'stale' ? Code.Aborted : kind === 'budget' ? Code.ResourceExhausted : Code.Canceled;
    r.abortReason = new ConnectError(reason, code);
    r.controller?.abort(r.abortReason);
  };

  /** Hands an assignment back: the only way to refuse one is to fail it, retryably. */
  const refuse = (a: Assignment, reason: string): void => {
    emit({ type: 'task-refused', taskId: a.taskId, attempt: a.attempt, reason });
    reportTask({
      case: 'failed',
      value: { seq: 0, taskId: a.taskId, attempt: a.attempt, error: reason, retryable: true },
    });
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
    emit({ type: 'task-started', taskId: a.taskId, attempt: a.attempt });
    reportTask({ case: 'started', value: { seq: 0, taskId: a.taskId, attempt: a.attempt } });
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
      reportCost: (cost) => reportCost({ ...cost, taskId: a.taskId }),
      heartbeat: () => {
        write({ kind: { case: 'heartbeat', value: {} } });
      },
    };
    let ok = false;
    let result: unknown;
    let error: unknown;
    // Let the flush scheduled by the Started report run first, so Started (batched with those of
    // tasks assigned together) is on the wire before any handler work begins.
    await Promise.resolve();
    try {
      result = await options.handler(task, context);
      ok = true;
    } catch (e) {
      error = e;
    }
    running.delete(keyOf(a.taskId, a.attempt));
    const silent = r.aborted === 'cancelled' || r.aborted === 'stale' || forced || connection === 'stopped';
    if (silent) {
      emit({ type: 'task-finished', taskId: a.taskId, attempt: a.attempt, outcome: 'dropped', error });
    } else if (ok) {
      const value = toResultValue(result);
      if (value instanceof Error) {
        reportTask({
          case: 'failed',
          value: { seq: 0, taskId: a.taskId, attempt: a.attempt, error: value.message, retryable: false },
        });
        emit({
          type: 'task-finished',
          taskId: a.taskId,
          attempt: a.attempt,
          outcome: 'failed',
          error: value,
        });
      } else {
        reportTask({
          case: 'complete',
          value:
            value === undefined
              ? { seq: 0, taskId: a.taskId, attempt: a.attempt }
              : { seq: 0, taskId: a.taskId, attempt: a.attempt, result: value },
        });
        emit({ type: 'task-finished', taskId: a.taskId, attempt: a.attempt, outcome: 'complete' });
      }
    } else {
      const budget = r.aborted === 'budget';
      const message = budget ? `worker budget-stopped: ${errorMessage(error)}` : errorMessage(error);
      reportTask({
        case: 'failed',
        value: {
          seq: 0,
          taskId: a.taskId,
          attempt: a.attempt,
          error: message,
          retryable: budget || isRetryable(error),
        },
      });
      emit({ type: 'task-finished', taskId: a.taskId, attempt: a.attempt, outcome: 'failed', error });
    }
    pump();
    requestMore();
    maybeFinish();
  };

  /** Starts backlog tasks while there are free slots. */
  const pump = (): void => {
    while (backlog.length > 0 && running.size < capacity && connection !== 'stopped') {
      const a = backlog.shift()!;
      runTask(a).catch((error: unknown) => emit({ type: 'error', error }));
    }
  };

  // --- messages from the coordinator -------------------------------------------------------------

  const onWelcome = (
    s: Session,
    w: Extract<CoordinatorMessage['kind'], { case: 'welcome' }>['value'],
  ): void => {
    if (s.welcomed) return;
    s.welcomed = true;
    capacity = Math.max(1, Math.min(options.maxConcurrency, w.maxConcurrency || options.maxConcurrency));
    s.heartbeatMs = options.heartbeatIntervalMs ?? (w.heartbeatIntervalMs || 10_000);
    connection = 'running';
    const resumed = everWelcomed;
    everWelcomed = true;
    emit({
      type: 'connected',
      resumed,
      welcome: {
        workerId: w.workerId,
        serverTime: w.serverTime === undefined ? undefined : timestampDate(w.serverTime),
        leaseTtlMs: w.leaseTtlMs,
        heartbeatIntervalMs: w.heartbeatIntervalMs,
        maxConcurrency: w.maxConcurrency,
      },
    });
    stateChanged();
    flushReports();
    if (accepting()) requestMore();
    else pause();
    armHeartbeat();
    welcomed.resolve();
    maybeFinish();
  };

  const onProceed = (assignments: readonly Assignment[]): void => {
    clearTimeout(waitTimer);
    waitRound = 0;
    for (const a of assignments) {
      if (running.has(keyOf(a.taskId, a.attempt))) continue; // a repeat, e.g. after a reconnect
      if (backlog.some((b) => b.taskId === a.taskId && b.attempt === a.attempt)) continue;
      // Only a budget stop hands tasks back (failing them retryably, as the contract asks). A task
      // that crosses a Drain or a stop() is run: refusing it would burn one of its attempts.
      if (budgetStopped) refuse(a, 'worker budget-stopped');
      else backlog.push(a);
    }
    pump();
  };

  const onWait = (reason: string): void => {
    emit({ type: 'wait', reason });
    clearTimeout(waitTimer);
    if (waitRetryMs <= 0 || !accepting()) return;
    const ceiling = waitRetryMs * 2 ** Math.min(waitRound++, 3);
    waitTimer = setTimeout(requestMore, ceiling / 2 + (Math.random() * ceiling) / 2);
    waitTimer.unref();
  };

  const onCancel = (taskId: string, attempt: number, reason: string): void => {
    const matches = (t: string, n: number): boolean => t === taskId && (attempt === 0 || n === attempt);
    for (let i = backlog.length - 1; i >= 0; i--) {
      const b = backlog[i]!;
      if (matches(b.taskId, b.attempt)) backlog.splice(i, 1);
    }
    for (const r of running.values()) {
      if (matches(r.taskId, r.attempt)) abortTask(r, 'cancelled', reason || 'cancelled by the coordinator');
    }
    emit({ type: 'task-cancelled', taskId, attempt, reason });
    requestMore();
    maybeFinish();
  };

  const onBudgetStop = (b: Extract<CoordinatorMessage['kind'], { case: 'budgetStop' }>['value']): void => {
    // A coordinator may repeat BudgetStop (e.g. in answer to a Request); only the first one acts.
    if (budgetStopped) return;
    budgetStopped = true;
    clearTimeout(waitTimer); // the coordinator assigns nothing more: no Request needed
    for (const a of backlog.splice(0)) refuse(a, 'worker budget-stopped');
    for (const r of running.values()) abortTask(r, 'budget', b.reason || 'budget exceeded');
    emit({
      type: 'budget-stopped',
      scope:
        b.scope === BudgetScope.WORKER ? 'worker' : b.scope === BudgetScope.GLOBAL ? 'global' : 'unspecified',
      reason: b.reason,
      spentUsd: b.spentUsd,
      budgetUsd: b.budgetUsd,
    });
    stateChanged();
  };

  const onDrain = (reason: string): void => {
    if (draining) return;
    draining = true;
    clearTimeout(waitTimer); // the coordinator assigns nothing more: no Request needed
    emit({ type: 'drain', reason });
    stateChanged();
    maybeFinish();
  };

  const handle = (s: Session, message: CoordinatorMessage): void => {
    const kind = message.kind;
    if (!s.welcomed && kind.case !== 'welcome') return;
    switch (kind.case) {
      case 'welcome':
        onWelcome(s, kind.value);
        break;
      case 'proceed':
        onProceed(kind.value.assignments);
        break;
      case 'wait':
        onWait(kind.value.reason);
        break;
      case 'cancel':
        onCancel(kind.value.taskId, kind.value.attempt, kind.value.reason);
        break;
      case 'budgetStop':
        onBudgetStop(kind.value);
        break;
      case 'drain':
        onDrain(kind.value.reason);
        break;
      case 'ack':
        for (const receipt of kind.value.receipts) ledger.settle(receipt);
        maybeFinish();
        break;
      default:
        break;
    }
  };

  // --- the session loop --------------------------------------------------------------------------

  const runSession = async (): Promise<{ error: ConnectError | undefined; welcomed: boolean }> => {
    const controller = new AbortController();
    const call = openSession(controller.signal, (message) => handle(s, message));
    const s: Session = {
      generation: ++generation,
      queue: call.channel,
      controller,
      welcomed: false,
      closing: false,
      heartbeatMs: 0,
    };
    session = s;
    s.queue.push({
      kind: {
        case: 'hello',
        value: {
          workerId: options.id,
          capabilities: [...(options.capabilities ?? [])],
          labels: { ...options.labels },
          maxConcurrency: options.maxConcurrency,
        },
      },
    });
    let error: ConnectError | undefined;
    try {
      await call.done;
    } catch (e) {
      error = ConnectError.from(e);
    } finally {
      s.queue.close();
      session = undefined;
      stopHeartbeat();
      clearTimeout(waitTimer);
      clearTimeout(closeTimer);
    }
    return { error, welcomed: s.welcomed };
  };

  const runLoop = async (): Promise<void> => {
    let attempt = 0;
    for (;;) {
      if (forced || (finishing() && quiescent())) return finish();
      connection = everWelcomed ? 'reconnecting' : 'connecting';
      stateChanged();
      const { error, welcomed: wasWelcomed } = await runSession();
      if (wasWelcomed) attempt = 0;
      if (forced) return finish();
      if (wasWelcomed || error !== undefined) emit({ type: 'disconnected', error });
      if (finishing() && quiescent()) return finish();
      if (error !== undefined && isFatalSessionEnd(error)) return fail(error);
      if (error === undefined && draining) {
        // The coordinator ended the session after telling us to drain: it takes no more reports.
        return fail(undefined);
      }
      connection = 'reconnecting';
      stateChanged();
      const delayMs = backoffDelay(attempt++, reconnect);
      emit({ type: 'reconnecting', attempt, delayMs });
      await sleep(delayMs, wake.signal);
      wake = new AbortController();
    }
  };

  /** Ends the session once there is nothing left to do, if the worker is finishing. */
  function maybeFinish(): void {
    if (!finishing() || !quiescent() || connection === 'stopped') return;
    const s = session;
    if (s === undefined) {
      wake.abort(); // between attempts: let the loop see it is done
    } else if (!s.welcomed) {
      if (stopping) s.controller.abort(); // nothing said yet, nothing to wait for
    } else if (!s.closing) {
      // Close our half; the coordinator ends its half when it has read everything we wrote.
      s.closing = true;
      stopHeartbeat();
      clearTimeout(waitTimer);
      s.queue.close();
      closeTimer = setTimeout(() => s.controller.abort(), closeTimeoutMs);
      closeTimer.unref();
    }
  }

  const finish = (error?: ConnectError): void => {
    if (connection === 'stopped') return;
    connection = 'stopped';
    stopHeartbeat();
    clearTimeout(waitTimer);
    clearTimeout(closeTimer);
    stateChanged();
    welcomed.reject(error ?? new ConnectError('worker stopped before it was welcomed', Code.Canceled));
    const limiter = rateLimiter;
    void (limiter === undefined ? Promise.resolve() : limiter.close()).then(() => {
      if (error === undefined) done.resolve();
      else done.reject(error);
    });
  };

  /** The end without a chance to report: drop running handlers and outstanding reports. */
  const fail = (error: ConnectError | undefined): void => {
    const reason =
      error ?? new ConnectError('the coordinator ended the session while draining', Code.Unavailable);
    for (const r of running.values()) abortTask(r, 'stopped', reason.message);
    backlog.length = 0;
    ledger.close(reason);
    finish(error);
  };

  /** stop() without waiting: abort handlers, give up unacknowledged reports, end the session. */
  const forceStop = (): void => {
    if (forced || connection === 'stopped') return;
    forced = true;
    const reason = new ConnectError('worker stop forced', Code.Canceled);
    for (const r of running.values()) abortTask(r, 'stopped', reason.message);
    backlog.length = 0;
    ledger.close(reason);
    session?.controller.abort();
    wake.abort();
  };

  const reportCost = (cost: CostReport): Promise<ReportOutcome> => {
    if (!Number.isFinite(cost.totalUsd) || cost.totalUsd < 0) {
      return Promise.reject(
        new ConnectError(
          `totalUsd must be a non-negative number, got ${cost.totalUsd}`,
          Code.InvalidArgument,
        ),
      );
    }
    let inputTokens: bigint;
    let outputTokens: bigint;
    try {
      inputTokens = BigInt(cost.inputTokens);
      outputTokens = BigInt(cost.outputTokens);
    } catch (e) {
      return Promise.reject(
        new ConnectError('token counts must be integers', Code.InvalidArgument, undefined, undefined, e),
      );
    }
    const body: ReportBody = {
      case: 'cost',
      value: {
        seq: 0,
        totalUsd: cost.totalUsd,
        inputTokens,
        outputTokens,
        taskId: cost.taskId ?? '',
        reportId: `${instance}-${++costReports}`,
      },
    };
    return new Promise<ReportOutcome>((resolve, reject) => {
      ledger.add(body, (outcome) => {
        maybeFinish();
        if (outcome instanceof ConnectError) reject(outcome);
        else resolve(outcome);
      });
      scheduleFlush();
    });
  };

  return {
    start() {
      if (connection === 'stopped') {
        return Promise.reject(new ConnectError('worker already stopped', Code.FailedPrecondition));
      }
      loop ??= runLoop().catch((e: unknown) => {
        emit({ type: 'error', error: e });
        fail(ConnectError.from(e));
      });
      return welcomed.promise;
    },
    async stop(stopOptions = {}) {
      if (loop === undefined) {
        finish();
        return;
      }
      const { signal } = stopOptions;
      if (signal !== undefined && connection !== 'stopped') {
        // Any stop() call may force, including a second one made while a graceful stop waits.
        if (signal.aborted) forceStop();
        else {
          // Often one signal for a whole fleet's stop: one listener on it for all (abort-listeners.ts).
          const forget = onAbort(signal, forceStop);
          done.promise.then(forget, forget);
        }
      }
      if (!stopping) {
        stopping = true;
        stateChanged();
        pause();
        maybeFinish();
      }
      await done.promise.catch(() => {});
    },
    acquire(tokens, acquireOptions) {
      if (connection === 'stopped') {
        return Promise.reject(new ConnectError('worker stopped', Code.FailedPrecondition));
      }
      rateLimiter ??= createRateLimitClient({
        url: options.url,
        workerId: options.id,
        reconnect,
        ...(options.transport === undefined ? {} : { transport: options.transport }),
      });
      return rateLimiter.acquire(tokens, acquireOptions);
    },
    reportCost,
    get state() {
      return state();
    },
    get running() {
      return running.size;
    },
    done: done.promise,
  };
}

function keyOf(taskId: string, attempt: number): string {
  return `${attempt}:${taskId}`;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
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
