// The worker SDK's entry point and session life: connect, welcome, reconnect with backoff, drain, stop.
// Task running is in task-runner.ts, reports and their ledger in worker-reports.ts.
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { onAbort } from './abort-listeners.js';
import { backoffDelay, defaultReconnect, sleep } from './backoff.js';
import { isFatalSessionEnd } from './errors.js';
import { BudgetScope, type CoordinatorMessage } from './proto.js';
import { createRateLimitClient, type RateLimitClient } from './rate-limit-client.js';
import { createReplicaUrls } from './replica-urls.js';
import { connectSessions, grpcSessions, type OpenSession, type SessionChannel } from './session-channel.js';
import { createTaskRunner } from './task-runner.js';
import type { Worker, WorkerEvent, WorkerOptions, WorkerRunState, WorkerWorkspace } from './worker-api.js';
import { createWorkerReports, type WorkerMessageInit } from './worker-reports.js';
import { enqueueMerge, readHead } from './workspace-client.js';

export * from './worker-api.js';

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
  // Without a transport, sessions go to the replica `replicas` chooses (the one URL, or the leader).
  const replicas = createReplicaUrls(options.urls ?? [options.url]);
  const sessionsAt = new Map<string, OpenSession>();
  const openSession: OpenSession =
    options.transport === undefined
      ? (signal, onMessage) => {
          const url = replicas.current();
          let open = sessionsAt.get(url);
          if (open === undefined) {
            open = grpcSessions(url, options);
            sessionsAt.set(url, open);
          }
          return open(signal, onMessage);
        }
      : connectSessions(options.transport);
  const reconnect = { ...defaultReconnect, ...options.reconnect };
  const waitRetryMs = options.waitRetryMs ?? 1_000;
  const closeTimeoutMs = options.closeTimeoutMs ?? 5_000;

  let session: Session | undefined;
  let generation = 0;
  let connection: 'idle' | 'connecting' | 'running' | 'reconnecting' | 'stopped' = 'idle';
  let draining = false;
  let budgetStopped = false;
  let stopping = false;
  let forced = false;
  let everWelcomed = false;
  let workspace: WorkerWorkspace | undefined;
  let loop: Promise<void> | undefined;
  let wake = new AbortController();
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let lastWriteAt = 0;
  let waitTimer: NodeJS.Timeout | undefined;
  let waitRound = 0;
  let closeTimer: NodeJS.Timeout | undefined;
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
  const quiescent = (): boolean => runner.idle && reports.outstanding === 0;
  const finishing = (): boolean => stopping || draining;
  const open = (): Session | undefined => {
    const s = session;
    return s === undefined || !s.welcomed || s.closing ? undefined : s;
  };

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
    const s = open();
    if (s === undefined || s.heartbeatMs <= 0) return;
    const quietMs = performance.now() - lastWriteAt;
    if (quietMs < s.heartbeatMs) {
      heartbeatTimer = setTimeout(onHeartbeatTimer, s.heartbeatMs - quietMs);
      heartbeatTimer.unref();
      return;
    }
    reports.flush(); // reports refused with UNAVAILABLE are written again at this pace
    write({ kind: { case: 'heartbeat', value: {} } });
  };

  const armHeartbeat = (): void => {
    const s = open();
    if (s === undefined || s.heartbeatMs <= 0) {
      stopHeartbeat();
      return;
    }
    lastWriteAt = performance.now();
    if (heartbeatTimer !== undefined) return;
    heartbeatTimer = setTimeout(onHeartbeatTimer, s.heartbeatMs);
    heartbeatTimer.unref();
  };

  /** Writes to the welcomed session, if there is one; anything else waits for the next Welcome. */
  const write = (message: WorkerMessageInit): void => {
    const s = open();
    if (s === undefined) return;
    s.queue.push(message);
    armHeartbeat();
  };

  const requestMore = (): void => {
    if (!accepting()) return;
    const count = runner.freeSlots;
    if (count > 0) write({ kind: { case: 'request', value: { count } } });
  };

  const pause = (): void => {
    clearTimeout(waitTimer);
    write({ kind: { case: 'request', value: { count: 0 } } });
  };

  const reports = createWorkerReports({
    openSession: () => open()?.generation,
    write,
    emit,
    stale: (taskId, attempt) => runner.stale(taskId, attempt),
    settled: () => maybeFinish(),
  });

  const runner = createTaskRunner(
    {
      handler: options.handler,
      emit,
      report: reports.task,
      reportCost: reports.cost,
      heartbeat: () => write({ kind: { case: 'heartbeat', value: {} } }),
      settled: () => {
        requestMore();
        maybeFinish();
      },
      silenced: () => forced || connection === 'stopped',
      workspace: () => workspace,
      headOf: readHead,
    },
    options.maxConcurrency,
  );

  // --- messages from the coordinator -------------------------------------------------------------

  const onWelcome = (
    s: Session,
    w: Extract<CoordinatorMessage['kind'], { case: 'welcome' }>['value'],
  ): void => {
    if (s.welcomed) return;
    s.welcomed = true;
    runner.capacity = Math.max(
      1,
      Math.min(options.maxConcurrency, w.maxConcurrency || options.maxConcurrency),
    );
    s.heartbeatMs = options.heartbeatIntervalMs ?? (w.heartbeatIntervalMs || 10_000);
    connection = 'running';
    const resumed = everWelcomed;
    everWelcomed = true;
    if (w.worktreePath !== '') workspace = { path: w.worktreePath, branch: w.branch, target: w.targetBranch };
    emit({
      type: 'connected',
      resumed,
      welcome: {
        workerId: w.workerId,
        serverTime: w.serverTime === undefined ? undefined : timestampDate(w.serverTime),
        leaseTtlMs: w.leaseTtlMs,
        heartbeatIntervalMs: w.heartbeatIntervalMs,
        maxConcurrency: w.maxConcurrency,
        workspace,
      },
    });
    stateChanged();
    reports.flush();
    if (accepting()) requestMore();
    else pause();
    armHeartbeat();
    welcomed.resolve();
    maybeFinish();
  };

  const onWait = (reason: string): void => {
    emit({ type: 'wait', reason });
    clearTimeout(waitTimer);
    if (waitRetryMs <= 0 || !accepting()) return;
    const ceiling = waitRetryMs * 2 ** Math.min(waitRound++, 3);
    waitTimer = setTimeout(requestMore, ceiling / 2 + (Math.random() * ceiling) / 2);
    waitTimer.unref();
  };

  const onBudgetStop = (b: Extract<CoordinatorMessage['kind'], { case: 'budgetStop' }>['value']): void => {
    // A coordinator may repeat BudgetStop (e.g. in answer to a Request); only the first one acts.
    if (budgetStopped) return;
    budgetStopped = true;
    clearTimeout(waitTimer); // the coordinator assigns nothing more: no Request needed
    runner.abortAll('budget', b.reason || 'budget exceeded', 'worker budget-stopped');
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
        clearTimeout(waitTimer);
        waitRound = 0;
        // Only a budget stop hands tasks back (failing them retryably, as the contract asks). A task
        // that crosses a Drain or a stop() is run: refusing it would burn one of its attempts.
        runner.accept(kind.value.assignments, budgetStopped ? 'worker budget-stopped' : undefined);
        break;
      case 'wait':
        onWait(kind.value.reason);
        break;
      case 'cancel': {
        const { taskId, attempt, reason } = kind.value;
        runner.cancel(taskId, attempt, reason);
        emit({ type: 'task-cancelled', taskId, attempt, reason });
        requestMore();
        maybeFinish();
        break;
      }
      case 'budgetStop':
        onBudgetStop(kind.value);
        break;
      case 'drain':
        onDrain(kind.value.reason);
        break;
      case 'conflict':
        emit({ type: 'conflict', ...kind.value });
        break;
      case 'merge':
        emit({ type: 'merge', ...kind.value });
        break;
      case 'ack':
        for (const receipt of kind.value.receipts) reports.settle(receipt);
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
          workspace: options.workspace === true,
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
      replicas.ended(error);
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
    runner.abortAll('stopped', reason.message);
    reports.close(reason);
    finish(error);
  };

  /** stop() without waiting: abort handlers, give up unacknowledged reports, end the session. */
  const forceStop = (): void => {
    if (forced || connection === 'stopped') return;
    forced = true;
    const reason = new ConnectError('worker stop forced', Code.Canceled);
    runner.abortAll('stopped', reason.message);
    reports.close(reason);
    session?.controller.abort();
    wake.abort();
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
        ...(options.urls === undefined ? {} : { urls: options.urls }),
        workerId: options.id,
        reconnect,
        token: options.token,
        ca: options.ca,
        ...(options.transport === undefined ? {} : { transport: options.transport }),
      });
      return rateLimiter.acquire(tokens, acquireOptions);
    },
    reportCost: reports.cost,
    enqueueMerge(head) {
      if (workspace === undefined) {
        return Promise.reject(
          new ConnectError(
            'enqueueMerge needs a workspace: create the worker with workspace: true',
            Code.FailedPrecondition,
          ),
        );
      }
      return enqueueMerge(
        {
          urls: options.urls ?? [options.url],
          transport: options.transport,
          token: options.token,
          ca: options.ca,
        },
        options.id,
        workspace,
        head,
      );
    },
    get workspace() {
      return workspace;
    },
    get state() {
      return state();
    },
    get running() {
      return runner.running;
    },
    done: done.promise,
  };
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
