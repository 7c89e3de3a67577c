import { toJson } from '@bufbuild/protobuf';
import { type Value, ValueSchema } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { expect } from 'chai';
import {
  batonErrorDetail,
  createWorker,
  RetryableError,
  type TaskHandler,
  type Worker,
  type WorkerEvent,
  type WorkerOptions,
} from '../../src/client/index.js';
import { BudgetScope, ErrorCode } from '../../src/client/proto.js';
import { rejection } from '../support/rejection.js';
import { gate } from '../support/waiting.js';
import { createFakeCoordinator, type FakeSession, waitFor } from './fake-coordinator.js';

/** A handler that runs until its signal aborts, then rejects with the abort reason. */
const untilAborted: TaskHandler = (_task, { signal }) =>
  new Promise((_resolve, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });

/** `untilAborted`, remembering the abort reason its signal gave (undefined until then). */
function recordingAbort(): { readonly handler: TaskHandler; reason(): unknown } {
  let reason: unknown;
  return {
    handler: (task, context) => {
      context.signal.addEventListener('abort', () => {
        reason = context.signal.reason;
      });
      return untilAborted(task, context);
    },
    reason: () => reason,
  };
}

const tick = (ms = 15): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('client worker', () => {
  const workers: Worker[] = [];

  afterEach(async () => {
    for (const w of workers.splice(0)) await w.stop({ signal: AbortSignal.abort() });
  });

  function setup(overrides: Partial<WorkerOptions> = {}) {
    const fake = createFakeCoordinator();
    const events: WorkerEvent[] = [];
    const worker = createWorker({
      url: 'http://in-memory',
      id: 'w1',
      capabilities: ['code'],
      maxConcurrency: 2,
      transport: fake.transport,
      reconnect: { initialDelayMs: 1, maxDelayMs: 4 },
      handler: async () => 'ok',
      onEvent: (e) => events.push(e),
      ...overrides,
    });
    workers.push(worker);
    return { fake, worker, events };
  }

  async function connect(
    worker: Worker,
    fake: ReturnType<typeof createFakeCoordinator>,
    welcome: Parameters<FakeSession['welcome']>[0] = {},
  ): Promise<FakeSession> {
    const started = worker.start();
    const s = await fake.sessions.next();
    await s.take('hello');
    s.welcome(welcome);
    await started;
    await s.take('request');
    return s;
  }

  it('says hello first with its id, capabilities, labels and concurrency, and asks for work once welcomed', async () => {
    const { fake, worker } = setup({ labels: { host: 'h1' }, maxConcurrency: 3 });
    const started = worker.start();
    const s = await fake.sessions.next();
    const hello = await s.take('hello');
    expect(hello.workerId).to.equal('w1');
    expect(hello.capabilities).to.deep.equal(['code']);
    expect(hello.labels).to.deep.equal({ host: 'h1' });
    expect(hello.maxConcurrency).to.equal(3);
    expect(worker.state).to.equal('connecting');

    const cost = worker.reportCost({ totalUsd: 0.5, inputTokens: 10, outputTokens: 2 });
    await tick();
    expect(s.inbox.received).to.have.length(1); // nothing but hello before the welcome
    s.welcome();
    await started;
    expect(worker.state).to.equal('running');
    const report = await s.report();
    expect(report.case).to.equal('cost');
    expect((await s.take('request')).count).to.equal(3);
    s.ack({ seq: report.seq });
    expect(await cost).to.equal('applied');
  });

  it('lists no capabilities when given none', async () => {
    const fake = createFakeCoordinator();
    const worker = createWorker({
      url: 'http://in-memory',
      id: 'w1',
      maxConcurrency: 1,
      transport: fake.transport,
      handler: async () => 'ok',
    });
    workers.push(worker);
    void worker.start();
    const s = await fake.sessions.next();
    expect((await s.take('hello')).capabilities).to.deep.equal([]);
  });

  it('takes the lower of its own and the welcomed max concurrency', async () => {
    const { fake, worker } = setup({ maxConcurrency: 4 });
    const started = worker.start();
    const s = await fake.sessions.next();
    await s.take('hello');
    s.welcome({ maxConcurrency: 1 });
    await started;
    expect((await s.take('request')).count).to.equal(1);
  });

  it('runs at most maxConcurrency handlers at once and asks for more as slots free', async () => {
    const gates = new Map([
      ['t1', gate()],
      ['t2', gate()],
      ['t3', gate()],
    ]);
    let active = 0;
    let peak = 0;
    const { fake, worker, events } = setup({
      handler: async (task) => {
        active++;
        peak = Math.max(peak, active);
        await gates.get(task.id)!.promise;
        active--;
        return task.id;
      },
    });
    const s = await connect(worker, fake);
    s.proceed({ taskId: 't1' }, { taskId: 't2' }, { taskId: 't3' });
    await waitFor(() => active === 2);
    await tick();
    expect(worker.running).to.equal(2);

    gates.get('t1')!.open();
    await waitFor(() => events.some((e) => e.type === 'task-started' && e.taskId === 't3'));
    expect(active).to.equal(2);
    gates.get('t2')!.open();
    gates.get('t3')!.open();
    await waitFor(() => worker.running === 0);
    await waitFor(() => s.requests().length === 3);
    expect(peak).to.equal(2);
    // Initial demand, then one free slot after t2 (t1's slot went to t3 from the backlog), then two.
    expect(s.requests()).to.deep.equal([2, 1, 2]);
  });

  it('reports started, then complete with the result as JSON, and resolves a report on its receipt', async () => {
    const { fake, worker } = setup({
      handler: async (task) => ({ echoed: task.metadata, attempt: task.attempt }),
    });
    const s = await connect(worker, fake);
    s.proceed({ taskId: 't1', attempt: 3, metadata: { prompt: 'fix it' } });
    const started = await s.report();
    expect(started).to.include({ case: 'started', taskId: 't1', attempt: 3 });
    const complete = await s.report();
    expect(complete).to.include({ case: 'complete', taskId: 't1', attempt: 3 });
    expect(toJson(ValueSchema, complete.value.result as Value)).to.deep.equal({
      echoed: { prompt: 'fix it' },
      attempt: 3,
    });
    expect(complete.seq).to.not.equal(started.seq);

    let settled = false;
    const cost = worker.reportCost({ totalUsd: 1.25, inputTokens: 100, outputTokens: 20n, taskId: 't1' });
    void cost.then(() => {
      settled = true;
    });
    const costReport = await s.report();
    expect(costReport.value).to.include({
      totalUsd: 1.25,
      inputTokens: 100n,
      outputTokens: 20n,
      taskId: 't1',
    });
    await tick();
    expect(settled).to.equal(false);
    s.ack({ seq: started.seq }, { seq: complete.seq }, { seq: costReport.seq });
    expect(await cost).to.equal('applied');
  });

  it('reports a thrown error as failed, retryable only when the error says so', async () => {
    const { fake, worker } = setup({
      handler: async (task) => {
        if (task.id === 'soft') throw new RetryableError('rate limited');
        throw new Error('syntax error');
      },
    });
    const s = await connect(worker, fake);
    s.proceed({ taskId: 'soft' }, { taskId: 'hard' });
    const failed = [];
    while (failed.length < 2) {
      const r = await s.report();
      if (r.case === 'failed') failed.push(r);
    }
    const byId = Object.fromEntries(failed.map((r) => [r.taskId, r.value]));
    expect(byId.soft).to.include({ error: 'rate limited', retryable: true });
    expect(byId.hard).to.include({ error: 'syntax error', retryable: false });
  });

  it('aborts the handler signal when the coordinator cancels that attempt, and reports nothing more', async () => {
    const aborted = recordingAbort();
    const { fake, worker, events } = setup({ handler: aborted.handler });
    const s = await connect(worker, fake);
    s.proceed({ taskId: 't1', attempt: 4 });
    const started = await s.report();
    s.send({ case: 'cancel', value: { taskId: 't1', attempt: 3, reason: 'older attempt' } });
    await tick();
    expect(aborted.reason()).to.equal(undefined);
    s.send({ case: 'cancel', value: { taskId: 't1', attempt: 4, reason: 'cancelled by operator' } });
    await waitFor(() => aborted.reason() !== undefined);
    expect(ConnectError.from(aborted.reason()).code).to.equal(Code.Canceled);
    s.ack({ seq: started.seq });
    await waitFor(() => worker.running === 0);
    await tick();
    expect(s.inbox.received.filter((m) => m.kind.case === 'failed' || m.kind.case === 'complete')).to.be
      .empty;
    expect(events).to.deep.include({
      type: 'task-cancelled',
      taskId: 't1',
      attempt: 4,
      reason: 'cancelled by operator',
    });
  });

  it('treats an ABORTED receipt as a stale attempt: aborts the handler and drops the task', async () => {
    const aborted = recordingAbort();
    const { fake, worker, events } = setup({ handler: aborted.handler });
    const s = await connect(worker, fake);
    s.proceed({ taskId: 't1', attempt: 2 });
    const started = await s.report();
    s.ack({ seq: started.seq, code: ErrorCode.ABORTED, message: 'attempt 2 is stale' });
    await waitFor(() => aborted.reason() !== undefined);
    expect(ConnectError.from(aborted.reason()).code).to.equal(Code.Aborted);
    await waitFor(() => worker.running === 0);
    await tick();
    expect(events.some((e) => e.type === 'stale' && e.taskId === 't1' && e.report === 'started')).to.equal(
      true,
    );
    expect(s.inbox.received.filter((m) => m.kind.case === 'failed')).to.be.empty;

    const stale = worker.reportCost({ totalUsd: 0, inputTokens: 0, outputTokens: 0 });
    s.ack({ seq: (await s.report()).seq, code: ErrorCode.ABORTED });
    expect(await stale).to.equal('stale');
  });

  it('rejects a report refused for any other reason with the matching ConnectError', async () => {
    const { fake, worker } = setup();
    const s = await connect(worker, fake);
    const cost = worker.reportCost({ totalUsd: 3, inputTokens: 1, outputTokens: 1 });
    const seen = await s.report();
    s.ack({ seq: seen.seq, code: ErrorCode.FAILED_PRECONDITION, message: 'coordinator stopped' });
    const error = await rejection(cost);
    expect(error.code).to.equal(Code.FailedPrecondition);
    expect(batonErrorDetail(error)?.message).to.equal('coordinator stopped');
  });

  it('reconnects after a stream error, says hello again and resends every unacknowledged report', async () => {
    const finish = gate();
    let runs = 0;
    const { fake, worker, events } = setup({
      handler: async () => {
        runs++;
        await finish.promise;
        return 'done';
      },
    });
    const s1 = await connect(worker, fake);
    s1.proceed({ taskId: 't1', attempt: 1 });
    const started = await s1.report();
    void worker.reportCost({ totalUsd: 0.25, inputTokens: 5, outputTokens: 5 });
    const cost = await s1.report();
    expect(cost.value.reportId).to.be.a('string').that.is.not.empty;
    s1.fail(new ConnectError('coordinator restarting', Code.Unavailable));

    const s2 = await fake.sessions.next();
    expect((await s2.take('hello')).workerId).to.equal('w1');
    finish.open(); // the handler completes while the new session is not welcomed yet
    await waitFor(() => worker.running === 0);
    await tick();
    expect(s2.inbox.received).to.have.length(1);

    s2.welcome();
    const resent = await s2.report();
    const resentCost = await s2.report();
    const complete = await s2.report();
    expect(resent).to.include({ case: 'started', seq: started.seq, taskId: 't1' });
    expect(resentCost).to.include({ case: 'cost', seq: cost.seq });
    expect(resentCost.value.reportId).to.equal(cost.value.reportId); // counted once by the coordinator
    expect(complete).to.include({ case: 'complete', taskId: 't1' });
    s2.ack({ seq: resent.seq }, { seq: resentCost.seq }, { seq: complete.seq });
    await waitFor(() => s2.requests().length > 0);
    expect(runs).to.equal(1);
    expect(worker.state).to.equal('running');
    expect(events.some((e) => e.type === 'reconnecting')).to.equal(true);
    expect(
      events.filter((e) => e.type === 'connected').map((e) => e.type === 'connected' && e.resumed),
    ).to.deep.equal([false, true]);
  });

  it('gives up when another session takes over its id (ABORTED), rejecting done', async () => {
    const { fake, worker } = setup();
    const s = await connect(worker, fake);
    s.fail(new ConnectError('replaced by a new session', Code.Aborted));
    const error = await rejection(worker.done);
    expect(error.code).to.equal(Code.Aborted);
    expect(worker.state).to.equal('stopped');
    await tick();
    expect(fake.sessions.all).to.have.length(1);
  });

  it('drains: takes nothing new, finishes what it holds, waits for receipts, then closes', async () => {
    const finish = gate();
    const { fake, worker } = setup({
      handler: async () => {
        await finish.promise;
        return 1;
      },
    });
    const s = await connect(worker, fake);
    s.proceed({ taskId: 't1' });
    const started = await s.report();
    s.send({ case: 'drain', value: { reason: 'shutting down' } });
    await waitFor(() => worker.state === 'draining');
    finish.open();
    const complete = await s.report();
    expect(complete.case).to.equal('complete');
    await tick();
    expect(s.inbox.closed).to.equal(false); // a receipt is still due
    s.ack({ seq: started.seq }, { seq: complete.seq });
    await worker.done;
    expect(s.inbox.closed).to.equal(true);
    expect(s.requests()).to.deep.equal([2]); // the freed slot was not asked to be refilled
    expect(worker.state).to.equal('stopped');
  });

  it('on a budget stop aborts its handlers, fails their tasks retryably and refuses new ones', async () => {
    let ran = 0;
    const { fake, worker, events } = setup({
      handler: (task, context) => {
        ran++;
        return untilAborted(task, context);
      },
    });
    const s = await connect(worker, fake);
    s.proceed({ taskId: 't1' });
    await s.report();
    s.send({
      case: 'budgetStop',
      value: { scope: BudgetScope.WORKER, reason: 'worker budget exceeded', spentUsd: 5.5, budgetUsd: 5 },
    });
    const failed = await s.report();
    expect(failed).to.include({ case: 'failed', taskId: 't1' });
    expect(failed.value.retryable).to.equal(true);
    expect(failed.value.error).to.match(/budget/);
    expect(worker.state).to.equal('budget-stopped');
    expect(events).to.deep.include({
      type: 'budget-stopped',
      scope: 'worker',
      reason: 'worker budget exceeded',
      spentUsd: 5.5,
      budgetUsd: 5,
    });

    s.send({ case: 'budgetStop', value: { scope: BudgetScope.WORKER, reason: 'again' } }); // acts once only
    s.proceed({ taskId: 't2' });
    const refused = await s.report();
    expect(s.requests()).to.deep.equal([2]); // nothing asked for after the stop
    expect(events.filter((e) => e.type === 'budget-stopped')).to.have.length(1);
    expect(refused).to.include({ case: 'failed', taskId: 't2' });
    expect(refused.value.retryable).to.equal(true);
    expect(ran).to.equal(1);
  });

  it('stops gracefully: lets running handlers finish and their reports be acknowledged', async () => {
    const finish = gate();
    const { fake, worker } = setup({
      handler: async () => {
        await finish.promise;
      },
    });
    const s = await connect(worker, fake);
    s.proceed({ taskId: 't1' });
    const started = await s.report();
    let stopped = false;
    const stopping = worker.stop().then(() => {
      stopped = true;
    });
    await waitFor(() => s.requests().includes(0));
    expect(worker.state).to.equal('stopping');
    finish.open();
    const complete = await s.report();
    await tick();
    expect(stopped).to.equal(false);
    s.ack({ seq: started.seq }, { seq: complete.seq });
    await stopping;
    expect(worker.state).to.equal('stopped');
  });

  it('while stopping still runs a task that was already on its way, rather than burn an attempt', async () => {
    const first = gate();
    const ran: string[] = [];
    const { fake, worker } = setup({
      handler: async (task) => {
        ran.push(task.id);
        if (task.id === 'held') await first.promise;
      },
    });
    const s = await connect(worker, fake);
    s.proceed({ taskId: 'held' });
    const reports = [await s.report()];
    const stopping = worker.stop();
    await waitFor(() => s.requests().includes(0));
    s.proceed({ taskId: 'late' });
    await waitFor(() => ran.length === 2);
    first.open();
    while (reports.filter((r) => r.case === 'complete').length < 2) reports.push(await s.report());
    expect(reports.some((r) => r.case === 'failed')).to.equal(false);
    s.ack(...reports.map((r) => ({ seq: r.seq })));
    await stopping;
    expect(ran).to.deep.equal(['held', 'late']);
  });

  it('reconnects to deliver reports of a task that arrived after it closed its side', async () => {
    const { fake, worker } = setup();
    const s1 = await connect(worker, fake);
    s1.endWhenClientCloses = false;
    const stopping = worker.stop();
    await waitFor(() => s1.inbox.closed);
    s1.proceed({ taskId: 'crossed' });
    await waitFor(() => worker.running === 0);
    s1.end();
    const s2 = await fake.sessions.next();
    await s2.take('hello');
    s2.welcome();
    const started = await s2.report();
    const complete = await s2.report();
    expect(complete).to.include({ case: 'complete', taskId: 'crossed' });
    await waitFor(() => s2.requests().length > 0);
    expect(s2.requests()).to.deep.equal([0]);
    s2.ack({ seq: started.seq }, { seq: complete.seq });
    await stopping;
    expect(worker.state).to.equal('stopped');
  });

  it('stops by force when the stop signal aborts, aborting running handlers', async () => {
    const aborted = recordingAbort();
    const { fake, worker } = setup({ handler: aborted.handler });
    const s = await connect(worker, fake);
    s.proceed({ taskId: 't1' });
    await s.report();
    const force = new AbortController();
    const stopping = worker.stop({ signal: force.signal });
    await tick();
    expect(aborted.reason()).to.equal(undefined);
    force.abort();
    await stopping;
    expect(ConnectError.from(aborted.reason()).code).to.equal(Code.Canceled);
    expect(worker.state).to.equal('stopped');
  });

  it('after a Wait, asks again later, as a guard against a lost wake-up', async () => {
    const { fake, worker, events } = setup({ waitRetryMs: 5 });
    const s = await connect(worker, fake);
    s.send({ case: 'wait', value: { reason: 'no ready tasks' } });
    expect((await s.take('request')).count).to.equal(2);
    expect(events).to.deep.include({ type: 'wait', reason: 'no ready tasks' });
  });

  it('heartbeats when it has had nothing else to say for a heartbeat interval', async () => {
    const { fake, worker } = setup();
    const s = await connect(worker, fake, { heartbeatIntervalMs: 10 });
    const heartbeat = await s.inbox.next((m) => m.kind.case !== 'heartbeat', 500);
    expect(heartbeat.kind.case).to.equal('heartbeat');
  });

  it('stops cleanly before it was ever welcomed, rejecting start with Canceled', async () => {
    const { fake, worker } = setup();
    const started = worker.start();
    const s = await fake.sessions.next();
    await s.take('hello');
    await worker.stop();
    expect((await rejection(started)).code).to.equal(Code.Canceled);
    expect(worker.state).to.equal('stopped');
  });

  it('keeps retrying a coordinator that refuses connections, then carries on', async () => {
    let calls = 0;
    const { fake, worker } = setup();
    const started = worker.start();
    for (; calls < 3; calls++) {
      const s = await fake.sessions.next();
      await s.take('hello');
      s.fail(new ConnectError('connection refused', Code.Unavailable));
    }
    const s = await fake.sessions.next();
    await s.take('hello');
    s.welcome();
    await started;
    expect(worker.state).to.equal('running');
  });
});
