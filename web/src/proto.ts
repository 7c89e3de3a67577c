// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through this file only, and nothing else of Baton's (test/architecture/walls.test.ts).
export {
  CoordinatorService,
  type GetStatusResponse,
} from '../../src/gen/coord/v1/coordinator_pb.js';
export { type Event, EventKind } from '../../src/gen/coord/v1/events_pb.js';
export {
  LifecycleState,
  type RateLimitStatus,
  type Spend,
  WorkerState,
  type WorkerStatus,
} from '../../src/gen/coord/v1/status_pb.js';
export { type Task, TaskStatus } from '../../src/gen/coord/v1/task_pb.js';
export {
  type Conflict,
  type MergeEntry,
  MergeState,
  type Workspace,
  WorkspaceService,
} from '../../src/gen/coord/v1/workspace_pb.js';
