/** The CLI's one door to the generated schemas it prints as JSON. */
export {
  BatchAddTasksResponseSchema,
  CancelTaskResponseSchema,
  GetStatusResponseSchema,
  PurgeTasksResponseSchema,
  RetryTaskResponseSchema,
} from '../../gen/coord/v1/coordinator_pb.js';
export { EventSchema } from '../../gen/coord/v1/events_pb.js';
export { CostStatusSchema, ProgressSchema, RateLimitStatusSchema } from '../../gen/coord/v1/status_pb.js';
export { TaskSchema } from '../../gen/coord/v1/task_pb.js';
