import { expect } from 'chai';
import fc from 'fast-check';
import { createManualClock, type ManualClock } from '../../src/core/clock.js';
import {
  COORDINATOR_STATES,
  type Coordinator,
  type CoordinatorDeps,
  type CoordinatorOptions,
  createCoordinator,
} from '../../src/core/coordinator.js';
import { createCostAggregator } from '../../src/core/cost-aggregator.js';
import { createEventBus, type EventBus } from '../../src/core/event-bus.js';
import { ANNOUNCED_EVENTS, type CoordEventKind, type CoordEvents } from '../../src/core/events.js';
import type { CoordinatorMessage, CoordinatorMessageType } from '../../src/core/messages.js';
import { createRateLimiter } from '../../src/core/rate-limiter.js';
import type { TaskSnapshot } from '../../src/core/task.js';
import { createTaskQueue } from '../../src/core/task-queue.js';
import { createWorkAssigner } from '../../src/core/work-assigner.js';
import { createWorkerPool, type MutableWorkerPool } from '../../src/core/worker-pool.js';
import { expectBatonError, expectRefused } from './expect-baton-error.js';

const TTL = 30_000;

interface Sent {
  readonly workerId: string;
  readonly message: CoordinatorMessage;
}

interface Setup {
  readonly clock: ManualClock;
  readonly events: EventBus<CoordEvents>;
  readonly pool: MutableWorkerPool;
  readonly coordinator: Coordinator;
  /** Every message the coordinator sent, in order. */
  readonly sent: Sent[];
  /** Every event the coordinator announced (not what workers said on the bus), in order. */
  readonly seen: { readonly kind: CoordEventKind; readonly payload: unknown }[];
  /** Messages of one type sent to one worker. */
  readonly to: <T extends CoordinatorMessageType>(
    workerId: string,
    type: T,
  ) => Extract<CoordinatorMessage, { type: T }>[];
  /** Ids of the tasks the worker was told to run (`coord:proceed`), in order. */
  readonly proceeds: (workerId: string) => string[];
  /** Payloads of one announced event kind. */
  readonly announced: <K extends CoordEventKind>(kind: K) => CoordEvents[K][];
}

const setup = (options: CoordinatorOptions = {}, deps: Omit<CoordinatorDeps, 'options'> = {}): Setup => {
  const clock = createManualClock(1_000);
  const events = deps.events ?? createEventBus<CoordEvents>();
  const sent: Sent[] = [];
  const pool =
    deps.pool ?? createWorkerPool({ send: (workerId, message) => sent.push({ workerId, message }) });
  const coordinator = createCoordinator({
    ...deps,
    events,
    pool,
    options: { now: clock.now, scheduler: clock, leaseTtlMs: TTL, ...options },
  });
  const seen: { kind: CoordEventKind; payload: unknown }[] = [];
  const announcedKinds = new Set<CoordEventKind>(ANNOUNCED_EVENTS);
  events.onAny((kind, payload) => {
    if (announcedKinds.has(kind)) seen.push({ kind, payload });
  });
  const to = <T extends CoordinatorMessageType>(workerId: string, type: T) =>
    sent
      .filter((s) => s.workerId === workerId && s.message.type === type)
      .map((s) => s.message as Extract<CoordinatorMessage, { type: T }>);
  return {
    clock,
    events,
    pool,
    coordinator,
    sent,
    seen,
    to,
    proceeds: (workerId) => to(workerId, 'coord:proceed').map((m) => m.task.id),
    announced: <K extends CoordEventKind>(kind: K) =>
      seen.filter((e) => e.kind === kind).map((e) => e.payload as CoordEvents[K]),
  };
};

const statusOf = (c: Coordinator, id: string): string | undefined => c.taskQueue.get(id)?.status;
const task = (c: Coordinator, id: string): TaskSnapshot => c.taskQueue.get(id) as TaskSnapshot;

/** Advances the clock in steps, heartbeating for the given workers at each step. */
const keepAlive = (s: Setup, ms: number, workers: readonly string[], step = TTL / 3): void => {
  for (let left = ms; left > 0; left -= step) {
    s.clock.advance(Math.min(step, left));
    for (const w of workers) s.coordinator.heartbeat(w);
  }
};

