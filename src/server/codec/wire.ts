// codec/: wire <-> core translation: generated messages, JSON/protobuf conversions, error mapping.
// Imports src/core, src/gen and src/wire; runtime/ and workspaces/ for types only (test/architecture/walls.test.ts).
import { create, fromJson, type JsonObject, type JsonValue } from '@bufbuild/protobuf';
import {
  type Timestamp,
  timestampFromMs,
  timestampMs,
  type Value,
  ValueSchema,
} from '@bufbuild/protobuf/wkt';
import type { BudgetScopeStatus, CostStatus as CoreCostStatus } from '../../core/cost-aggregator.js';
import type { BatonError } from '../../core/errors.js';
import type { BudgetScope as CoreBudgetScope } from '../../core/events.js';
import type { CoordinatorState } from '../../core/lifecycle.js';
import type { RateLimiterStatus } from '../../core/rate-limiter.js';
import type { RetryBackoff as CoreRetryBackoff, RetryBackoffSpec } from '../../core/retry-backoff.js';
import type {
  TaskSpec as CoreTaskSpec,
  TaskStatus as CoreTaskStatus,
  TaskSnapshot,
} from '../../core/task.js';
import type { Progress as CoreProgress } from '../../core/task-queue.js';
import type { AssignmentStrategy as CoreStrategy } from '../../core/work-assigner.js';
import type { WorkerInfo } from '../../core/worker-pool.js';
import {
  AssignmentStrategy,
  BudgetScope,
  type CostStatus,
  CostStatusSchema,
  ErrorCode,
  ErrorSchema,
  LifecycleState,
  type Progress,
  ProgressSchema,
  type RateLimitStatus,
  RateLimitStatusSchema,
  type RetryBackoff,
  RetryBackoffSchema,
  type Spend,
  SpendSchema,
  type Task,
  TaskSchema,
  type TaskSpec,
  TaskStatus,
  type Error as WireError,
  WorkerState,
  type WorkerStatus,
  WorkerStatusSchema,
} from './proto.js';

/** Core ⇄ wire translations. Every handler goes through these: one mapping per concept. */

const TASK_STATUS: Record<CoreTaskStatus, TaskStatus> = {
  pending: TaskStatus.PENDING,
  assigned: TaskStatus.ASSIGNED,
  running: TaskStatus.RUNNING,
  complete: TaskStatus.COMPLETE,
  failed: TaskStatus.FAILED,
  cancelled: TaskStatus.CANCELLED,
};

const CORE_STATUS = new Map<TaskStatus, CoreTaskStatus>(
  Object.entries(TASK_STATUS).map(([k, v]) => [v, k as CoreTaskStatus]),
);
export const coreStatus = (status: TaskStatus): CoreTaskStatus | undefined => CORE_STATUS.get(status);

export const LIFECYCLE: Record<CoordinatorState, LifecycleState> = {
  init: LifecycleState.INIT,
  running: LifecycleState.RUNNING,
  draining: LifecycleState.DRAINING,
  drained: LifecycleState.DRAINED,
  stopped: LifecycleState.STOPPED,
};

export const STRATEGY: Record<CoreStrategy, AssignmentStrategy> = {
  'round-robin': AssignmentStrategy.ROUND_ROBIN,
  capability: AssignmentStrategy.CAPABILITY,
  'work-stealing': AssignmentStrategy.WORK_STEALING,
};

export const BUDGET_SCOPE: Record<CoreBudgetScope, BudgetScope> = {
  worker: BudgetScope.WORKER,
  global: BudgetScope.GLOBAL,
};

const WORKER_STATE: Record<WorkerInfo['status'], WorkerState> = {
  idle: WorkerState.IDLE,
  busy: WorkerState.BUSY,
  draining: WorkerState.DRAINING,
  stopped: WorkerState.STOPPED,
  offline: WorkerState.OFFLINE,
};

const ERROR_CODE: Record<BatonError['code'], ErrorCode> = {
  'invalid-argument': ErrorCode.INVALID_ARGUMENT,
  'not-found': ErrorCode.NOT_FOUND,
  'already-exists': ErrorCode.ALREADY_EXISTS,
  'failed-precondition': ErrorCode.FAILED_PRECONDITION,
  aborted: ErrorCode.ABORTED,
  'permission-denied': ErrorCode.PERMISSION_DENIED,
  'resource-exhausted': ErrorCode.RESOURCE_EXHAUSTED,
  'out-of-range': ErrorCode.OUT_OF_RANGE,
  unavailable: ErrorCode.UNAVAILABLE,
};

export const timestamp = (ms: number | null | undefined): Timestamp | undefined =>
  ms === null || ms === undefined ? undefined : timestampFromMs(ms);

const jsonToValue = (json: unknown): Value | undefined =>
  json === null || json === undefined ? undefined : fromJson(ValueSchema, json as JsonValue);

/**
 * A `google.protobuf.Value` as JSON, undefined when absent. A Value with no kind set (what
 * `Value()` is in Python or Go) reads as null, at any depth, as it does inside metadata:
 * protobuf-es's `toJson` refuses to write one, which made a worker's report an internal error.
 */
export function valueToJson(value: Value | undefined): JsonValue | undefined {
  if (value === undefined) return undefined;
  const { kind } = value;
  switch (kind.case) {
    case undefined:
    case 'nullValue':
      return null;
    case 'numberValue':
    case 'stringValue':
    case 'boolValue':
      return kind.value;
    case 'structValue': {
      const out: JsonObject = {};
      for (const [key, field] of Object.entries(kind.value.fields)) out[key] = valueToJson(field) ?? null;
      return out;
    }
    case 'listValue':
      return kind.value.values.map((item) => valueToJson(item) ?? null);
  }
}

