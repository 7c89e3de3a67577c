import type { MessageInitShape } from '@bufbuild/protobuf';
import type { ValueSchema } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createClient, type Interceptor, type Transport } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { expect } from 'chai';
import { prng } from '../../bench/prng.js';
import {
  type AdminClient,
  createAdminClient,
  createWorker,
  LifecycleState,
  type Reservation,
  resultOf,
  type Settlement,
  type TaskContext,
  TaskStatus,
  type Worker,
  type WorkerEvent,
  type WorkerOptions,
  WorkerState,
  type WorkerTask,
} from '../../src/client/index.js';
import {
  type CoordinatorMessage,
  ErrorCode,
  type RateRequest,
  WorkerService,
} from '../../src/client/proto.js';
import { type BatonServer, type ServerOptions, startServer } from '../../src/server/server.js';
import { createAsyncQueue } from '../../src/wire/async-queue.js';
import { rejection } from '../support/rejection.js';
import type { CoordinatorCase, CoordinatorValue, WorkerMessageInit } from '../support/session-messages.js';
import { type Gate, gate } from '../support/waiting.js';

// ---- helpers ------------------------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls a condition of the test's own observations (never of the system's timing). */
async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** Rejects if `promise` does not settle within `ms`. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A worker session spoken by hand over gRPC, for what the SDK never does: crash mid-task, go
 * silent without closing, or send a report for an attempt it no longer holds.
 */
interface RawSession {
  say(message: WorkerMessageInit): void;
  /** The next message of this kind (others are kept for later takes). */
  take<K extends CoordinatorCase>(kind: K, timeoutMs?: number): Promise<CoordinatorValue<K>>;
  /** Cuts the call, as a crashed process would. */
  abort(): void;
  /** Settles with the error that ended the stream (undefined: it ended cleanly). */
  readonly ended: Promise<ConnectError | undefined>;
}

