import { join } from 'node:path';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import {
  type AdminClient,
  createAdminClient,
  createRateLimitClient,
  ErrorCode,
  LifecycleState,
  type RateLimitClient,
  TaskStatus,
} from '../../src/client/index.js';
import { type CoordinatorMessage, RateLimitService } from '../../src/server/codec/proto.js';
import { type BatonServer, type ServerOptions, startServer } from '../../src/server/server.js';
import { openSqliteStore } from '../../src/server/store/sqlite-store.js';
import { openRawSession, type RawSession, sleep, tempDir } from './harness.js';

const TTL = 10_000;
const welcome = (m: CoordinatorMessage) => (m.kind.case === 'welcome' ? m : undefined);
const proceed = (m: CoordinatorMessage) => (m.kind.case === 'proceed' ? m.kind.value.assignments : undefined);

/**
 * What a restart restores, one piece at a time. Each test stops an in-process server (graceful
 * close, or just dropping it after its last commit) and opens a new one on the same SQLite file.
 * The clock is the test's, so "the server was down for longer than a lease" takes no time.
 */
describe('durability: what a restart restores', function () {
  this.timeout(20_000);
  let dir: ReturnType<typeof tempDir>;
  let server: BatonServer | undefined;
  let admin: AdminClient;
  let clock: number;
  const closers: (() => unknown)[] = [];

  beforeEach(() => {
    dir = tempDir('baton-restore-');
    clock = Date.now();
  });

  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    await server?.close();
    server = undefined;
    dir.remove();
  });

  async function restart(options: ServerOptions = {}): Promise<BatonServer> {
    const port = server?.port ?? 0; // the same URL, so clients reconnect by themselves
    await server?.close();
    server = await startServer({
      port,
      store: 'sqlite',
      dbPath: join(dir.path, 'baton.db'),
      leaseTtlMs: TTL,
      now: () => clock,
      log: () => {},
      ...options,
    });
    admin = createAdminClient({ url: server.url, defaultTimeoutMs: 5000 });
    return server;
  }

  async function session(workerId: string): Promise<RawSession> {
    const s = openRawSession((server as BatonServer).url, workerId);
    closers.push(() => s.abort());
    await s.next('welcome', welcome);
    return s;
  }

  /** A worker holding task `id` (attempt 1); started unless told otherwise. */
  async function holder(workerId: string, id: string, start = true): Promise<RawSession> {
    const s = await session(workerId);
    s.send({ kind: { case: 'request', value: { count: 1 } } });
    await admin.addTask({ id });
    const [a] = await s.next('assignment', proceed);
    expect(a).to.deep.include({ taskId: id, attempt: 1 });
    if (start) {
      s.send({ kind: { case: 'started', value: { seq: 1, taskId: id, attempt: 1 } } });
      expect((await s.receipt(1)).ok).to.equal(true);
    }
    return s;
  }

  const cost = (seq: number, usd: number, reportId: string) =>
    ({
      kind: {
        case: 'cost',
        value: { seq, totalUsd: usd, inputTokens: 10n, outputTokens: 5n, taskId: '', reportId },
      },
    }) as const;

  it('spend per worker and globally survives; a budget once exceeded stays exceeded', async () => {
    const budgets = { globalBudgetUsd: 1, perWorkerBudgetUsd: 0.6 };
    await restart(budgets);
    const w1 = await session('w1');
    const w2 = await session('w2');
    w1.send(cost(1, 0.7, 'w1-a'));
    w2.send(cost(1, 0.35, 'w2-a'));
    expect((await w1.receipt(1)).ok).to.equal(true);
    expect((await w2.receipt(1)).ok).to.equal(true);

    await restart(budgets);
    const costs = await admin.costs();
    expect(costs.global).to.deep.include({ spentUsd: 1.05, exceeded: true });
    const spend = Object.fromEntries(costs.workers.map((w) => [w.workerId, w.spend]));
    expect(spend.w1).to.deep.include({ spentUsd: 0.7, exceeded: true, inputTokens: 10n });
    expect(spend.w2).to.deep.include({ spentUsd: 0.35, exceeded: false });
    // The same report resent after the restart (its ack was lost, say) is counted once.
    const again = await session('w1');
    again.send(cost(7, 0.7, 'w1-a'));
    expect((await again.receipt(7)).ok).to.equal(true);
    expect((await admin.costs()).global?.spentUsd).to.equal(1.05);

    // Nothing is handed out past the global budget: a new worker is told to stop, gets no task.
    await admin.addTask({ id: 'after-budget' });
    const w3 = await session('w3');
    w3.send({ kind: { case: 'request', value: { count: 1 } } });
    const stop = await w3.next('budget stop', (m) =>
      m.kind.case === 'budgetStop' ? m.kind.value : undefined,
    );
    expect(stop.spentUsd).to.equal(1.05);
    await sleep(100);
    expect((await admin.getTask('after-budget')).status).to.equal(TaskStatus.PENDING);
  });

  it('rate-limiter usage and outstanding reservations survive, and settle after the restart', async () => {
    const limits = { maxRequestsPerMinute: 5, maxTokensPerMinute: 1000 };
    await restart(limits);
    const client: RateLimitClient = createRateLimitClient({
      url: (server as BatonServer).url,
      workerId: 'w1',
      reconnect: { initialDelayMs: 10, maxDelayMs: 50 },
    });
    closers.push(() => client.close());
    const r1 = await client.acquire(300);
    const r2 = await client.acquire(200);
    const r3 = await client.acquire(100);
    expect(await r1.settle(250)).to.deep.include({ refundedTokens: 50 });

    await restart(limits);
    const rate = await admin.rateLimit();
    expect(rate).to.deep.include({ availableRequests: 2, availableTokens: 450, outstandingReservations: 2 });
    expect(rate.workers.map((w) => [w.workerId, w.requests, w.tokens])).to.deep.equal([['w1', 3n, 550n]]);
    // Reservations granted before the restart are settled after it (the client reconnects on its own).
    expect(await r2.settle(20)).to.deep.include({ refundedTokens: 180 });
    expect(await r3.settle(100)).to.deep.include({ refundedTokens: 0 });
    const after = await admin.rateLimit();
    expect(after).to.deep.include({ availableTokens: 630, outstandingReservations: 0 });
    expect(after.workers[0]?.tokens).to.equal(370n);
    // Two requests are left of five: the restart did not refill the window.
    await client.acquire(1);
    await client.acquire(1);
    expect((await admin.rateLimit()).availableRequests).to.equal(0);
  });

  /** One acquire on a fresh rate stream, as a worker that never hears back would send it; the grant's reservation id. */
  async function acquireOnce(workerId: string, requestId: string, tokens: number): Promise<string> {
    const client = createClient(
      RateLimitService,
      createGrpcTransport({ baseUrl: (server as BatonServer).url }),
    );
    const controller = new AbortController();
    async function* requests() {
      yield { kind: { case: 'hello' as const, value: { workerId } } };
      yield { kind: { case: 'acquire' as const, value: { requestId, tokens } } };
      await new Promise((done) => controller.signal.addEventListener('abort', done));
    }
    try {
      for await (const decision of client.acquire(requests(), { signal: controller.signal })) {
        if (decision.kind.case === 'grant') return decision.kind.value.reservationId;
      }
    } finally {
      controller.abort();
    }
    throw new Error(`no grant for ${requestId}`);
  }

  it('a request resent after a restart gets the grant it was given before, not a second one', async () => {
    const limits = { maxRequestsPerMinute: 5, maxTokensPerMinute: 1000 };
    await restart(limits);
    const before = await acquireOnce('w1', 'lost-answer', 300);
    await restart(limits);
    expect(await acquireOnce('w1', 'lost-answer', 300)).to.equal(before);
    const rate = await admin.rateLimit();
    expect(rate).to.deep.include({ availableTokens: 700, outstandingReservations: 1 });
    expect(rate.workers.map((w) => [w.workerId, w.requests, w.tokens])).to.deep.equal([['w1', 1n, 300n]]);
  });

  it('the order tasks were added in survives, and tasks added after a restart come last', async () => {
    // In process, so that no client's kept-alive connection meets the restarted server.
    const coordinator = async () => (await restart()).coordinator;
    (await coordinator()).addTasks([{ id: 'first' }, { id: 'second' }]);
    await new Promise((resolve) => setImmediate(resolve)); // after that turn's group commit
    // A change that adds nothing, in a commit of its own: the insertion counter is not rewritten.
    (server as BatonServer).coordinator.cancelTask('first');
    (await coordinator()).addTask({ id: 'third' });
    const restored = (await coordinator()).taskQueue;
    expect(restored.getAll().map((t) => t.id)).to.deep.equal(['first', 'second', 'third']);
    const image = (server as BatonServer).store.load();
    expect(image?.tasks.nextSeq).to.equal(3);
    expect(image?.tasks.tasks.map((t) => t.seq)).to.deep.equal([0, 1, 2]);
  });

  it('the lifecycle state survives: draining stays draining, then drained stays drained until a start', async () => {
    await restart();
    const w1 = await holder('w1', 'held');
    expect(await admin.drain()).to.equal(LifecycleState.DRAINING);
    w1.abort();

    await restart();
    expect((await admin.status()).state).to.equal(LifecycleState.DRAINING);
    const back = await session('w1');
    await back.next('drain', (m) => (m.kind.case === 'drain' ? m : undefined));
    back.send({ kind: { case: 'complete', value: { seq: 2, taskId: 'held', attempt: 1 } } });
    expect((await back.receipt(2)).ok).to.equal(true);
    expect((await admin.status()).state).to.equal(LifecycleState.DRAINED);
    back.abort();

    await restart();
    expect((await admin.status()).state).to.equal(LifecycleState.DRAINED);
    await admin.addTask({ id: 'after-the-pause' });
    expect(await admin.start()).to.equal(LifecycleState.RUNNING);
  });

  it('stopped stays stopped, and reopening brings it back with its tasks', async () => {
    // In process, so that no client's kept-alive connection meets the restarted server.
    const first = await restart();
    first.coordinator.addTasks([{ id: 'kept' }]);
    first.coordinator.stop();
    await new Promise((resolve) => setImmediate(resolve)); // after that turn's group commit

    const served = await restart({ whenStopped: 'serve' });
    expect(served.coordinator.state).to.equal('stopped');
    expect(() => served.coordinator.addTask({ id: 'late' })).to.throw('coordinator is stopped');

    const reopened = await restart({ whenStopped: 'reopen' });
    expect(reopened.coordinator.state).to.equal('running');
    expect(reopened.coordinator.taskQueue.get('kept')?.status).to.equal('pending');
    reopened.coordinator.addTask({ id: 'after-reopen' });
    await new Promise((resolve) => setImmediate(resolve));

    const again = await restart({ whenStopped: 'serve' });
    expect(again.coordinator.state, 'the reopening was stored').to.equal('running');
    expect(again.coordinator.taskQueue.has('after-reopen')).to.equal(true);
  });

  it('a lease that lapsed while the server was down sends its task back to pending on start', async () => {
    await restart();
    await holder('w1', 'lapsed');
    const other = await holder('w2', 'kept');
    // w2 keeps its lease fresh just before the shutdown; w1 said its last word a while ago.
    clock += TTL / 2;
    other.send({ kind: { case: 'heartbeat', value: {} } });
    await sleep(50);

    await server?.close();
    clock += TTL / 2 + 1; // down for longer than what was left of w1's lease, not of w2's
    await restart();
    expect(await admin.getTask('lapsed')).to.deep.include({
      status: TaskStatus.PENDING,
      attempt: 1,
      error: 'lease of worker w1 expired',
    });
    expect(await admin.getTask('kept')).to.deep.include({ status: TaskStatus.RUNNING, workerId: 'w2' });
    // w1's late report of the old attempt is refused; the task runs again elsewhere.
    const late = await session('w1');
    late.send({ kind: { case: 'complete', value: { seq: 9, taskId: 'lapsed', attempt: 1 } } });
    expect((await late.receipt(9)).error?.code).to.equal(ErrorCode.ABORTED);
  });

  it('a worker that held a task reports it after the restart while its attempt is current', async () => {
    await restart();
    await holder('w1', 'mine');
    clock += TTL - 100;
    await restart();
    expect(await admin.getTask('mine')).to.deep.include({ status: TaskStatus.RUNNING, workerId: 'w1' });
    const back = await session('w1');
    back.send({ kind: { case: 'complete', value: { seq: 2, taskId: 'mine', attempt: 1 } } });
    expect((await back.receipt(2)).ok).to.equal(true);
    expect(await admin.getTask('mine')).to.deep.include({ status: TaskStatus.COMPLETE, attempt: 1 });
    // A repeat (the worker never heard the answer) is acknowledged again, not applied twice.
    back.send({ kind: { case: 'complete', value: { seq: 3, taskId: 'mine', attempt: 1 } } });
    expect((await back.receipt(3)).ok).to.equal(true);
  });

  it('an assignment the worker may never have received is sent again on its first request', async () => {
    await restart();
    await holder('w1', 'started', true);
    const w1 = await session('w1b');
    w1.send({ kind: { case: 'request', value: { count: 1 } } });
    await admin.addTask({ id: 'lost' });
    await w1.next('assignment', proceed); // delivered, but say the process died before it read it
    w1.abort();

    await restart();
    const back = await session('w1b');
    back.send({ kind: { case: 'request', value: { count: 1 } } });
    const [again] = await back.next('the assignment again', proceed);
    expect(again).to.deep.include({ taskId: 'lost', attempt: 1 });
    // A task the worker started is not re-sent: it has it (or its report is on the way).
    const w1Back = await session('w1');
    w1Back.send({ kind: { case: 'request', value: { count: 0 } } });
    await sleep(100);
    expect(await w1Back.next('nothing', proceed, 1).catch(() => 'none')).to.equal('none');
  });

  it('a copy taken while the server runs (VACUUM INTO, online backup) holds the acknowledged state', async () => {
    await restart();
    await holder('w1', 'a');
    await admin.addTasks([{ id: 'b', deps: ['a'] }, { id: 'c' }]);
    const w2 = await session('w2');
    w2.send(cost(1, 0.25, 'w2-1'));
    expect((await w2.receipt(1)).ok).to.equal(true);

    const live = new Database(join(dir.path, 'baton.db'), { readonly: true });
    live.exec(`VACUUM INTO '${join(dir.path, 'vacuum.db')}'`);
    await live.backup(join(dir.path, 'backup.db'));
    live.close();
    const image = JSON.stringify((server as BatonServer).store.load());
    for (const copy of ['vacuum.db', 'backup.db']) {
      const store = openSqliteStore({ path: join(dir.path, copy) });
      expect(JSON.stringify(store.load()), copy).to.equal(image);
      store.close();
    }
  });
});