export function taskToWire(t: TaskSnapshot): Task {
  return create(TaskSchema, {
    id: t.id,
    deps: [...t.deps],
    priority: t.priority,
    category: t.category,
    metadata: t.metadata as JsonObject,
    status: TASK_STATUS[t.status],
    workerId: t.workerId ?? '',
    attempt: t.attempt,
    maxAttempts: t.maxAttempts,
    result: jsonToValue(t.result),
    error: t.error ?? '',
    cancelledBy: t.cancelledBy ?? '',
    createdAt: timestamp(t.createdAt),
    updatedAt: timestamp(t.updatedAt),
    assignedAt: timestamp(t.assignedAt),
    startedAt: timestamp(t.startedAt),
    finishedAt: timestamp(t.finishedAt),
    paths: [...t.paths],
    land: t.land,
    runAt: timestamp(t.runAt),
    notBefore: timestamp(t.notBefore),
    retryBackoff: backoffToWire(t.retryBackoff),
    requireCapability: t.requireCapability,
    waitingFor: t.waitingFor ?? '',
  });
}

const backoffToWire = (b: CoreRetryBackoff): RetryBackoff =>
  create(RetryBackoffSchema, { initialMs: b.initialMs, maxMs: b.maxMs, multiplier: b.multiplier });

/** Only the fields that were set: the others take the coordinator's defaults. */
const backoffFromWire = (b: RetryBackoff): RetryBackoffSpec => ({
  ...(b.initialMs === undefined ? {} : { initialMs: b.initialMs }),
  ...(b.maxMs === undefined ? {} : { maxMs: b.maxMs }),
  ...(b.multiplier === undefined ? {} : { multiplier: b.multiplier }),
});

/** Not before: a Timestamp between two milliseconds waits for the later one. */
const notBeforeMs = (ts: Timestamp): number => Math.ceil(timestampMs(ts));

export function specFromWire(spec: TaskSpec): CoreTaskSpec {
  return {
    id: spec.id,
    deps: spec.deps,
    priority: spec.priority,
    category: spec.category,
    ...(spec.metadata === undefined ? {} : { metadata: spec.metadata }),
    ...(spec.maxAttempts === undefined ? {} : { maxAttempts: spec.maxAttempts }),
    ...(spec.paths.length === 0 ? {} : { paths: spec.paths }),
    ...(spec.land ? { land: true } : {}),
    ...(spec.requireCapability ? { requireCapability: true } : {}),
    ...(spec.runAt === undefined ? {} : { runAt: notBeforeMs(spec.runAt) }),
    ...(spec.delayMs === undefined ? {} : { delayMs: spec.delayMs }),
    ...(spec.retryBackoff === undefined ? {} : { retryBackoff: backoffFromWire(spec.retryBackoff) }),
  };
}

export const progressToWire = (p: CoreProgress): Progress =>
  create(ProgressSchema, {
    total: p.total,
    pending: p.pending,
    assigned: p.assigned,
    running: p.running,
    complete: p.complete,
    failed: p.failed,
    cancelled: p.cancelled,
    ready: p.ready,
    percentComplete: p.percent,
  });

export const workerToWire = (w: WorkerInfo, leaseExpiresAt: number | undefined): WorkerStatus =>
  create(WorkerStatusSchema, {
    workerId: w.id,
    state: WORKER_STATE[w.status],
    capabilities: [...w.capabilities],
    labels: { ...w.labels },
    maxConcurrency: w.maxConcurrency,
    running: w.running,
    joinedAt: timestamp(w.joinedAt),
    leaseExpiresAt: timestamp(leaseExpiresAt),
  });

/** Whole units only on the wire: a bucket in debt reads as empty. */
const count = (n: number): number => Math.max(0, Math.floor(n));

export const rateLimitToWire = (s: RateLimiterStatus): RateLimitStatus =>
  create(RateLimitStatusSchema, {
    maxRequestsPerMinute: s.capacity.requests,
    maxTokensPerMinute: s.capacity.tokens,
    availableRequests: count(s.available.requests),
    availableTokens: count(s.available.tokens),
    queueLength: s.queueLength,
    outstandingReservations: s.outstandingReservations,
    workers: s.workers.map((w) => ({
      workerId: w.workerId,
      requests: BigInt(w.requests),
      tokens: BigInt(count(w.tokens)),
      denials: BigInt(w.denials),
    })),
  });

const spend = (scope: BudgetScopeStatus, inputTokens: number, outputTokens: number): Spend =>
  create(SpendSchema, {
    spentUsd: scope.spentUsd,
    ...(scope.budgetUsd === null ? {} : { budgetUsd: scope.budgetUsd }),
    ...(scope.remainingUsd === null ? {} : { remainingUsd: scope.remainingUsd }),
    warning: scope.warning,
    exceeded: scope.exceeded,
    inputTokens: BigInt(inputTokens),
    outputTokens: BigInt(outputTokens),
  });

export const costsToWire = (s: CoreCostStatus, warningThreshold: number): CostStatus =>
  create(CostStatusSchema, {
    global: spend(s.global, s.inputTokens, s.outputTokens),
    workers: s.workers.map((w) => ({
      workerId: w.workerId,
      spend: spend(w.budget, w.inputTokens, w.outputTokens),
    })),
    warningThreshold,
    ...(s.budgets.perWorkerUsd === null ? {} : { perWorkerBudgetUsd: s.budgets.perWorkerUsd }),
  });

export const errorToWire = (e: BatonError): WireError =>
  create(ErrorSchema, {
    code: ERROR_CODE[e.code],
    message: e.message,
    field: e.field ?? '',
    taskId: e.taskId ?? '',
    ...(e.data === undefined ? {} : { data: JSON.parse(JSON.stringify(e.data)) as JsonObject }),
  });
