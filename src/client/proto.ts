/**
 * The client's one door to generated code: everything the SDKs use from src/gen, re-exported, so
 * a regeneration or a move of the generated files touches one line here rather than every module.
 */
export {
  BudgetScope,
  type Error as BatonErrorDetail,
  ErrorCode,
  ErrorSchema,
} from '../gen/coord/v1/common_pb.js';
export {
  type CancelTaskResponse,
  CoordinatorService,
  type GetStatusResponse,
  type ListTasksResponse,
  type RetryTaskResponse,
} from '../gen/coord/v1/coordinator_pb.js';
export {
  type AllCompleteEvent,
  type BudgetEvent,
  type Event,
  EventKind,
  type LifecycleEvent,
  type WorkerJoinedEvent,
  type WorkerLeftEvent,
} from '../gen/coord/v1/events_pb.js';
export {
  type RateDecision,
  type RateDecisionSchema,
  RateLimitService,
  type RateRequest,
  type RateRequestSchema,
  type RateWelcome,
} from '../gen/coord/v1/rate_limit_pb.js';
export {
  AssignmentStrategy,
  type CostStatus,
  LifecycleState,
  type Progress,
  type RateLimitStatus,
  type Spend,
  WorkerState,
  type WorkerStatus,
} from '../gen/coord/v1/status_pb.js';
export { type Task, type TaskSpec, TaskStatus } from '../gen/coord/v1/task_pb.js';
export {
  type Assignment,
  type CoordinatorMessage,
  type CoordinatorMessageSchema,
  type Report,
  type WorkerMessage,
  type WorkerMessageSchema,
  WorkerService,
} from '../gen/coord/v1/worker_pb.js';
export {
  type Conflict,
  type MergeEntry,
  MergeState,
  type Workspace,
  WorkspaceService,
} from '../gen/coord/v1/workspace_pb.js';
