// observability/: what operators read of a running server: Prometheus metrics, structured logs.
// Imports src/core; runtime/ and transport/ for types only (test/architecture/walls.test.ts).
import { Gauge, Histogram, type Registry } from 'prom-client';
import type { Coordinator } from '../../core/coordinator.js';
import { COORDINATOR_STATES } from '../../core/coordinator.js';
import type { RateAmounts } from '../../core/rate-limiter.js';
import type { TaskSnapshot } from '../../core/task.js';
import { TASK_STATUSES } from '../../core/task.js';
import { createTally, readCounter } from './tally.js';

/** Seconds; tasks of AI agents run from milliseconds (tests) to an hour. */
const TASK_BUCKETS = [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600];

const gauge = (
  registry: Registry,
  name: string,
  help: string,
  collect: (g: Gauge) => void,
  labelNames: string[] = [],
): void => {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      collect(this);
    },
  });
};

/**
 * The coordinator's metrics. Levels (tasks by status, ready, workers, buckets, spend) are read
 * from counters the core keeps, O(1) or O(workers) per scrape, never a walk over the tasks.
 * Totals and latencies are counted from the coordinator's events as they happen. Returns the
 * unsubscribe.
 */
export function coordinatorMetrics(registry: Registry, coordinator: Coordinator): () => void {
  const { events, taskQueue, pool, rateLimiter, costAggregator } = coordinator;

  gauge(
    registry,
    'baton_coordinator_state',
    'The coordinator lifecycle state: 1 for the current one, 0 for the others.',
    (g) => {
      for (const s of COORDINATOR_STATES) g.set({ state: s }, s === coordinator.state ? 1 : 0);
    },
    ['state'],
  );
  gauge(
    registry,
    'baton_tasks',
    'Tasks in the graph by status.',
    (g) => {
      const p = taskQueue.getProgress();
      for (const s of TASK_STATUSES) g.set({ status: s }, p[s]);
    },
    ['status'],
  );
  gauge(
    registry,
    'baton_tasks_ready',
    'Pending tasks whose dependencies are complete: the queue depth.',
    (g) => g.set(taskQueue.getProgress().ready),
  );
  gauge(
    registry,
    'baton_workers',
    'Known workers by status (offline ones are listed while they hold tasks).',
    (g) => {
      const by = new Map<string, number>([
        ['idle', 0],
        ['busy', 0],
        ['draining', 0],
        ['stopped', 0],
        ['offline', 0],
      ]);
      for (const w of pool.list()) by.set(w.status, (by.get(w.status) ?? 0) + 1);
      for (const [status, n] of by) g.set({ status }, n);
    },
    ['status'],
  );
  gauge(
    registry,
    'baton_worker_tasks_held',
    'Tasks assigned to or running on each worker.',
    (g) => {
      g.reset();
      for (const w of pool.list()) g.set({ worker: w.id }, w.running);
    },
    ['worker'],
  );

  const rate = () => rateLimiter.status();
  const sumUsage = (key: 'requests' | 'tokens' | 'denials') => () => {
    let n = 0;
    for (const w of rate().workers) n += w[key];
    return n;
  };
  readCounter(
    registry,
    'baton_rate_limit_grants_total',
    'Rate-limit requests granted.',
    sumUsage('requests'),
  );
  readCounter(
    registry,
    'baton_rate_limit_granted_tokens_total',
    'LLM tokens reserved by granted requests (after settling).',
    sumUsage('tokens'),
  );
  readCounter(
    registry,
    'baton_rate_limit_waits_total',
    'Rate-limit requests told to wait, and queued requests that timed out.',
    sumUsage('denials'),
  );
  gauge(registry, 'baton_rate_limit_waiters', 'Rate-limit requests queued for tokens now.', (g) =>
    g.set(rate().queueLength),
  );
  const bucketGauge = (name: string, help: string, pick: (r: ReturnType<typeof rate>) => RateAmounts) =>
    gauge(
      registry,
      name,
      help,
      (g) => {
        const amounts = pick(rate());
        g.set({ bucket: 'requests' }, amounts.requests);
        g.set({ bucket: 'tokens' }, amounts.tokens);
      },
      ['bucket'],
    );
  bucketGauge(
    'baton_rate_limit_available',
    'What the shared buckets hold now, by bucket (requests per minute, tokens per minute).',
    (r) => r.available,
  );
  bucketGauge(
    'baton_rate_limit_capacity',
    'The shared buckets sizes per minute, by bucket.',
    (r) => r.capacity,
  );

  gauge(registry, 'baton_cost_spent_usd', 'Spend reported by the whole fleet, in USD.', (g) =>
    g.set(costAggregator.status().spentUsd),
  );
  gauge(registry, 'baton_cost_budget_usd', 'The global budget in USD (absent when unlimited).', (g) => {
    const budget = costAggregator.status().budgets.globalUsd;
    if (budget === null) g.reset();
    else g.set(budget);
  });
  gauge(
    registry,
    'baton_worker_cost_spent_usd',
    'Spend reported by each worker, in USD.',
    (g) => {
      g.reset();
      for (const w of costAggregator.status().workers) g.set({ worker: w.workerId }, w.spentUsd);
    },
    ['worker'],
  );
  gauge(
    registry,
    'baton_worker_cost_budget_usd',
    'The budget of each worker in USD (absent when unlimited).',
    (g) => {
      const budget = costAggregator.status().budgets.perWorkerUsd;
      if (budget === null) g.reset();
      else g.set(budget);
    },
  );
  gauge(
    registry,
    'baton_cost_tokens',
    'LLM tokens reported by the fleet, by direction.',
    (g) => {
      const s = costAggregator.status();
      g.set({ direction: 'input' }, s.inputTokens);
      g.set({ direction: 'output' }, s.outputTokens);
    },
    ['direction'],
  );

  const added = createTally(registry, 'baton_tasks_added_total', 'Tasks added, by category.', 'category');
  const assigned = createTally(
    registry,
    'baton_task_assignments_total',
    'Assignments of a task to a worker (a re-run counts again), by category.',
    'category',
  );
  const completed = createTally(
    registry,
    'baton_tasks_completed_total',
    'Tasks completed, by category.',
    'category',
  );
  const failed = createTally(
    registry,
    'baton_tasks_failed_total',
    'Tasks failed for good (attempts spent or not retryable), by category.',
    'category',
  );
  const requeued = createTally(
    registry,
    'baton_tasks_requeued_total',
    'Attempts that ended without failing the task (lease lapsed, retryable failure), by category.',
    'category',
  );
  const cancelled = createTally(
    registry,
    'baton_tasks_cancelled_total',
    'Tasks cancelled, directly or by a dependency, by category.',
    'category',
  );
  const retried = createTally(
    registry,
    'baton_tasks_retried_total',
    'Failed or cancelled tasks brought back by retry, by category.',
    'category',
  );
  const deleted = createTally(
    registry,
    'baton_tasks_deleted_total',
    'Settled tasks deleted by an operator, one by one or by a purge.',
  );
  const joins = createTally(
    registry,
    'baton_worker_joins_total',
    'Workers that joined (a reconnect counts again).',
  );
  const leaves = createTally(
    registry,
    'baton_worker_leaves_total',
    'Workers that left, by why: disconnected, lease expired, other.',
    'reason',
  );
  const leaseLapses = createTally(
    registry,
    'baton_lease_expiries_total',
    'Worker leases that lapsed while holding tasks (their tasks went back to the queue).',
  );
  const budgetWarnings = createTally(
    registry,
    'baton_budget_warnings_total',
    'Budgets that reached 80 %, by scope (worker or global).',
    'scope',
  );
  const budgetsExceeded = createTally(
    registry,
    'baton_budgets_exceeded_total',
    'Budgets spent, by scope (worker or global).',
    'scope',
  );

  const dispatch = new Histogram({
    name: 'baton_task_dispatch_seconds',
    help: 'From a task becoming ready (added, its last dependency done, requeued or retried) to its assignment.',
    buckets: TASK_BUCKETS,
    registers: [registry],
  });
  const run = new Histogram({
    name: 'baton_task_run_seconds',
    help: 'From a task starting (or, if never started, being assigned) to its completion or final failure.',
    labelNames: ['outcome'],
    buckets: TASK_BUCKETS,
    registers: [registry],
  });
  const runComplete = run.labels({ outcome: 'complete' });
  const runFailed = run.labels({ outcome: 'failed' });

  /**
   * When a task re-entered the queue (requeued or retried): held only until its next assignment
   * or cancellation, so it is as large as the set of re-queued tasks waiting, not the graph.
   */
  const readySince = new Map<string, number>();
  const becameReady = (task: TaskSnapshot): number | undefined => {
    const since = readySince.get(task.id);
    if (since !== undefined) {
      readySince.delete(task.id);
      return since;
    }
    if (task.attempt !== 1) return undefined;
    let at = task.createdAt;
    for (const dep of task.deps) at = Math.max(at, taskQueue.peek(dep)?.finishedAt ?? at);
    return at;
  };
  const ranFor = (task: TaskSnapshot): number =>
    ((task.finishedAt ?? task.updatedAt) - (task.startedAt ?? task.assignedAt ?? task.createdAt)) / 1000;

  const offs = [
    events.on('coord:task-added', ({ task }) => added.add(task.category)),
    events.on('coord:assigned', ({ task }) => {
      assigned.add(task.category);
      const since = becameReady(task);
      if (since !== undefined && task.assignedAt !== null) dispatch.observe((task.assignedAt - since) / 1000);
    }),
    events.on('coord:task-complete', ({ task }) => {
      completed.add(task.category);
      runComplete.observe(ranFor(task));
    }),
    events.on('coord:task-failed', ({ task }) => {
      failed.add(task.category);
      runFailed.observe(ranFor(task));
    }),
    events.on('coord:task-requeued', ({ task }) => {
      requeued.add(task.category);
      readySince.set(task.id, task.updatedAt);
    }),
    events.on('coord:task-cancelled', ({ task }) => {
      cancelled.add(task.category);
      readySince.delete(task.id);
    }),
    events.on('coord:task-retried', ({ task }) => {
      retried.add(task.category);
      readySince.set(task.id, task.updatedAt);
    }),
    events.on('coord:task-deleted', () => deleted.add()),
    events.on('coord:tasks-purged', ({ purged }) => deleted.add('', purged)),
    events.on('coord:worker-joined', () => joins.add()),
    events.on('coord:worker-left', ({ reason }) => {
      const known = reason === 'disconnected' || reason === 'lease expired';
      leaves.add(known ? reason : 'other');
      if (reason === 'lease expired') leaseLapses.add();
    }),
    events.on('coord:budget-warning', ({ scope }) => budgetWarnings.add(scope)),
    events.on('coord:budget-exceeded', ({ scope }) => budgetsExceeded.add(scope)),
  ];
  return () => {
    for (const off of offs) off();
  };
}