describe('Coordinator', () => {
  describe('createCoordinator', () => {
    it('exports the states init, running, draining, drained, stopped in lifecycle order', () => {
      expect(COORDINATOR_STATES).to.deep.equal(['init', 'running', 'draining', 'drained', 'stopped']);
    });

    it('starts in init with working default subsystems when given only a clock', () => {
      const coordinator = createCoordinator({ options: { now: () => 0 } });
      expect(coordinator.state).to.equal('init');
      expect(coordinator.workAssigner.strategy).to.equal('capability');
      expect(coordinator.leaseTtlMs).to.equal(30_000);
      expect(coordinator.heartbeatIntervalMs).to.equal(10_000);
      coordinator.start();
      coordinator.addTask({ id: 'a' });
      expect(coordinator.status().progress.pending).to.equal(1);
      coordinator.stop();
    });

    it('refuses options that cannot work with invalid-argument, naming the option', () => {
      const bad: [CoordinatorOptions, string][] = [
        [{ leaseTtlMs: 0 }, 'leaseTtlMs'],
        [{ leaseTtlMs: -5 }, 'leaseTtlMs'],
        [{ leaseTtlMs: Number.NaN }, 'leaseTtlMs'],
        [{ heartbeatIntervalMs: 0 }, 'heartbeatIntervalMs'],
        [{ leaseTtlMs: 1000, heartbeatIntervalMs: 1000 }, 'heartbeatIntervalMs'],
        [{ defaultMaxAttempts: 0 }, 'defaultMaxAttempts'],
        [{ defaultMaxAttempts: 1.5 }, 'defaultMaxAttempts'],
        [{ strategy: 'random' as never }, 'strategy'],
        [{ maxRequestsPerMinute: 0 }, 'maxRequestsPerMinute'],
        [{ globalBudgetUsd: -1 }, 'globalBudgetUsd'],
        [{ perWorkerBudgetUsd: Number.POSITIVE_INFINITY }, 'perWorkerBudgetUsd'],
        [{ initialState: 'paused' as never }, 'initialState'],
        [{ now: 5 as never }, 'now'],
        [{ now: undefined as never }, 'now'],
        [{ scheduler: {} as never }, 'scheduler'],
      ];
      for (const [options, field] of bad) {
        const error = expectBatonError(
          () => createCoordinator({ options: { now: () => 0, ...options } }),
          'invalid-argument',
        );
        expect(error.field, JSON.stringify(options)).to.equal(field);
      }
    });

    it('uses the task queue, assigner, rate limiter and cost aggregator it is given', () => {
      const clock = createManualClock(0);
      const events = createEventBus<CoordEvents>();
      const pool = createWorkerPool();
      const taskQueue = createTaskQueue({ now: clock.now });
      const workAssigner = createWorkAssigner({ pool, taskQueue, events, strategy: 'round-robin' });
      const rateLimiter = createRateLimiter({
        maxRequestsPerMinute: 1,
        maxTokensPerMinute: 10,
        now: clock.now,
      });
      const costAggregator = createCostAggregator({ events, globalBudgetUsd: 5 });
      const parts = { events, pool, taskQueue, workAssigner, rateLimiter, costAggregator };
      const coordinator = createCoordinator({ ...parts, options: { now: clock.now } });
      for (const [name, part] of Object.entries(parts)) {
        expect(coordinator[name as keyof typeof parts], name).to.equal(part);
      }
      expect(coordinator.status().strategy).to.equal('round-robin');
      coordinator.addTask({ id: 'a' });
      expect(taskQueue.has('a')).to.equal(true);
    });
  });

  describe('lifecycle', () => {
    it('goes init → running → draining → drained, announcing each step with the time', () => {
      const s = setup();
      const { coordinator } = s;
      expect(coordinator.state).to.equal('init');
      coordinator.start();
      expect(coordinator.state).to.equal('running');
      s.clock.advance(5);
      s.coordinator.workerJoined({ id: 'w1' });
      coordinator.addTask({ id: 'a' });
      coordinator.drain();
      expect(coordinator.state).to.equal('draining');
      s.clock.advance(3);
      coordinator.complete('w1', 'a', 1);
      expect(coordinator.state).to.equal('drained');
      expect(s.announced('coord:started')).to.deep.equal([{ at: 1_000 }]);
      expect(s.announced('coord:draining')).to.deep.equal([{ at: 1_005 }]);
      expect(s.announced('coord:drained')).to.deep.equal([{ at: 1_008 }]);
      expect(s.announced('coord:stopped')).to.deep.equal([]);
    });

    it('start is idempotent while running: one coord:started', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.start();
      expect(s.coordinator.state).to.equal('running');
      expect(s.announced('coord:started')).to.have.length(1);
    });

    it('an idle drain ends drained at once, and start resumes assigning', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.drain();
      expect(s.coordinator.state).to.equal('drained');
      s.coordinator.drain();
      expect(s.announced('coord:drained')).to.have.length(1);
      s.coordinator.workerJoined({ id: 'w1' });
      s.coordinator.addTask({ id: 'a' });
      s.coordinator.request('w1');
      expect(s.to('w1', 'coord:wait').map((m) => m.reason)).to.deep.equal(['coordinator is drained']);
      s.coordinator.start();
      expect(s.coordinator.state).to.equal('running');
      expect(s.proceeds('w1')).to.deep.equal(['a']);
      expect(s.announced('coord:started')).to.have.length(2);
    });

    it('draining before it has started ends drained too: nothing ran, nothing is lost', () => {
      const s = setup();
      s.coordinator.addTask({ id: 'a' });
      s.coordinator.drain();
      expect(s.coordinator.state).to.equal('drained');
      s.coordinator.start();
      expect(s.coordinator.state).to.equal('running');
    });

    it('start during a drain resumes assigning without waiting for it to finish', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1', maxConcurrency: 1 });
      s.coordinator.addTasks([{ id: 'a' }, { id: 'b' }]);
      s.coordinator.drain();
      s.coordinator.start();
      expect(s.coordinator.state).to.equal('running');
      s.coordinator.complete('w1', 'a', 1);
      expect(s.coordinator.state).to.equal('running');
      expect(s.announced('coord:drained')).to.deep.equal([]);
    });

    it('cannot be started once stopped (failed-precondition naming --reopen)', () => {
      const stopped = setup();
      stopped.coordinator.start();
      stopped.coordinator.stop();
      expectBatonError(() => stopped.coordinator.start(), 'failed-precondition', '--reopen');
      expect(stopped.coordinator.state).to.equal('stopped');
      expect(stopped.announced('coord:started')).to.have.length(1);
    });

    it('reopen brings a stopped coordinator back to init with its tasks, listening again', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.coordinator.addTasks([{ id: 'a' }, { id: 'b', deps: ['a'] }]);
      s.coordinator.stop();
      s.clock.advance(7);
      s.coordinator.reopen();
      expect(s.coordinator.state).to.equal('init');
      expect(s.announced('coord:reopened')).to.deep.equal([{ at: 1_007 }]);
      s.coordinator.start();
      s.events.emit('coord:complete', { workerId: 'w1', taskId: 'a', attempt: 1 });
      expect(statusOf(s.coordinator, 'a')).to.equal('complete');
      expect(s.proceeds('w1')).to.deep.equal(['a', 'b']);
    });

    it('reopen changes nothing unless stopped', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.reopen();
      expect(s.coordinator.state).to.equal('running');
      expect(s.announced('coord:reopened')).to.deep.equal([]);
    });

    it('a coordinator restored mid-drain with nothing held ends drained on creation', () => {
      const s = setup({ initialState: 'draining' });
      expect(s.coordinator.state).to.equal('drained');
    });

    it('stop is idempotent and final: later changes are refused as unavailable, reports still land', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.coordinator.stop();
      s.coordinator.stop();
      expect(s.announced('coord:stopped')).to.have.length(1);
      expectBatonError(() => s.coordinator.addTask({ id: 'a' }), 'unavailable');
      expectBatonError(() => s.coordinator.addTasks([{ id: 'a' }]), 'unavailable');
      expectBatonError(() => s.coordinator.workerJoined({ id: 'w2' }), 'unavailable');
      expectBatonError(() => s.coordinator.request('w1'), 'unavailable');
      // What workers report after a stop has happened all the same: spend and heartbeats count.
      s.coordinator.heartbeat('w1');
      s.coordinator.recordCost('w1', { totalUsd: 0.5 });
      expect(s.coordinator.costAggregator.status().spentUsd).to.equal(0.5);
      expect(s.coordinator.sweepLeases()).to.deep.equal([]);
    });

    it('draining makes no new assignments and tells online workers to drain', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.coordinator.workerJoined({ id: 'w2' });
      s.coordinator.addTask({ id: 'a' });
      s.coordinator.drain();
      expect(s.to('w1', 'coord:drain')).to.have.length(1);
      expect(s.to('w2', 'coord:drain')).to.have.length(1);
      s.coordinator.addTask({ id: 'b' });
      s.coordinator.request('w2');
      expect(statusOf(s.coordinator, 'b')).to.equal('pending');
      expect(s.to('w2', 'coord:wait').map((m) => m.reason)).to.deep.equal(['coordinator is draining']);
      expect(s.proceeds('w2')).to.deep.equal([]);
    });

    it('a draining coordinator becomes drained when its last running task completes', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.coordinator.workerJoined({ id: 'w2' });
      s.coordinator.addTasks([{ id: 'a' }, { id: 'b' }, { id: 'c', deps: ['a'] }]);
      s.coordinator.taskStarted('w1', 'a', 1);
      s.coordinator.drain();
      s.coordinator.complete('w1', 'a', 1);
      expect(s.coordinator.state).to.equal('draining');
      expect(statusOf(s.coordinator, 'c')).to.equal('pending');
      s.coordinator.complete('w2', 'b', 1);
      expect(s.coordinator.state).to.equal('drained');
    });

    it('draining with nothing assigned is drained at once', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.addTask({ id: 'a' });
      s.coordinator.drain();
      expect(s.coordinator.state).to.equal('drained');
      expect(s.seen.map((e) => e.kind).slice(-2)).to.deep.equal(['coord:draining', 'coord:drained']);
    });

    it('listens to the bus from creation until stop, then removes every listener', () => {
      const events = createEventBus<CoordEvents>();
      const before = events.listenerCount();
      const s = setup({}, { events });
      const inbound = [
        'coord:request',
        'coord:complete',
        'coord:failed',
        'coord:rate-request',
        'coord:cost',
      ] as const;
      for (const kind of inbound) expect(events.listenerCount(kind), kind).to.equal(1);
      // Before start a worker on the bus is answered: wait, the coordinator is not running yet.
      s.coordinator.workerJoined({ id: 'w1' });
      events.emit('coord:request', { workerId: 'w1' });
      expect(s.to('w1', 'coord:wait').map((m) => m.reason)).to.deep.equal(['coordinator is init']);
      s.coordinator.start();
      s.coordinator.stop();
      for (const kind of inbound) expect(events.listenerCount(kind), kind).to.equal(0);
      expect(events.listenerCount() - before).to.equal(1); // the test's own onAny recorder
      const sentBefore = s.sent.length;
      events.emit('coord:request', { workerId: 'w1' });
      expect(s.sent).to.have.length(sentBefore);
    });
  });

  describe('adding tasks', () => {
    it('addTask while running assigns the task to an idle worker at once', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      const added = s.coordinator.addTask({ id: 'a', metadata: { repo: 'x' } });
      expect(added.status).to.equal('pending');
      const [proceed] = s.to('w1', 'coord:proceed');
      expect(proceed?.task).to.include({ id: 'a', status: 'assigned', workerId: 'w1', attempt: 1 });
      expect(proceed?.task.metadata).to.deep.equal({ repo: 'x' });
      expect(proceed?.leaseExpiresAt).to.equal(1_000 + TTL);
      expect(s.announced('coord:task-added').map((e) => e.task.id)).to.deep.equal(['a']);
      expect(s.announced('coord:assigned').map((e) => [e.task.id, e.workerId])).to.deep.equal([['a', 'w1']]);
    });

    it('addTask before start only queues; start assigns what is ready', () => {
      const s = setup();
      s.coordinator.workerJoined({ id: 'w1' });
      s.coordinator.addTask({ id: 'a' });
      expect(statusOf(s.coordinator, 'a')).to.equal('pending');
      expect(s.proceeds('w1')).to.deep.equal([]);
      s.coordinator.start();
      expect(s.proceeds('w1')).to.deep.equal(['a']);
    });

    it('addTasks adds a batch whose deps point anywhere in it, and assigns only the ready ones', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1', maxConcurrency: 4 });
      const added = s.coordinator.addTasks([
        { id: 'c', deps: ['a', 'b'] },
        { id: 'a', priority: 1 },
        { id: 'b' },
      ]);
      expect(added.map((t) => t.id)).to.deep.equal(['c', 'a', 'b']);
      expect(s.proceeds('w1')).to.deep.equal(['a', 'b']);
      s.coordinator.complete('w1', 'a', 1);
      expect(s.proceeds('w1')).to.deep.equal(['a', 'b']);
      s.coordinator.complete('w1', 'b', 1);
      expect(s.proceeds('w1')).to.deep.equal(['a', 'b', 'c']);
    });

    it('addTasks is all or nothing: a bad batch adds and announces nothing', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.addTask({ id: 'a' });
      expectRefused(
        () => s.coordinator.taskQueue.toJSON(),
        () => s.coordinator.addTasks([{ id: 'b' }, { id: 'c', deps: ['nope'] }]),
        'invalid-argument',
        'nope',
      );
      expectBatonError(() => s.coordinator.addTasks([{ id: 'a' }]), 'already-exists', 'a');
      expect(s.announced('coord:task-added')).to.have.length(1);
    });

    it('keeps a worker at its requested demand, and a demand of 0 pauses it', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1', maxConcurrency: 4 });
      s.coordinator.request('w1', 0);
      s.coordinator.addTasks(['a', 'b', 'c'].map((id) => ({ id })));
      expect(s.proceeds('w1')).to.deep.equal([]);
      s.coordinator.request('w1', 1);
      expect(s.proceeds('w1')).to.deep.equal(['a']);
      s.coordinator.complete('w1', 'a', 1);
      expect(s.proceeds('w1'), 'the demand stands: refilled as tasks finish').to.deep.equal(['a', 'b']);
      s.coordinator.request('w1', 0);
      s.coordinator.complete('w1', 'b', 1);
      expect(s.proceeds('w1')).to.deep.equal(['a', 'b']);
      expect(s.coordinator.taskQueue.get('c')?.status).to.equal('pending');
    });

    it('never gives a worker more tasks than its max concurrency', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1', maxConcurrency: 2 });
      s.coordinator.addTasks(['a', 'b', 'c', 'd', 'e'].map((id) => ({ id })));
      expect(s.proceeds('w1')).to.deep.equal(['a', 'b']);
      s.coordinator.request('w1');
      expect(s.proceeds('w1')).to.have.length(2);
      expect(s.to('w1', 'coord:wait'), 'a full worker is not told to wait').to.have.length(0);
      s.coordinator.complete('w1', 'a', 1);
      expect(s.proceeds('w1')).to.deep.equal(['a', 'b', 'c']);
      expect(s.pool.get('w1')?.running).to.equal(2);
    });
  });

  describe('the bus protocol', () => {
    it('coord:request assigns a ready task to the requester with coord:proceed', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.addTask({ id: 'a' });
      s.coordinator.workerJoined({ id: 'w1' });
      s.events.emit('coord:request', { workerId: 'w1' });
      expect(s.proceeds('w1')).to.deep.equal(['a']);
      expect(s.to('w1', 'coord:wait')).to.deep.equal([]);
    });

    it('announces a joining worker with its capabilities, labels and max concurrency', () => {
      const s = setup();
      s.coordinator.workerJoined({
        id: 'w1',
        capabilities: ['llm'],
        labels: { zone: 'a' },
        maxConcurrency: 4,
      });
      expect(s.announced('coord:worker-joined')).to.deep.equal([
        { workerId: 'w1', capabilities: ['llm'], labels: { zone: 'a' }, maxConcurrency: 4 },
      ]);
    });

    it('coord:request with nothing to do answers coord:wait with the reason', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.events.emit('coord:request', { workerId: 'w1' });
      expect(s.to('w1', 'coord:wait')).to.deep.equal([
        { type: 'coord:wait', reason: 'no ready task for this worker' },
      ]);
    });

    it('a request from a worker that never joined is answered with coord:rejected', () => {
      const s = setup();
      s.coordinator.start();
      s.events.emit('coord:request', { workerId: 'ghost' });
      expect(s.to('ghost', 'coord:rejected')).to.have.length(1);
      expect(s.to('ghost', 'coord:rejected')[0]?.code).to.equal('failed-precondition');
    });

    it('coord:complete completes the task, announces it, and assigns the dependents it made ready', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.coordinator.addTasks([{ id: 'a' }, { id: 'b', deps: ['a'] }]);
      s.events.emit('coord:complete', { workerId: 'w1', taskId: 'a', attempt: 1, result: { ok: true } });
      expect(task(s.coordinator, 'a')).to.deep.include({ status: 'complete', result: { ok: true } });
      expect(s.announced('coord:task-complete').map((e) => e.task.id)).to.deep.equal(['a']);
      expect(s.proceeds('w1')).to.deep.equal(['a', 'b']);
    });

    it('coord:failed fails the task for good and cancels its dependents, announcing each', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.coordinator.addTasks([{ id: 'a' }, { id: 'b', deps: ['a'] }, { id: 'c', deps: ['b'] }, { id: 'd' }]);
      s.events.emit('coord:failed', { workerId: 'w1', taskId: 'a', attempt: 1, error: 'tests failed' });
      expect(task(s.coordinator, 'a')).to.deep.include({ status: 'failed', error: 'tests failed' });
      expect(statusOf(s.coordinator, 'b')).to.equal('cancelled');
      expect(statusOf(s.coordinator, 'c')).to.equal('cancelled');
      expect(s.announced('coord:task-failed').map((e) => e.task.id)).to.deep.equal(['a']);
      expect(s.announced('coord:task-cancelled').map((e) => [e.task.id, e.cause])).to.deep.equal([
        ['b', 'dependency a failed'],
        ['c', 'dependency a failed'],
      ]);
      expect(s.proceeds('w1')).to.deep.equal(['a', 'd']);
    });

    it('coord:failed marked retryable requeues the task while attempts remain', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.coordinator.addTask({ id: 'a', maxAttempts: 2 });
      s.events.emit('coord:failed', {
        workerId: 'w1',
        taskId: 'a',
        attempt: 1,
        error: 'flaky',
        retryable: true,
      });
      expect(task(s.coordinator, 'a')).to.deep.include({ status: 'assigned', attempt: 2 });
      expect(s.announced('coord:task-requeued')).to.have.length(1);
      s.events.emit('coord:failed', {
        workerId: 'w1',
        taskId: 'a',
        attempt: 2,
        error: 'flaky',
        retryable: true,
      });
      expect(statusOf(s.coordinator, 'a')).to.equal('failed');
    });

    it('coord:rate-request answers coord:rate-grant while the budget allows, then coord:rate-wait', () => {
      const s = setup({ maxRequestsPerMinute: 2, maxTokensPerMinute: 1000 });
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.events.emit('coord:rate-request', { workerId: 'w1', tokens: 100, requestId: 'r1' });
      s.events.emit('coord:rate-request', { workerId: 'w1', tokens: 100, requestId: 'r2' });
      s.events.emit('coord:rate-request', { workerId: 'w1', tokens: 100, requestId: 'r3' });
      const grants = s.to('w1', 'coord:rate-grant');
      expect(grants.map((g) => g.requestId)).to.deep.equal(['r1', 'r2']);
      expect(grants[1]?.remaining).to.deep.equal({ requests: 0, tokens: 800 });
      const [wait] = s.to('w1', 'coord:rate-wait');
      expect(wait).to.deep.include({ requestId: 'r3' });
      expect(wait?.waitMs).to.equal(30_000);
    });

    it("grants a queued acquire on the coordinator's limiter on its own, through the scheduler", async () => {
      const s = setup({ maxRequestsPerMinute: 60, maxTokensPerMinute: 6000 });
      s.coordinator.start();
      expect(s.coordinator.rateLimiter.tryAcquire('w1', 6000).granted).to.equal(true);
      const pending = s.coordinator.rateLimiter.acquire('w2', 600, 60_000);
      s.clock.advance(6000);
      expect((await pending).reservation).to.include({ workerId: 'w2', tokens: 600 });
    });

    it('coord:rate-request with a bad token count is answered with coord:rejected', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.events.emit('coord:rate-request', { workerId: 'w1', tokens: -1 });
      expect(s.to('w1', 'coord:rejected')[0]?.code).to.equal('invalid-argument');
    });

    it('coord:cost records the spend against the worker and the fleet', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.events.emit('coord:cost', { workerId: 'w1', totalUsd: 0.25, inputTokens: 1000, outputTokens: 50 });
      expect(s.coordinator.costAggregator.status()).to.deep.include({
        spentUsd: 0.25,
        inputTokens: 1000,
        outputTokens: 50,
      });
      expect(s.to('w1', 'coord:budget-stop')).to.deep.equal([]);
    });

    it('coord:all-settled fires once when every task is terminal, with counts, and again after new tasks end', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.coordinator.addTasks([{ id: 'a' }, { id: 'b', deps: ['a'] }, { id: 'c' }]);
      s.coordinator.fail('w1', 'a', 1, 'boom');
      expect(s.announced('coord:all-settled')).to.deep.equal([]);
      s.coordinator.complete('w1', 'c', 1);
      expect(s.announced('coord:all-settled')).to.deep.equal([
        { at: 1_000, complete: 1, failed: 1, cancelled: 1 },
      ]);
      s.coordinator.request('w1');
      expect(s.announced('coord:all-settled')).to.have.length(1);
      s.coordinator.addTask({ id: 'd' });
      s.coordinator.complete('w1', 'd', 1);
      expect(s.announced('coord:all-settled')).to.have.length(2);
    });

    it('coord:all-complete fires only when the settled graph has a completion and no failure', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1', maxConcurrency: 4 });
      s.coordinator.addTasks([{ id: 'a' }, { id: 'b', deps: ['a'] }]);
      s.coordinator.fail('w1', 'a', 1, 'boom');
      expect(s.announced('coord:all-settled')).to.have.length(1);
      expect(s.announced('coord:all-complete'), 'a failure is not a complete run').to.deep.equal([]);

      s.coordinator.addTask({ id: 'c' });
      s.coordinator.cancelTask('c');
      expect(s.announced('coord:all-settled')).to.have.length(2);
      expect(s.announced('coord:all-complete'), 'nothing new completed').to.deep.equal([]);

      s.coordinator.retryTask('a');
      s.coordinator.request('w1');
      s.coordinator.complete('w1', 'a', 2);
      s.coordinator.request('w1');
      s.coordinator.complete('w1', 'b', 1);
      expect(s.announced('coord:all-complete')).to.deep.equal([
        { at: 1_000, complete: 2, failed: 0, cancelled: 1 },
      ]);
    });

    it('an all-cancelled graph settles but is not complete', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.addTasks([{ id: 'a' }, { id: 'b' }]);
      s.coordinator.cancelTask('a');
      s.coordinator.cancelTask('b');
      expect(s.announced('coord:all-settled')).to.deep.equal([
        { at: 1_000, complete: 0, failed: 0, cancelled: 2 },
      ]);
      expect(s.announced('coord:all-complete')).to.deep.equal([]);
    });

    it('status reports the state, strategy, lease timing, workers and progress', () => {
      const s = setup({ strategy: 'work-stealing', heartbeatIntervalMs: 5_000 });
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1', capabilities: ['db'], maxConcurrency: 2 });
      s.coordinator.addTasks([{ id: 'a' }, { id: 'b', deps: ['a'] }]);
      const status = s.coordinator.status();
      expect(status).to.deep.include({
        state: 'running',
        strategy: 'work-stealing',
        leaseTtlMs: TTL,
        heartbeatIntervalMs: 5_000,
      });
      expect(status.workers.map((w) => [w.id, w.status, w.running, [...w.capabilities]])).to.deep.equal([
        ['w1', 'busy', 1, ['db']],
      ]);
      expect(status.progress).to.deep.include({ total: 2, pending: 1, assigned: 1, ready: 0, percent: 0 });
    });
  });

  describe('leases', () => {
    it('a lapsed lease requeues the task with the next attempt and gives it to another worker', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.coordinator.addTask({ id: 'a' });
      s.coordinator.taskStarted('w1', 'a', 1);
      s.coordinator.workerJoined({ id: 'w2' });
      keepAlive(s, TTL, ['w2']);
      expect(task(s.coordinator, 'a')).to.deep.include({ status: 'assigned', workerId: 'w2', attempt: 2 });
      expect(s.proceeds('w2')).to.deep.equal(['a']);
      expect(s.to('w2', 'coord:proceed')[0]?.task.attempt).to.equal(2);
      expect(
        s.announced('coord:task-requeued').map((e) => [e.task.id, e.task.attempt, e.reason]),
      ).to.deep.equal([['a', 1, 'lease of worker w1 expired']]);
      expect(s.announced('coord:worker-left')).to.deep.equal([{ workerId: 'w1', reason: 'lease expired' }]);
      expect(s.pool.get('w1')).to.equal(undefined);
    });

    it('heartbeats keep a lease alive for as long as they come', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.coordinator.workerJoined({ id: 'w2' });
      s.coordinator.addTask({ id: 'a' });
      s.events.emit('coord:heartbeat', { workerId: 'w1' });
      keepAlive(s, 10 * TTL, ['w1', 'w2']);
      expect(task(s.coordinator, 'a')).to.deep.include({ status: 'assigned', workerId: 'w1', attempt: 1 });
      expect(s.announced('coord:task-requeued')).to.deep.equal([]);
      expect(s.coordinator.heartbeat('w1')).to.equal(s.clock.now() + TTL);
      s.coordinator.complete('w1', 'a', 1);
      expect(statusOf(s.coordinator, 'a')).to.equal('complete');
    });

    it('after maxAttempts lapsed leases the task fails and its dependents are cancelled', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.addTasks([
        { id: 'a', maxAttempts: 2 },
        { id: 'b', deps: ['a'] },
      ]);
      s.coordinator.workerJoined({ id: 'w1' });
      s.coordinator.request('w1');
      s.coordinator.workerJoined({ id: 'w2' });
      keepAlive(s, TTL, ['w2']);
      expect(task(s.coordinator, 'a')).to.deep.include({ status: 'assigned', workerId: 'w2', attempt: 2 });
      s.clock.advance(TTL);
      expect(task(s.coordinator, 'a')).to.deep.include({ status: 'failed', attempt: 2 });
      expect(task(s.coordinator, 'b')).to.deep.include({ status: 'cancelled', cancelledBy: 'a' });
      expect(s.announced('coord:task-failed').map((e) => e.task.id)).to.deep.equal(['a']);
      expect(s.announced('coord:task-cancelled').map((e) => e.task.id)).to.deep.equal(['b']);
      expect(s.announced('coord:all-settled')).to.have.length(1);
      expect(s.announced('coord:all-complete')).to.have.length(0);
    });

    it('a worker rejoining after a disconnect keeps its tasks while its lease is valid', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1', maxConcurrency: 1 });
      s.coordinator.addTask({ id: 'a' });
      s.coordinator.workerLeft('w1');
      expect(s.pool.get('w1')?.status).to.equal('offline');
      s.coordinator.workerJoined({ id: 'w2' });
      s.coordinator.addTask({ id: 'b' });
      keepAlive(s, TTL / 2, ['w2']);
      expect(task(s.coordinator, 'a')).to.deep.include({ status: 'assigned', workerId: 'w1', attempt: 1 });
      const back = s.coordinator.workerJoined({ id: 'w1', maxConcurrency: 1 });
      expect(back).to.deep.include({ status: 'busy', running: 1 });
      s.coordinator.addTask({ id: 'c' });
      expect(s.proceeds('w1')).to.deep.equal(['a']);
      keepAlive(s, TTL, ['w1', 'w2']);
      s.coordinator.complete('w1', 'a', 1);
      expect(statusOf(s.coordinator, 'a')).to.equal('complete');
      expect(s.proceeds('w1')).to.deep.equal(['a', 'c']);
      expect(s.announced('coord:task-requeued')).to.deep.equal([]);
    });

    it('a worker that stays away past its lease loses its tasks to the others', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.coordinator.addTask({ id: 'a' });
      s.coordinator.workerLeft('w1');
      s.coordinator.workerJoined({ id: 'w2' });
      keepAlive(s, TTL, ['w2']);
      expect(task(s.coordinator, 'a')).to.deep.include({ workerId: 'w2', attempt: 2 });
      const back = s.coordinator.workerJoined({ id: 'w1' });
      expect(back).to.deep.include({ status: 'idle', running: 0 });
    });
  });

  describe('fencing', () => {
    /** w1 held `a` (attempt 1), its lease lapsed, and w2 holds attempt 2. */
    const reassigned = (): Setup => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.coordinator.addTask({ id: 'a' });
      s.coordinator.workerJoined({ id: 'w2' });
      keepAlive(s, TTL, ['w2']);
      expect(task(s.coordinator, 'a')).to.deep.include({ workerId: 'w2', attempt: 2 });
      return s;
    };

    it('a report for an old attempt is rejected with aborted and changes nothing', () => {
      const s = reassigned();
      const state = () => ({
        tasks: s.coordinator.taskQueue.toJSON(),
        leases: [...s.coordinator.leases.entries()],
        workers: s.pool.list().map((w) => ({ ...w, capabilities: [...w.capabilities] })),
        events: s.seen.length,
      });
      expectRefused(state, () => s.coordinator.complete('w1', 'a', 1), 'aborted', 'attempt 1');
      expectRefused(state, () => s.coordinator.fail('w1', 'a', 1, 'late'), 'aborted');
      expectRefused(state, () => s.coordinator.taskStarted('w1', 'a', 1), 'aborted');
      expectRefused(state, () => s.coordinator.complete('w2', 'a', 1), 'aborted');
    });

    it('a stale report over the bus is answered with coord:rejected (aborted) and changes nothing', () => {
      const s = reassigned();
      const before = s.coordinator.taskQueue.toJSON();
      const events = s.seen.length;
      s.events.emit('coord:complete', { workerId: 'w1', taskId: 'a', attempt: 1 });
      const rejected = s.to('w1', 'coord:rejected');
      expect(rejected).to.have.length(1);
      expect(rejected[0]).to.include({ code: 'aborted', taskId: 'a' });
      expect(rejected[0]?.message).to.include('attempt 1');
      expect(s.coordinator.taskQueue.toJSON()).to.deep.equal(before);
      expect(s.seen).to.have.length(events);
      s.coordinator.complete('w2', 'a', 2);
      expect(statusOf(s.coordinator, 'a')).to.equal('complete');
    });

    it('a repeated report of the same attempt is idempotent: duplicate, no second event', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.coordinator.addTasks([{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
      expect(s.coordinator.complete('w1', 'a', 1, 'ok')).to.equal('applied');
      const after = task(s.coordinator, 'a');
      expect(s.coordinator.complete('w1', 'a', 1, 'ok')).to.equal('duplicate');
      expect(task(s.coordinator, 'a')).to.deep.equal(after);
      s.events.emit('coord:complete', { workerId: 'w1', taskId: 'a', attempt: 1 });
      expect(s.announced('coord:task-complete')).to.have.length(1);
      expect(s.to('w1', 'coord:rejected')).to.deep.equal([]);

      expect(s.coordinator.fail('w1', 'b', 1, 'boom')).to.equal('applied');
      expect(s.coordinator.fail('w1', 'b', 1, 'boom')).to.equal('duplicate');
      expect(s.announced('coord:task-failed')).to.have.length(1);

      s.coordinator.taskStarted('w1', 'c', 1);
      s.coordinator.taskStarted('w1', 'c', 1);
      expect(s.announced('coord:task-started')).to.have.length(1);
    });

    it('event payloads are copies that later changes leave alone', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.coordinator.addTask({ id: 'a' });
      s.coordinator.taskStarted('w1', 'a', 1);
      s.coordinator.complete('w1', 'a', 1);
      const [started] = s.announced('coord:task-started') as { task: TaskSnapshot }[];
      expect(started?.task).to.include({ status: 'running' });
      expect(started?.task).to.not.equal(s.coordinator.taskQueue.peek('a'));
    });
  });

  describe('cancelling', () => {
    it('cancelTask of a running task sends coord:cancel to its worker and frees its slot', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.coordinator.addTasks([{ id: 'a', priority: 1 }, { id: 'b', deps: ['a'] }, { id: 'c' }]);
      s.coordinator.taskStarted('w1', 'a', 1);
      const cancelled = s.coordinator.cancelTask('a');
      expect(cancelled).to.deep.equal(['a', 'b']);
      expect(s.to('w1', 'coord:cancel')).to.deep.equal([
        { type: 'coord:cancel', taskId: 'a', attempt: 1, reason: 'cancelled by an operator' },
      ]);
      expect(s.announced('coord:task-cancelled').map((e) => [e.task.id, e.cause])).to.deep.equal([
        ['a', 'cancelled by an operator'],
        ['b', 'dependency a was cancelled'],
      ]);
      expect(s.proceeds('w1')).to.deep.equal(['a', 'c']);
      expectBatonError(() => s.coordinator.complete('w1', 'a', 1), 'aborted');
    });

    it('cancelTask of a pending task sends nothing to any worker', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.addTask({ id: 'a' });
      expect(s.coordinator.cancelTask('a')).to.deep.equal(['a']);
      expect(s.sent).to.deep.equal([]);
      expect(s.announced('coord:all-settled')).to.have.length(1);
    });

    it('retryTask brings a failed task and its cascade back, and assigns it', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.coordinator.addTasks([{ id: 'a' }, { id: 'b', deps: ['a'] }]);
      s.coordinator.fail('w1', 'a', 1, 'boom');
      expect(s.coordinator.retryTask('a')).to.deep.equal(['a', 'b']);
      expect(task(s.coordinator, 'a')).to.deep.include({ status: 'assigned', attempt: 2 });
      expect(s.announced('coord:task-retried').map((e) => e.task.id)).to.deep.equal(['a', 'b']);
    });
  });

  describe('deleting and purging settled tasks', () => {
    it('deleteTask removes a settled task and announces coord:task-deleted with its last state', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.coordinator.addTasks([{ id: 'a' }, { id: 'b' }]);
      s.coordinator.complete('w1', 'a', 1, { done: true });
      const deleted = s.coordinator.deleteTask('a');
      expect(deleted).to.include({ id: 'a', status: 'complete' });
      expect(s.announced('coord:task-deleted').map((e) => e.task)).to.deep.equal([deleted]);
      expect(s.coordinator.taskQueue.has('a')).to.equal(false);
      // A repeated report of the deleted task finds nothing and changes nothing.
      expectBatonError(() => s.coordinator.complete('w1', 'a', 1), 'not-found', 'a');
      expect(s.coordinator.status().progress).to.include({ total: 1, complete: 0 });
    });

    it('deleteTask of a running task is refused: its worker keeps it and is told nothing', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.coordinator.addTask({ id: 'a' });
      s.coordinator.taskStarted('w1', 'a', 1);
      const sentBefore = s.sent.length;
      expectRefused(
        () => s.coordinator.taskQueue.toJSON(),
        () => s.coordinator.deleteTask('a'),
        'failed-precondition',
        'a',
        'running',
      );
      expect(s.sent.length).to.equal(sentBefore);
      expect(s.announced('coord:task-deleted')).to.deep.equal([]);
      expect(s.coordinator.complete('w1', 'a', 1)).to.equal('applied');
    });

    it('purgeTasks announces one coord:tasks-purged, and none when it deleted nothing', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1', maxConcurrency: 2 });
      s.coordinator.addTasks([{ id: 'a' }, { id: 'b', deps: ['a'] }, { id: 'c' }]);
      s.coordinator.complete('w1', 'a', 1);
      s.clock.advance(10);
      expect(s.coordinator.purgeTasks({ finishedBefore: 1_005 })).to.deep.equal({ purged: 0, kept: 1 });
      expect(s.announced('coord:tasks-purged')).to.deep.equal([]);
      s.coordinator.complete('w1', 'c', 1);
      s.coordinator.complete('w1', 'b', 1);
      expect(s.coordinator.purgeTasks({ finishedBefore: 1_011 })).to.deep.equal({ purged: 3, kept: 0 });
      expect(s.announced('coord:tasks-purged')).to.deep.equal([
        { at: 1_010, finishedBefore: 1_011, purged: 3, kept: 0 },
      ]);
      expect(s.announced('coord:task-deleted'), 'no event per purged task').to.deep.equal([]);
    });

    it('after a purge, the next run settles with its own counts: an old failure no longer spoils all-complete', () => {
      const s = setup();
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.coordinator.addTask({ id: 'old' });
      s.coordinator.fail('w1', 'old', 1, 'boom');
      s.clock.advance(1);
      s.coordinator.purgeTasks({ finishedBefore: s.clock.now() });
      s.coordinator.addTask({ id: 'new' });
      s.coordinator.complete('w1', 'new', 1);
      const counts = { at: 1_001, complete: 1, failed: 0, cancelled: 0 };
      expect(s.announced('coord:all-settled').at(-1)).to.deep.equal(counts);
      expect(s.announced('coord:all-complete')).to.deep.equal([counts]);
    });

    it('both are refused once the coordinator is stopped', () => {
      const s = setup();
      s.coordinator.addTask({ id: 'a' });
      s.coordinator.cancelTask('a');
      s.coordinator.stop();
      expectBatonError(() => s.coordinator.deleteTask('a'), 'unavailable');
      expectBatonError(() => s.coordinator.purgeTasks({ finishedBefore: 1e15 }), 'unavailable');
      expect(s.coordinator.taskQueue.has('a')).to.equal(true);
    });
  });

  describe('budgets', () => {
    it('a worker over its own budget gets coord:budget-stop and no more tasks; the others go on', () => {
      const s = setup({ perWorkerBudgetUsd: 1 });
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.coordinator.workerJoined({ id: 'w2' });
      s.coordinator.addTasks([{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'd' }]);
      s.events.emit('coord:cost', { workerId: 'w1', totalUsd: 0.6 });
      expect(s.to('w1', 'coord:budget-stop')).to.deep.equal([]);
      s.events.emit('coord:cost', { workerId: 'w1', totalUsd: 0.5 });
      expect(s.to('w1', 'coord:budget-stop')).to.deep.equal([
        { type: 'coord:budget-stop', scope: 'worker', spentUsd: 1.1, budgetUsd: 1 },
      ]);
      expect(s.to('w2', 'coord:budget-stop')).to.deep.equal([]);
      expect(s.pool.get('w1')?.status).to.equal('stopped');
      // w1 may still finish what it holds, but gets nothing new.
      s.coordinator.complete('w1', 'a', 1);
      s.coordinator.request('w1');
      expect(s.proceeds('w1')).to.deep.equal(['a']);
      s.coordinator.complete('w2', 'b', 1);
      s.coordinator.complete('w2', 'c', 1);
      expect(s.proceeds('w2')).to.deep.equal(['b', 'c', 'd']);
      expect(s.announced('coord:budget-exceeded')).to.deep.equal([
        { scope: 'worker', workerId: 'w1', spentUsd: 1.1, budgetUsd: 1 },
      ]);
    });

    it('the global budget exceeded stops every worker and all assignment', () => {
      const s = setup({ globalBudgetUsd: 2 });
      s.coordinator.start();
      s.coordinator.workerJoined({ id: 'w1' });
      s.coordinator.workerJoined({ id: 'w2' });
      s.coordinator.workerJoined({ id: 'w3' });
      s.coordinator.workerLeft('w3');
      s.coordinator.addTasks([{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
      s.coordinator.recordCost('w1', { totalUsd: 1.5 });
      const check = s.coordinator.recordCost('w2', { totalUsd: 0.5 });
      expect(check.allowed).to.equal(false);
      for (const w of ['w1', 'w2']) {
        expect(s.to(w, 'coord:budget-stop'), w).to.deep.equal([
          { type: 'coord:budget-stop', scope: 'global', spentUsd: 2, budgetUsd: 2 },
        ]);
      }
      expect(s.to('w3', 'coord:budget-stop')).to.deep.equal([]);
      s.coordinator.complete('w1', 'a', 1);
      expect(statusOf(s.coordinator, 'c')).to.equal('pending');
      s.coordinator.workerJoined({ id: 'w4' });
      expect(s.to('w4', 'coord:budget-stop')).to.have.length(1);
      expect(s.proceeds('w4')).to.deep.equal([]);
    });
  });

  describe('invariants', () => {
    type Step =
      | { readonly kind: 'complete' | 'fail' | 'retryable'; readonly pick: number }
      | { readonly kind: 'stale'; readonly pick: number }
      | { readonly kind: 'silence' | 'leave' | 'rejoin'; readonly worker: number }
      | { readonly kind: 'add'; readonly deps: readonly number[] };

    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.record({ kind: fc.constantFrom('complete', 'fail', 'retryable', 'stale'), pick: fc.nat() }),
      fc.record({ kind: fc.constantFrom('silence', 'leave', 'rejoin'), worker: fc.nat({ max: 2 }) }),
      fc.record({ kind: fc.constant('add'), deps: fc.array(fc.nat(), { maxLength: 3 }) }),
    ) as fc.Arbitrary<Step>;

    it('whatever workers do, slots match the tasks held, attempts only grow, and the run ends terminal', () => {
      fc.assert(
        fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
          const s = setup({ defaultMaxAttempts: 2 });
          const { coordinator } = s;
          const workers = ['w0', 'w1', 'w2'];
          const silent = new Set<string>();
          coordinator.start();
          for (const [i, id] of workers.entries()) coordinator.workerJoined({ id, maxConcurrency: i + 1 });
          let n = 0;
          const lastAttempt = new Map<string, number>();
          const check = (): void => {
            for (const w of s.pool.list()) {
              expect(w.running, w.id).to.equal(coordinator.taskQueue.countByWorker(w.id));
              expect(w.running, w.id).to.be.at.most(w.maxConcurrency);
            }
            for (const t of coordinator.taskQueue.getAll()) {
              expect(t.attempt).to.be.at.least(lastAttempt.get(t.id) ?? 0);
              lastAttempt.set(t.id, t.attempt);
            }
          };
          const held = (): TaskSnapshot[] =>
            workers.filter((w) => !silent.has(w)).flatMap((w) => coordinator.taskQueue.getByWorker(w));
          for (const st of steps) {
            const live = held();
            const target = live.length === 0 ? undefined : live['pick' in st ? st.pick % live.length : 0];
            switch (st.kind) {
              case 'add': {
                const deps = n === 0 ? [] : [...new Set(st.deps.map((d) => `t${d % n}`))];
                coordinator.addTask({ id: `t${n++}`, deps });
                break;
              }
              case 'complete':
                if (target) coordinator.complete(target.workerId as string, target.id, target.attempt);
                break;
              case 'fail':
              case 'retryable':
                if (target) {
                  coordinator.fail(
                    target.workerId as string,
                    target.id,
                    target.attempt,
                    'x',
                    st.kind === 'retryable',
                  );
                }
                break;
              case 'stale':
                if (target && target.attempt > 1) {
                  const before = coordinator.taskQueue.toJSON();
                  expectBatonError(
                    () => coordinator.complete(target.workerId as string, target.id, target.attempt - 1),
                    'aborted',
                  );
                  expect(coordinator.taskQueue.toJSON()).to.deep.equal(before);
                }
                break;
              case 'silence':
                silent.add(workers[st.worker] as string);
                break;
              case 'leave':
                coordinator.workerLeft(workers[st.worker] as string);
                break;
              case 'rejoin': {
                const id = workers[st.worker] as string;
                silent.delete(id);
                if (s.pool.get(id)?.status === 'offline' || s.pool.get(id) === undefined) {
                  coordinator.workerJoined({ id, maxConcurrency: st.worker + 1 });
                }
                break;
              }
            }
            s.clock.advance(TTL / 4);
            for (const w of workers) {
              const status = s.pool.get(w)?.status;
              if (!silent.has(w) && status !== undefined && status !== 'offline') coordinator.heartbeat(w);
            }
            check();
          }
          // Everyone comes back, asks for work, and works until nothing is left.
          for (const [i, id] of workers.entries()) {
            if (s.pool.get(id)?.status === 'offline' || s.pool.get(id) === undefined) {
              coordinator.workerJoined({ id, maxConcurrency: i + 1 });
            }
            coordinator.request(id);
          }
          for (let guard = 0; guard < 1000; guard++) {
            const [next] = workers.flatMap((w) => coordinator.taskQueue.getByWorker(w));
            if (next === undefined) break;
            coordinator.complete(next.workerId as string, next.id, next.attempt);
            check();
          }
          if (n > 0) {
            expect(coordinator.taskQueue.allTerminal()).to.equal(true);
            expect(s.announced('coord:all-settled').length).to.be.at.least(1);
          }
        }),
        { numRuns: 150 },
      );
    });
  });
});
