/**
 * Baton's client SDKs: the worker (one session stream to the coordinator, with reconnection and
 * report resending), the rate-limit stream it uses for acquire(), and the operators' admin client.
 * Everything a program needs is exported here so that nothing has to reach into src/gen.
 */

export { keepProtoKeysAsData } from '../wire/proto-keys.js';
export {
  type AdminClient,
  type AdminClientOptions,
  type CascadeResult,
  createAdminClient,
  type EventKindName,
  eventKindName,
  type NewTask,
  type PurgeFilter,
  type PurgeResult,
  resultOf,
  type TaskFilter,
  type TaskPage,
  type TaskStatusName,
  taskStatusName,
  type WatchOptions,
} from './admin.js';
export type { ReconnectOptions } from './backoff.js';
export type { ConnectionOptions } from './connection.js';
export { batonErrorDetail, connectErrorFromDetail, fatalSessionCodes, isFatalSessionEnd } from './errors.js';
export {
  AssignmentStrategy,
  type BatonErrorDetail,
  BudgetScope,
  type Conflict,
  type CostStatus,
  ErrorCode,
  type Event,
  EventKind,
  type GetStatusResponse,
  LifecycleState,
  type MergeEntry,
  MergeState,
  type Progress,
  type RateLimitStatus,
  type Spend,
  type Task,
  TaskStatus,
  WorkerState,
  type WorkerStatus,
  type Workspace,
} from './proto.js';
export {
  type AcquireOptions,
  createRateLimitClient,
  type RateLimitClient,
  type RateLimitClientOptions,
  type RateLimits,
  type RateWaitInfo,
  type Reservation,
  type Settlement,
} from './rate-limit-client.js';
export type { ReportOutcome } from './report-ledger.js';
export {
  type CostReport,
  createWorker,
  RetryableError,
  type StopOptions,
  type TaskContext,
  type TaskHandler,
  type WelcomeInfo,
  type Worker,
  type WorkerEvent,
  type WorkerOptions,
  type WorkerRunState,
  type WorkerTask,
  type WorkerWorkspace,
} from './worker.js';
export type {
  ConflictReport,
  MergeRequest,
  WorkspaceAdmin,
  WorkspaceList,
  WorkspaceRemoval,
} from './workspace-admin.js';