function openRawSession(url: string): RawSession {
  const client = createClient(WorkerService, createGrpcTransport({ baseUrl: url }));
  const outbox = createAsyncQueue<WorkerMessageInit>();
  const controller = new AbortController();
  const inbox: CoordinatorMessage[] = [];
  const listeners = new Set<() => void>();
  let over = false;
  const notify = () => {
    for (const listener of listeners) listener();
  };
  const ended = (async (): Promise<ConnectError | undefined> => {
    try {
      for await (const message of client.session(outbox, { signal: controller.signal })) {
        inbox.push(message);
        notify();
      }
      return undefined;
    } catch (e) {
      return ConnectError.from(e);
    } finally {
      over = true;
      outbox.close();
      notify();
    }
  })();
  return {
    say: (message) => outbox.push(message),
    take<K extends CoordinatorCase>(kind: K, timeoutMs = 3_000): Promise<CoordinatorValue<K>> {
      return new Promise<unknown>((resolve, reject) => {
        const check = () => {
          const i = inbox.findIndex((m) => m.kind.case === kind);
          if (i >= 0) {
            const [message] = inbox.splice(i, 1);
            done();
            resolve(message!.kind.value);
          } else if (over) {
            done();
            reject(new Error(`the session ended before a ${kind} arrived`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${kind} within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      }) as Promise<CoordinatorValue<K>>;
    },
    abort: () => controller.abort(),
    ended,
  };
}

const hello = (workerId: string, maxConcurrency = 1): WorkerMessageInit => ({
  kind: { case: 'hello', value: { workerId, maxConcurrency } },
});

/** A transport that counts the `acquire` messages written on rate-limit streams. */
function countingTransport(url: string, counter: { acquires: number }): Transport {
  const countAcquires: Interceptor = (next) => async (req) => {
    if (!req.stream || req.method.name !== 'Acquire') return next(req);
    const source = req.message as AsyncIterable<RateRequest>;
    async function* counted() {
      for await (const m of source) {
        if (m.kind.case === 'acquire') counter.acquires++;
        yield m;
      }
    }
    return next({ ...req, message: counted() });
  };
  return createGrpcTransport({ baseUrl: url, interceptors: [countAcquires] });
}

// ---- the suite ----------------------------------------------------------------------------------

/**
 * The whole suite runs once per path a worker's Session can take on the server: the hand-written
 * fast path (transport/session-fast-path.ts) and connect-node's own stream handler, so that
 * neither can drift from the other.
 */
for (const [path, sessionFastPath] of [
  ['session fast path', true],
  ['connect-node session', false],
] as const) {
  describe(`Baton end to end (${path})`, () => {
    const servers: BatonServer[] = [];
    const workers: Worker[] = [];
    const raws: RawSession[] = [];
    /** Unexpected errors the servers logged: each test ends by checking there were none. */
    let serverErrors: unknown[] = [];

    afterEach(async () => {
      for (const raw of raws.splice(0)) raw.abort();
      await Promise.all(workers.splice(0).map((w) => w.stop({ signal: AbortSignal.abort() })));
      await Promise.all(servers.splice(0).map((s) => s.close()));
      serverErrors = [];
    });

    async function serve(options: ServerOptions = {}): Promise<{ server: BatonServer; admin: AdminClient }> {
      const server = await startServer({
        port: 0,
        store: 'memory',
        log: (message, error) => serverErrors.push({ message, error }),
        sessionFastPath,
        ...options,
      });
      servers.push(server);
      return { server, admin: createAdminClient({ url: server.url }) };
    }

    function worker(options: WorkerOptions): Worker {
      const w = createWorker({ reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, ...options });
      workers.push(w);
      return w;
    }

    function raw(url: string): RawSession {
      const session = openRawSession(url);
      raws.push(session);
      return session;
    }

    /** A raw session that has said hello as `id` and taken its welcome. */
    async function rawWelcomed(url: string, id: string, maxConcurrency = 1) {
      const session = raw(url);
      session.say(hello(id, maxConcurrency));
      return { session, welcome: await session.take('welcome') };
    }

    /**
     * A raw session `id` given `taskId` (attempt 1) that has reported it started and had that
     * acknowledged; `startedAt` is when it last spoke.
     */
    async function rawHolding(server: BatonServer, admin: AdminClient, id: string, taskId: string) {
      const { session, welcome } = await rawWelcomed(server.url, id);
      await admin.addTask({ id: taskId });
      const [assignment] = (await session.take('proceed')).assignments;
      expect(assignment?.taskId).to.equal(taskId);
      expect(assignment?.attempt).to.equal(1);
      const startedAt = Date.now();
      session.say({ kind: { case: 'started', value: { seq: 1, taskId, attempt: 1 } } });
      expect((await session.take('ack')).receipts.map((r) => r.ok)).to.deep.equal([true]);
      return { session, welcome, startedAt };
    }

    const expectNoServerErrors = () => expect(serverErrors).to.deep.equal([]);

    // ---- 1 ----------------------------------------------------------------------------------------

    it('runs a 1,000-task random DAG on 16 mixed workers: each task once, after its deps, on a capable worker', async function () {
      this.timeout(30_000);
      const { server, admin } = await serve();
      const random = prng(20_240_601);
      const categories = ['plan', 'code', 'test', 'docs'] as const;
      // Nobody lists `docs`, so its tasks may go anywhere; the others must go to a worker listing them.
      const capabilitySets: string[][] = [
        ['plan'],
        ['code'],
        ['test'],
        ['plan', 'code'],
        ['code', 'test'],
        ['plan', 'code', 'test'],
        [],
        [],
      ];

      const specs = Array.from({ length: 1_000 }, (_, i) => {
        const deps = new Set<string>();
        const wanted = Math.floor(random() * 4);
        // Deps among the 100 tasks before: long chains as well as wide fan-in.
        for (let k = 0; k < wanted && i > 0; k++) {
          deps.add(`t${String(Math.max(0, i - 1 - Math.floor(random() * 100))).padStart(4, '0')}`);
        }
        return {
          id: `t${String(i).padStart(4, '0')}`,
          deps: [...deps],
          priority: Math.floor(random() * 21) - 10,
          category: categories[Math.floor(random() * categories.length)]!,
        };
      });
      const depsOf = new Map(specs.map((s) => [s.id, s.deps]));

      let clock = 0;
      const runsByAttempt = new Map<string, number>();
      const attemptsByTask = new Map<string, Set<number>>();
      const startedAt = new Map<string, number>();
      const finishedAt = new Map<string, number>();
      const ranOn = new Map<string, string>();
      const orderViolations: string[] = [];
      const sdkCompletions = new Map<string, number>();
      const coordCompletions = new Map<string, number>();
      const capabilitiesOf = new Map<string, readonly string[]>();

      server.coordinator.events.on('coord:task-complete', ({ task }) => {
        coordCompletions.set(task.id, (coordCompletions.get(task.id) ?? 0) + 1);
      });
      const allComplete = new Promise<void>((resolve) => {
        server.coordinator.events.on('coord:all-complete', () => resolve());
      });

      const handlerFor =
        (workerId: string) =>
        async (task: WorkerTask): Promise<unknown> => {
          const key = `${task.id}#${task.attempt}`;
          runsByAttempt.set(key, (runsByAttempt.get(key) ?? 0) + 1);
          const attempts = attemptsByTask.get(task.id) ?? new Set<number>();
          attempts.add(task.attempt);
          attemptsByTask.set(task.id, attempts);
          const now = ++clock;
          startedAt.set(task.id, now);
          ranOn.set(task.id, workerId);
          for (const dep of depsOf.get(task.id) ?? []) {
            const done = finishedAt.get(dep);
            if (done === undefined || done > now)
              orderViolations.push(`${task.id} started before ${dep} finished`);
          }
          // Handlers of varying length, so completions interleave across workers.
          if (random() < 0.3) await sleep(Math.floor(random() * 3));
          else await Promise.resolve();
          finishedAt.set(task.id, ++clock);
          return { by: workerId };
        };

      const fleet = Array.from({ length: 16 }, (_, i) => {
        const id = `w${String(i).padStart(2, '0')}`;
        const capabilities = capabilitySets[i % capabilitySets.length]!;
        capabilitiesOf.set(id, capabilities);
        return worker({
          url: server.url,
          id,
          capabilities,
          maxConcurrency: 1 + (i % 4),
          handler: handlerFor(id),
          onEvent: (e: WorkerEvent) => {
            if (e.type === 'task-finished' && e.outcome === 'complete')
              sdkCompletions.set(e.taskId, (sdkCompletions.get(e.taskId) ?? 0) + 1);
          },
        });
      });
      // Every worker is connected before the first task exists, so "a capable worker exists" holds
      // for every assignment.
      await Promise.all(fleet.map((w) => w.start()));

      await admin.addTasks(specs);
      await within(25_000, 'all 1,000 tasks to complete', allComplete);

      const progress = await admin.progress();
      expect(progress.total).to.equal(1_000);
      expect(progress.complete).to.equal(1_000);
      expect(progress.percentComplete).to.equal(100);

      expect(orderViolations).to.deep.equal([]);
      for (const spec of specs) {
        const attempts = [...(attemptsByTask.get(spec.id) ?? [])];
        // Nothing failed and no lease lapsed: a second attempt would mean a double assignment.
        expect(attempts, `attempts of ${spec.id}`).to.deep.equal([1]);
        expect(runsByAttempt.get(`${spec.id}#1`), `handler runs of ${spec.id}`).to.equal(1);
        expect(sdkCompletions.get(spec.id), `completions reported for ${spec.id}`).to.equal(1);
        expect(coordCompletions.get(spec.id), `completions applied for ${spec.id}`).to.equal(1);
      }

      const listers = new Set([...capabilitiesOf.values()].flat());
      let checked = 0;
      for await (const task of admin.listAllTasks({ limit: 1_000 })) {
        checked++;
        expect(task.status, task.id).to.equal(TaskStatus.COMPLETE);
        expect(task.attempt, task.id).to.equal(1);
        expect(task.workerId, task.id).to.equal(ranOn.get(task.id));
        if (listers.has(task.category)) {
          expect(
            capabilitiesOf.get(task.workerId),
            `${task.id} (${task.category}) on ${task.workerId}`,
          ).to.include(task.category);
        }
      }
      expect(checked).to.equal(1_000);

      await Promise.all(fleet.map((w) => w.stop()));
      for (const w of fleet) expect(w.state).to.equal('stopped');
      expectNoServerErrors();
    });

    // ---- 2 ----------------------------------------------------------------------------------------

    it('cancelling a running task aborts its handler and cancels its dependents; retry runs them all', async () => {
      const { admin, server } = await serve();
      const rootStarted = gate();
      let rootSignal: AbortSignal | undefined;
      const runs: string[] = [];
      const finished: string[] = [];
      const events: WorkerEvent[] = [];
      const w = worker({
        url: server.url,
        id: 'canceller',
        capabilities: [],
        maxConcurrency: 2,
        onEvent: (e) => events.push(e),
        handler: async (task: WorkerTask, ctx: TaskContext) => {
          runs.push(`${task.id}#${task.attempt}`);
          if (task.id === 'root' && task.attempt === 1) {
            rootSignal = ctx.signal;
            rootStarted.open();
            await new Promise((_resolve, reject) => {
              ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
            });
          }
          finished.push(task.id);
          return { ok: task.id };
        },
      });
      await w.start();
      await admin.addTasks([{ id: 'root' }, { id: 'mid', deps: ['root'] }, { id: 'leaf', deps: ['mid'] }]);
      await within(3_000, 'root to start', rootStarted.promise);
      await waitFor(
        'root to be running',
        async () => (await admin.getTask('root')).status === TaskStatus.RUNNING,
      );

      const aborted = new Promise<void>((resolve) => {
        rootSignal?.addEventListener('abort', () => resolve(), { once: true });
      });
      const cancelled = await admin.cancelTask('root', 'operator pulled the plug');
      expect(cancelled.task.status).to.equal(TaskStatus.CANCELLED);
      expect(cancelled.cascadedIds).to.have.members(['mid', 'leaf']);

      await within(2_000, "the root handler's signal to abort", aborted);
      const reason = ConnectError.from(rootSignal?.reason);
      expect(rootSignal?.reason).to.be.instanceOf(ConnectError);
      expect(reason.code).to.equal(Code.Canceled);
      expect(reason.rawMessage).to.equal('operator pulled the plug');
      for (const id of ['mid', 'leaf'])
        expect((await admin.getTask(id)).status).to.equal(TaskStatus.CANCELLED);
      // The aborted attempt is dropped, not reported as a failure.
      await waitFor('the root attempt to be dropped', () =>
        events.some((e) => e.type === 'task-finished' && e.taskId === 'root' && e.outcome === 'dropped'),
      );
      expect((await admin.getTask('root')).status).to.equal(TaskStatus.CANCELLED);

      const retried = await admin.retryTask('root');
      expect(retried.cascadedIds).to.have.members(['mid', 'leaf']);
      await waitFor('all three to complete', async () => (await admin.progress()).complete === 3);
      const root = await admin.getTask('root');
      expect(root.attempt).to.equal(2);
      expect(runs).to.deep.equal(['root#1', 'root#2', 'mid#1', 'leaf#1']);
      expect(finished).to.deep.equal(['root', 'mid', 'leaf']);
      expectNoServerErrors();
    });

    // ---- 3 ----------------------------------------------------------------------------------------

    it('drain lets running tasks finish and be reported, assigns nothing new, ends drained; a stopped coordinator refuses mutations', async () => {
      const { admin, server } = await serve();
      const gates = new Map<string, Gate>();
      const started: string[] = [];
      const drains: string[] = [];
      let assignedAfterDrain = 0;
      let draining = false;
      server.coordinator.events.on('coord:assigned', () => {
        if (draining) assignedAfterDrain++;
      });
      const make = (id: string) =>
        worker({
          url: server.url,
          id,
          capabilities: [],
          maxConcurrency: 2,
          onEvent: (e) => {
            if (e.type === 'drain') drains.push(id);
          },
          handler: async (task: WorkerTask) => {
            started.push(task.id);
            const g = gate();
            gates.set(task.id, g);
            await g.promise;
            return { done: task.id };
          },
        });
      const fleet = [make('drainer-a'), make('drainer-b')];
      await Promise.all(fleet.map((w) => w.start()));
      const busy = ['busy-1', 'busy-2', 'busy-3', 'busy-4'];
      const later = ['later-1', 'later-2', 'later-3'];
      await admin.addTasks([
        ...busy.map((id) => ({ id, priority: 10 })),
        ...later.map((id) => ({ id, priority: 0 })),
      ]);
      await waitFor('four tasks running', async () => (await admin.progress()).running === 4);
      expect([...started].sort()).to.deep.equal(busy);

      draining = true;
      expect(await admin.drain('end of shift')).to.equal(LifecycleState.DRAINING);
      await waitFor('both workers to hear the drain', () => drains.length === 2);

      for (const id of busy.slice(0, 3)) gates.get(id)?.open();
      await waitFor('three busy tasks to complete', async () => (await admin.progress()).complete === 3);
      expect((await admin.status()).state).to.equal(LifecycleState.DRAINING);

      gates.get('busy-4')?.open();
      await waitFor(
        'the drain to finish',
        async () => (await admin.status()).state === LifecycleState.DRAINED,
      );
      for (const id of busy) {
        const task = await admin.getTask(id);
        expect(task.status, id).to.equal(TaskStatus.COMPLETE);
      }
      for (const id of later) expect((await admin.getTask(id)).status, id).to.equal(TaskStatus.PENDING);
      expect(started).to.have.length(4);
      expect(assignedAfterDrain).to.equal(0);
      // Drained workers close their sessions and finish on their own.
      await within(3_000, 'the workers to finish', Promise.all(fleet.map((w) => w.done)));
      for (const w of fleet) expect(w.state).to.equal('stopped');

      expect(await admin.stop()).to.equal(LifecycleState.STOPPED);
      const refusals = await Promise.all([
        rejection(admin.addTask({ id: 'too-late' })),
        rejection(admin.addTasks([{ id: 'too-late-1' }, { id: 'too-late-2' }])),
        rejection(admin.cancelTask('later-1')),
        rejection(admin.retryTask('later-1')),
      ]);
      for (const e of refusals) expect(e.code, e.message).to.equal(Code.Unavailable);

      const rest = await fetch(`${server.url}/api/coordination/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'rest-too-late' }),
      });
      expect(rest.status).to.equal(503);
      await rest.text();
      const restCancel = await fetch(`${server.url}/api/coordination/tasks/later-2/cancel`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(restCancel.status).to.equal(503);
      await restCancel.text();
      expect((await admin.progress()).total).to.equal(7);
      expectNoServerErrors();
    });

    // ---- 4 ----------------------------------------------------------------------------------------

    it('a crashed worker loses its task when its lease lapses; another worker re-runs it and the late report is fenced off', async () => {
      const { admin, server } = await serve({ leaseTtlMs: 300 });
      const {
        session: crashed,
        welcome,
        startedAt: lastSaidAt,
      } = await rawHolding(server, admin, 'crashy', 'fenced');
      expect(welcome.leaseTtlMs).to.equal(300);
      crashed.abort();
      expect((await crashed.ended)?.code).to.equal(Code.Canceled);

      const rerun = gate();
      const release = gate();
      const reruns: { attempt: number; at: number }[] = [];
      const steady = worker({
        url: server.url,
        id: 'steady',
        capabilities: [],
        maxConcurrency: 1,
        handler: async (task: WorkerTask) => {
          reruns.push({ attempt: task.attempt, at: Date.now() });
          rerun.open();
          await release.promise;
          return { by: 'steady' };
        },
      });
      await steady.start();
      await within(2_000, 'the task to be re-run', rerun.promise);
      expect(reruns).to.have.length(1);
      expect(reruns[0]?.attempt).to.equal(2);
      // Not before the lease lapsed (the clock ticks in whole milliseconds on both sides).
      expect(reruns[0]!.at - lastSaidAt).to.be.at.least(299);
      await waitFor(
        'attempt 2 to be running',
        async () => (await admin.getTask('fenced')).status === TaskStatus.RUNNING,
      );

      // The crashed worker comes back and reports the attempt it lost.
      const { session: back } = await rawWelcomed(server.url, 'crashy');
      back.say({
        kind: {
          case: 'complete',
          value: {
            seq: 1,
            taskId: 'fenced',
            attempt: 1,
            result: { kind: { case: 'stringValue', value: 'from the crashed worker' } },
          },
        },
      });
      const { receipts } = await back.take('ack');
      expect(receipts).to.have.length(1);
      expect(receipts[0]?.ok).to.equal(false);
      expect(receipts[0]?.error?.code).to.equal(ErrorCode.ABORTED);

      const during = await admin.getTask('fenced');
      expect(during.status).to.equal(TaskStatus.RUNNING);
      expect(during.attempt).to.equal(2);
      expect(during.workerId).to.equal('steady');
      expect(during.result).to.equal(undefined);

      release.open();
      await waitFor(
        'attempt 2 to complete',
        async () => (await admin.getTask('fenced')).status === TaskStatus.COMPLETE,
      );
      const after = await admin.getTask('fenced');
      expect(after.attempt).to.equal(2);
      expect(after.workerId).to.equal('steady');
      expect(resultOf(after)).to.deep.equal({ by: 'steady' });
      expect(reruns).to.have.length(1);

      // Said again once the task is complete, the stale report is still refused and changes nothing.
      back.say({ kind: { case: 'complete', value: { seq: 2, taskId: 'fenced', attempt: 1 } } });
      const again = (await back.take('ack')).receipts;
      expect(again.map((r) => [r.seq, r.ok, r.error?.code])).to.deep.equal([[2, false, ErrorCode.ABORTED]]);
      const final = await admin.getTask('fenced');
      expect([final.status, final.attempt, final.workerId]).to.deep.equal([TaskStatus.COMPLETE, 2, 'steady']);
      expect(resultOf(final)).to.deep.equal({ by: 'steady' });
      expectNoServerErrors();
    });

    // ---- 5 ----------------------------------------------------------------------------------------

    it('a result Value with no kind set reads as null at any depth; a non-finite number is refused naming the field', async () => {
      const { admin, server } = await serve();
      const { session: w } = await rawWelcomed(server.url, 'valuer', 2);
      await admin.addTasks([{ id: 'empty' }, { id: 'nested' }]);
      const held: string[] = [];
      while (held.length < 2) held.push(...(await w.take('proceed')).assignments.map((a) => a.taskId));
      expect(held.sort()).to.deep.equal(['empty', 'nested']);
      const complete = (seq: number, taskId: string, result: MessageInitShape<typeof ValueSchema>) =>
        w.say({ kind: { case: 'complete', value: { seq, taskId, attempt: 1, result } } });

      complete(1, 'empty', {});
      expect((await w.take('ack')).receipts.map((r) => [r.seq, r.ok])).to.deep.equal([[1, true]]);
      const empty = await admin.getTask('empty');
      expect([empty.status, resultOf(empty)]).to.deep.equal([TaskStatus.COMPLETE, undefined]);

      complete(2, 'nested', {
        kind: {
          case: 'structValue',
          value: { fields: { n: { kind: { case: 'numberValue', value: Number.NaN } } } },
        },
      });
      const [refused] = (await w.take('ack')).receipts;
      expect([refused?.ok, refused?.error?.code]).to.deep.equal([false, ErrorCode.INVALID_ARGUMENT]);
      expect(refused?.error?.message).to.include('result.n');
      expect((await admin.getTask('nested')).status).to.equal(TaskStatus.ASSIGNED);

      complete(3, 'nested', { kind: { case: 'structValue', value: { fields: { unset: {} } } } });
      expect((await w.take('ack')).receipts.map((r) => r.ok)).to.deep.equal([true]);
      expect(resultOf(await admin.getTask('nested'))).to.deep.equal({ unset: null });
      expectNoServerErrors();
    });

    it('a worker that goes silent without closing loses its task within lease + one heartbeat, and its stream is ended UNAVAILABLE', async () => {
      const { admin, server } = await serve({ leaseTtlMs: 300 });
      let requeuedAt: number | undefined;
      server.coordinator.events.on('coord:task-requeued', ({ task }) => {
        if (task.id === 'abandoned') requeuedAt = Date.now();
      });
      const {
        session: silent,
        welcome,
        startedAt: lastSaidAt,
      } = await rawHolding(server, admin, 'silent', 'abandoned');
      const limitMs = welcome.leaseTtlMs + welcome.heartbeatIntervalMs;
      expect(welcome.heartbeatIntervalMs).to.be.greaterThan(0).and.lessThan(300);
      // From here on the worker says nothing, and keeps its stream open.

      const error = await within(2_000, 'the server to end the silent stream', silent.ended);
      expect(error?.code).to.equal(Code.Unavailable);
      expect(error?.rawMessage).to.match(/lease/);
      expect(requeuedAt, 'the task was requeued').to.not.equal(undefined);
      expect(requeuedAt! - lastSaidAt)
        .to.be.at.least(299)
        .and.at.most(limitMs);
      const task = await admin.getTask('abandoned');
      expect(task.status).to.equal(TaskStatus.PENDING);
      expectNoServerErrors();
    });

    // ---- 6 ----------------------------------------------------------------------------------------

    describe('rate limiting across workers', () => {
      /** A worker whose acquires `counter` counts on the wire, running `run` for each task. */
      function countedWorker(
        server: BatonServer,
        counter: { acquires: number },
        id: string,
        maxConcurrency: number,
        run: (task: WorkerTask, self: Worker) => Promise<void>,
      ): Worker {
        const self: Worker = worker({
          url: server.url,
          id,
          transport: countingTransport(server.url, counter),
          capabilities: [],
          maxConcurrency,
          handler: (task: WorkerTask) => run(task, self),
        });
        return self;
      }

      it('grants never exceed capacity + rate × elapsed, and a queued acquire is granted by a push', async function () {
        this.timeout(15_000);
        const t0 = Date.now();
        const { admin, server } = await serve({ maxRequestsPerMinute: 120 });
        const counter = { acquires: 0 };
        const perTask = 31; // 4 × 31 = 124: four more than the bucket holds, i.e. 2 s of refill.
        const grants: number[] = [];
        let calls = 0;
        let queued = 0;
        const make = (id: string): Worker =>
          countedWorker(server, counter, id, 2, async (_task, self) => {
            for (let i = 0; i < perTask; i++) {
              calls++;
              const r = await self.acquire(1, { onWait: () => queued++ });
              grants.push(Date.now());
              await r.settle(1);
            }
          });
        const fleet = [make('rl-a'), make('rl-b')];
        await Promise.all(fleet.map((w) => w.start()));
        await admin.addTasks([{ id: 'r1' }, { id: 'r2' }, { id: 'r3' }, { id: 'r4' }]);
        await waitFor(
          'all acquires to be granted',
          async () => (await admin.progress()).complete === 4,
          10_000,
        );

        expect(grants).to.have.length(124);
        const refillPerMs = 120 / 60_000;
        grants.sort((a, b) => a - b);
        grants.forEach((at, i) => {
          expect(i + 1, `grant ${i + 1} at +${at - t0} ms`).to.be.at.most(120 + refillPerMs * (at - t0));
        });
        expect(queued).to.be.at.least(3);
        // Each acquire went on the wire once: the queued ones were answered by a push, not re-asked.
        expect(counter.acquires).to.equal(calls);
        const status = await admin.rateLimit();
        const usage = status.workers.filter((u) => u.workerId.startsWith('rl-'));
        expect(usage.map((u) => u.workerId).sort()).to.deep.equal(['rl-a', 'rl-b']);
        expect(usage.reduce((n, u) => n + Number(u.requests), 0)).to.equal(124);
        expectNoServerErrors();
      });

      it('a settle that refunds tokens grants the acquire queued behind it at once', async () => {
        const { admin, server } = await serve({ maxRequestsPerMinute: 120, maxTokensPerMinute: 6_000 });
        const counter = { acquires: 0 };
        const aGranted = gate();
        const bQueued = gate();
        let waitMs = 0;
        let settlement: Settlement | undefined;
        let settledAt = 0;
        let bGrantedAt = 0;
        const ranOn = new Map<string, string>();
        const make = (id: string): Worker =>
          countedWorker(server, counter, id, 1, async (task, self) => {
            ranOn.set(task.id, id);
            let r: Reservation;
            if (task.id === 'first') {
              r = await self.acquire(5_000);
              aGranted.open();
              await bQueued.promise;
              settlement = await r.settle(1_000);
              settledAt = Date.now();
            } else {
              await aGranted.promise;
              r = await self.acquire(5_000, {
                onWait: (wait) => {
                  waitMs = wait.waitMs;
                  bQueued.open();
                },
              });
              bGrantedAt = Date.now();
              await r.settle(5_000);
            }
          });
        const fleet = [make('rl-a'), make('rl-b')];
        await Promise.all(fleet.map((w) => w.start()));
        await admin.addTasks([{ id: 'first' }, { id: 'second' }]);
        await waitFor('both tasks to complete', async () => (await admin.progress()).complete === 2);

        expect(new Set(ranOn.values()).size, 'the two acquires came from two workers').to.equal(2);
        // 1,000 tokens left and 100 a second of refill: without the refund the wait is ~40 s.
        expect(waitMs).to.be.greaterThan(30_000);
        expect(settlement).to.deep.equal({ refundedTokens: 4_000, chargedTokens: 0 });
        expect(bGrantedAt - settledAt).to.be.lessThan(1_000);
        expect(counter.acquires).to.equal(2);
        expectNoServerErrors();
      });
    });

    // ---- 7 ----------------------------------------------------------------------------------------

    it('a worker over its budget is stopped after the report that crosses it, gets no more tasks, and another carries on', async () => {
      const { admin, server } = await serve({ perWorkerBudgetUsd: 0.05 });
      const ranOn = new Map<string, string>();
      let reportsMade = 0;
      let reportsAtStop: number | undefined;
      let stopScope: string | undefined;
      const spender = worker({
        url: server.url,
        id: 'spender',
        capabilities: [],
        maxConcurrency: 1,
        onEvent: (e) => {
          if (e.type === 'budget-stopped') {
            reportsAtStop = reportsMade;
            stopScope = e.scope;
          }
        },
        handler: async (task: WorkerTask, ctx: TaskContext) => {
          ranOn.set(task.id, 'spender');
          reportsMade++;
          await ctx.reportCost({ totalUsd: 0.02, inputTokens: 1_000, outputTokens: 200 });
          return { by: 'spender' };
        },
      });
      await spender.start();
      const ids = ['b1', 'b2', 'b3', 'b4', 'b5', 'b6'];
      await admin.addTasks(ids.map((id) => ({ id })));

      await waitFor('the budget stop', () => reportsAtStop !== undefined);
      expect(reportsAtStop).to.equal(3);
      expect(stopScope).to.equal('worker');
      expect(spender.state).to.equal('budget-stopped');
      await waitFor('the third task to complete', async () => (await admin.progress()).complete === 3);
      // The completion that freed its slot assigned nothing to it.
      const stalled = await admin.progress();
      expect(stalled.pending).to.equal(3);
      expect(stalled.assigned + stalled.running).to.equal(0);
      const spenderStatus = (await admin.status()).workers.find((w) => w.workerId === 'spender');
      expect(spenderStatus?.state).to.equal(WorkerState.STOPPED);

      const backup = worker({
        url: server.url,
        id: 'backup',
        capabilities: [],
        maxConcurrency: 1,
        handler: async (task: WorkerTask, ctx: TaskContext) => {
          ranOn.set(task.id, 'backup');
          await ctx.reportCost({ totalUsd: 0.01, inputTokens: 500, outputTokens: 100 });
          return { by: 'backup' };
        },
      });
      await backup.start();
      await waitFor('every task to complete', async () => (await admin.progress()).complete === 6);
      expect([...ranOn].filter(([, w]) => w === 'spender')).to.have.length(3);
      expect([...ranOn].filter(([, w]) => w === 'backup')).to.have.length(3);
      expect(spender.state).to.equal('budget-stopped');

      const response = await fetch(`${server.url}/api/coordination/costs`);
      expect(response.status).to.equal(200);
      // biome-ignore lint/suspicious/noExplicitAny: the JSON answer is checked field by field.
      const costs: any = await response.json();
      const spendOf = (id: string) =>
        // biome-ignore lint/suspicious/noExplicitAny: as above.
        costs.workers.find((w: any) => w.workerId === id)?.spend;
      expect(spendOf('spender')).to.include({ warning: true, exceeded: true, budgetUsd: 0.05 });
      expect(spendOf('spender').spentUsd).to.be.closeTo(0.06, 1e-9);
      expect(spendOf('backup')).to.include({ warning: false, exceeded: false });
      expect(spendOf('backup').spentUsd).to.be.closeTo(0.03, 1e-9);
      expectNoServerErrors();
    });
  });
}
