import { expect } from 'chai';
import { Registry } from 'prom-client';
import { createManualClock } from '../../src/core/clock.js';
import { createCoordinator } from '../../src/core/coordinator.js';
import { createWorkerPool } from '../../src/core/worker-pool.js';
import { coordinatorMetrics } from '../../src/server/observability/coordinator-metrics.js';
import { parseExposition } from './exposition.js';

describe('Coordinator metrics', () => {
  const setup = (leaseTtlMs = 60_000) => {
    const clock = createManualClock(1_000);
    const coordinator = createCoordinator({
      pool: createWorkerPool({ send: () => {} }),
      options: { now: clock.now, scheduler: clock, leaseTtlMs, globalBudgetUsd: 2 },
    });
    const registry = new Registry();
    const off = coordinatorMetrics(registry, coordinator);
    coordinator.start();
    const scrape = async () => parseExposition(await registry.metrics());
    return { clock, coordinator, off, scrape };
  };

  it('counts tasks by status and category, and times dispatch and run from the task timestamps', async () => {
    const { clock, coordinator, scrape } = setup();
    coordinator.addTasks([
      { id: 'plan', category: 'llm' },
      { id: 'code', category: 'llm', deps: ['plan'] },
      { id: 'lint', category: 'ci' },
    ]);
    clock.advance(500);
    coordinator.workerJoined({ id: 'w1', capabilities: ['llm', 'ci'], maxConcurrency: 1 });
    coordinator.request('w1', 1);
    const first = coordinator.taskQueue.getByWorker('w1')[0]?.id as string;
    coordinator.taskStarted('w1', first, 1);
    clock.advance(2_000);
    coordinator.complete('w1', first, 1);

    const m = await scrape();
    expect(m.value('baton_tasks', { status: 'complete' })).to.equal(1);
    expect(m.value('baton_tasks', { status: 'assigned' })).to.equal(1);
    expect(m.value('baton_tasks', { status: 'pending' })).to.equal(1);
    expect(m.value('baton_tasks_added_total', { category: 'llm' })).to.equal(2);
    expect(m.value('baton_tasks_added_total', { category: 'ci' })).to.equal(1);
    expect(m.value('baton_task_assignments_total')).to.equal(2);
    expect(m.value('baton_tasks_completed_total')).to.equal(1);
    expect(m.value('baton_task_run_seconds_sum', { outcome: 'complete' })).to.equal(2);
    // The first task waited 0.5 s for a worker; the second was ready the moment the first finished.
    expect(m.value('baton_task_dispatch_seconds_count')).to.equal(2);
    expect(m.value('baton_task_dispatch_seconds_sum')).to.equal(0.5);
    expect(m.value('baton_coordinator_state', { state: 'running' })).to.equal(1);
    expect(m.value('baton_workers', { status: 'busy' })).to.equal(1);
  });

  it('counts lapsed leases, requeues, failures, spend against the budget and rate-limit decisions', async () => {
    const { clock, coordinator, scrape } = setup(1_000);
    coordinator.addTasks([{ id: 'a', maxAttempts: 1 }, { id: 'b' }]);
    coordinator.workerJoined({ id: 'w1', maxConcurrency: 2 });
    coordinator.request('w1', 2);
    coordinator.recordCost('w1', { totalUsd: 1.75 });
    coordinator.rateRequest('w1', 10);
    clock.advance(1_500);
    coordinator.sweepLeases();

    const m = await scrape();
    expect(m.value('baton_lease_expiries_total')).to.equal(1);
    expect(m.value('baton_worker_leaves_total', { reason: 'lease expired' })).to.equal(1);
    expect(m.value('baton_tasks_failed_total')).to.equal(1);
    expect(m.value('baton_tasks_requeued_total')).to.equal(1);
    expect(m.value('baton_tasks_ready')).to.equal(1);
    expect(m.value('baton_cost_spent_usd')).to.equal(1.75);
    expect(m.value('baton_cost_budget_usd')).to.equal(2);
    expect(m.value('baton_worker_cost_spent_usd', { worker: 'w1' })).to.equal(1.75);
    expect(m.value('baton_budget_warnings_total', { scope: 'global' })).to.equal(1);
    expect(m.value('baton_rate_limit_grants_total')).to.equal(1);
    expect(m.value('baton_rate_limit_granted_tokens_total')).to.equal(10);
  });

  it('counts deleted tasks, one by one and by purge, and the task gauges drop with them', async () => {
    const { clock, coordinator, scrape } = setup();
    coordinator.addTasks([{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
    for (const id of ['a', 'b', 'c']) coordinator.cancelTask(id);
    coordinator.deleteTask('a');
    clock.advance(1);
    coordinator.purgeTasks({ finishedBefore: clock.now() });
    const m = await scrape();
    expect(m.value('baton_tasks_deleted_total')).to.equal(3);
    expect(m.value('baton_tasks', { status: 'cancelled' })).to.equal(0);
  });

  it('stop counting once unsubscribed', async () => {
    const { coordinator, off, scrape } = setup();
    off();
    coordinator.addTask({ id: 'x' });
    expect((await scrape()).value('baton_tasks_added_total')).to.equal(undefined);
  });
});
