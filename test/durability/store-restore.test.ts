import { expect } from 'chai';
import { RECENT_REPORTS } from '../../src/core/cost-aggregator.js';
import { openCoordinator } from '../../src/server/runtime/open-coordinator.js';
import { systemScheduler } from '../../src/server/runtime/system-clock.js';
import { eachStore, openOn as open } from './each-store.js';

type Durable = ReturnType<typeof open>;

/** Everything a restart must bring back, read off a live coordinator. */
const imageOf = ({ coordinator: c }: Durable) => ({
  state: c.state,
  tasks: c.taskQueue.toJSON(),
  leases: [...c.leases.entries()].sort(([a], [b]) => a.localeCompare(b)),
  rateLimiter: c.rateLimiter.snapshot(),
  costs: c.costAggregator.snapshot(),
});

/** A commit is the unit: what was stored before a restart is what the restarted coordinator holds. */
eachStore('restore after a restart', (reopen) => {
  it('brings back tasks with their statuses, attempts, holders and results, leases, spend and rate usage', async () => {
    const first = open(await reopen());
    const c = first.coordinator;
    c.start();
    c.addTasks([
      { id: 'a' },
      { id: 'b', deps: ['a'] },
      { id: 'c', maxAttempts: 3 },
      { id: 'd' },
      { id: 'e' },
    ]);
    c.workerJoined({ id: 'w1', maxConcurrency: 2 });
    c.workerJoined({ id: 'w2', maxConcurrency: 2 });
    const held = [...c.request('w1'), ...c.request('w2')];
    expect(held.length).to.be.greaterThan(2);
    const byId = new Map(held.map((h) => [h.task.id, h]));
    const a = byId.get('a')!;
    c.taskStarted(a.workerId, 'a', a.task.attempt);
    // A result with what JSON text columns must keep exactly: a NUL, non-Latin text, nesting.
    c.complete(a.workerId, 'a', a.task.attempt, { text: 'nul\u0000 ünï 漢字', nested: [1, { x: null }] });
    const failing = byId.get('c');
    if (failing !== undefined) c.fail(failing.workerId, 'c', failing.task.attempt, 'flaky', true);
    c.cancelTask('e', 'not needed');
    await first.commit.committed();
    // Spend past the number of report ids a worker keeps, a rate reservation by request id.
    for (let i = 0; i < RECENT_REPORTS + 6; i++) {
      c.recordCost('w1', { reportId: `r${i}`, totalUsd: 0.001, inputTokens: 10, outputTokens: 2 });
    }
    c.recordCost('w2', { reportId: 'only', totalUsd: 0.25 });
    c.rateRequest('w2', 500, 'req-1');
    await first.commit.committed();
    const before = imageOf(first);
    await first.commit.close();

    const second = open(await reopen());
    expect(second.restored).to.equal(true);
    expect(imageOf(second)).to.deep.equal(before);
    const w1 = second.coordinator.costAggregator.snapshot().workers.find((w) => w.workerId === 'w1');
    expect(w1?.recentReportIds).to.have.length(RECENT_REPORTS);
    expect(w1?.recentReportIds?.[0]).to.equal('r6');
    expect(second.coordinator.costAggregator.remembers('w1', 'r5')).to.equal(false);
    expect(second.coordinator.taskQueue.get('a')?.result).to.deep.equal({
      text: 'nul\u0000 ünï 漢字',
      nested: [1, { x: null }],
    });
    await second.commit.close();
  });

  it('forgets what a later commit removed and keeps the latest of what it changed', async () => {
    let now = 1_000;
    const store = await reopen();
    const openAt = (s: typeof store) =>
      openCoordinator({ store: s, now: () => now, scheduler: systemScheduler, send: () => {} });
    const first = openAt(store);
    const c = first.coordinator;
    c.start();
    c.addTasks([{ id: 'x' }, { id: 'y' }, { id: 'z' }]);
    c.workerJoined({ id: 'w', maxConcurrency: 1 });
    c.workerJoined({ id: 'v', maxConcurrency: 1 });
    const held = [...c.request('w'), ...c.request('v')];
    const done = held.find((h) => h.workerId === 'w');
    const lapsed = held.find((h) => h.workerId === 'v');
    c.recordCost('w', { reportId: 'r1', totalUsd: 1 });
    await first.commit.committed();
    c.complete('w', done!.task.id, done!.task.attempt, 'done');
    c.costAggregator.reset();
    // v goes silent: its lease lapses, its lease row goes, and its task is requeued.
    c.workerLeft('v');
    now += c.leaseTtlMs + 1;
    c.heartbeat('w');
    expect(c.sweepLeases()).to.deep.equal(['v']);
    await first.commit.committed();
    const before = imageOf(first);
    expect(before.leases.map(([id]) => id)).to.deep.equal(['w']);
    await first.commit.close();

    const second = openAt(await reopen());
    expect(imageOf(second)).to.deep.equal(before);
    expect(second.coordinator.taskQueue.get(done!.task.id)?.status).to.equal('complete');
    const requeued = second.coordinator.taskQueue.get(lapsed!.task.id);
    expect(requeued?.status).to.equal('pending');
    expect(requeued?.error).to.equal('lease of worker v expired');
    await second.commit.close();
  });
});
