// runtime/: the running coordinator wired to its store and listeners: group commit, sessions, events.
// Imports src/core, src/wire, codec/ and workspaces/ (test/architecture/walls.test.ts).
import type { Scheduler } from '../../core/clock.js';
import { type Coordinator, type CoordinatorOptions, createCoordinator } from '../../core/coordinator.js';
import { createCostAggregator } from '../../core/cost-aggregator.js';
import { createEventBus } from '../../core/event-bus.js';
import type { CoordEvents } from '../../core/events.js';
import { createLeaseTable } from '../../core/lease.js';
import { DEFAULT_LIMITS } from '../../core/limits.js';
import type { CoordinatorMessage } from '../../core/messages.js';
import { createRateLimiter } from '../../core/rate-limiter.js';
import type { Store, StoreRecord } from '../../core/store.js';
import { createTaskQueue } from '../../core/task-queue.js';
import { createWorkerPool } from '../../core/worker-pool.js';
import { createChangeTracker } from './change-tracker.js';
import { createGroupCommit, type GroupCommit } from './group-commit.js';

export interface OpenCoordinatorOptions extends CoordinatorOptions {
  readonly store: Store;
  readonly now: () => number;
  readonly scheduler: Scheduler;
  /** Delivers a message to a connected worker (after the commit that made it true). */
  readonly send: (workerId: string, message: CoordinatorMessage) => void;
  readonly onStoreError?: (error: unknown) => void;
}

export interface DurableCoordinator {
  readonly coordinator: Coordinator;
  readonly commit: GroupCommit;
  /** True when state was restored from the store rather than started fresh. */
  readonly restored: boolean;
  readonly records: DurableRecords;
}

/**
 * Durable records for the subsystems beside the graph (workspaces, the merge queue): what the
 * store held at start, and writes that ride the same group commit as the coordinator's changes,
 * so `commit.afterCommit` releases an answer only once its record is stored.
 */
export interface DurableRecords {
  /** The records of `kind` as restored from the store when the server started. */
  restored(kind: string): readonly StoreRecord[];
  put(kind: string, id: string, body: unknown): void;
  remove(kind: string, id: string): void;
}

/**
 * Builds the coordinator from the store's last image (or fresh) and wires every change into
 * group commits. Messages to workers go out only after the commit that covers them.
 */
export function openCoordinator(options: OpenCoordinatorOptions): DurableCoordinator {
  const { store, now, scheduler } = options;
  const image = store.load();
  let commit: GroupCommit | undefined;
  const tracker = createChangeTracker(() => commit?.changed());
  commit = createGroupCommit({
    store,
    changes: tracker,
    ...(options.onStoreError === undefined ? {} : { onError: options.onStoreError }),
  });
  const groupCommit = commit;

  const events = createEventBus<CoordEvents>();
  const taskQueue = createTaskQueue({
    now,
    onChange: tracker.taskChanged,
    ...(options.defaultMaxAttempts === undefined ? {} : { defaultMaxAttempts: options.defaultMaxAttempts }),
    ...(options.retryBackoff === undefined ? {} : { defaultRetryBackoff: options.retryBackoff }),
    lengths: { ...DEFAULT_LIMITS, ...options.limits },
  });
  if (image !== undefined) taskQueue.fromJSON(image.tasks);
  const leases = createLeaseTable({ ttlMs: options.leaseTtlMs ?? 30_000, now });
  for (const [workerId, expiresAt] of image?.leases ?? []) leases.restore(workerId, expiresAt);
  const rateLimiter = createRateLimiter({
    maxRequestsPerMinute: options.maxRequestsPerMinute ?? 600,
    maxTokensPerMinute: options.maxTokensPerMinute ?? 1_000_000,
    now,
    ...(image?.rateLimiter ? { initial: image.rateLimiter } : { idPrefix: `r${now().toString(36)}-` }),
  });
  const costAggregator = createCostAggregator({
    events,
    ...(options.globalBudgetUsd === undefined ? {} : { globalBudgetUsd: options.globalBudgetUsd }),
    ...(options.perWorkerBudgetUsd === undefined ? {} : { perWorkerBudgetUsd: options.perWorkerBudgetUsd }),
    ...(image?.costs ? { initial: image.costs } : {}),
  });

  let coordinator: Coordinator | undefined;
  const tracked = tracker.attach({
    taskQueue,
    leases,
    rateLimiter,
    costAggregator,
    events,
    state: () => coordinator?.state ?? image?.state ?? 'init',
  });
  if (image !== undefined) tracker.reset();

  const pool = createWorkerPool({
    send: (workerId, message) => groupCommit.afterCommit(() => options.send(workerId, message)),
  });
  coordinator = createCoordinator({
    events,
    pool,
    taskQueue,
    rateLimiter: tracked.rateLimiter,
    costAggregator: tracked.costAggregator,
    leases: tracked.leases,
    options: { ...options, now, scheduler, initialState: image?.state ?? 'init' },
  });
  // A lease that lapsed while the server was down sends its tasks back to the queue now.
  if (image !== undefined) coordinator.sweepLeases();
  const restoredRecords = image?.records ?? [];
  return {
    coordinator,
    commit: groupCommit,
    restored: image !== undefined,
    records: {
      restored: (kind) => restoredRecords.filter((r) => r.kind === kind),
      put: (kind, id, body) => tracker.record(kind, id, body),
      remove: (kind, id) => tracker.record(kind, id, undefined),
    },
  };
}
