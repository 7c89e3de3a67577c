import { createEventBus } from '../../src/core/event-bus.js';
import type { CoordEvents } from '../../src/core/events.js';
import type { TaskSpec } from '../../src/core/task.js';
import { createTaskQueue, type TaskQueue } from '../../src/core/task-queue.js';
import {
  type Assignment,
  type AssignmentStrategy,
  createWorkAssigner,
  type WorkAssigner,
} from '../../src/core/work-assigner.js';
import { createWorkerPool, type MutableWorkerPool, type WorkerJoin } from '../../src/core/worker-pool.js';

/** A pool, a queue and an assigner over them, as the coordinator wires them: for assigner specs. */
export interface AssignerSetup {
  readonly pool: MutableWorkerPool;
  readonly queue: TaskQueue;
  readonly assigner: WorkAssigner;
  readonly assigned: CoordEvents['coord:assigned'][];
}

export const setupAssigner = (
  strategy: AssignmentStrategy,
  workers: readonly WorkerJoin[],
  tasks: readonly TaskSpec[] = [],
  requireCapability = false,
): AssignerSetup => {
  const pool = createWorkerPool();
  for (const w of workers) pool.join(w, 0);
  const queue = createTaskQueue({ now: () => 0 });
  queue.addMany(tasks);
  const events = createEventBus<CoordEvents>();
  const assigned: CoordEvents['coord:assigned'][] = [];
  events.on('coord:assigned', (e) => assigned.push(e));
  const assigner = createWorkAssigner({ strategy, pool, taskQueue: queue, events, requireCapability });
  return { pool, queue, assigner, assigned };
};

export const pairs = (assignments: readonly Assignment[]): string[] =>
  assignments.map((a) => `${a.task.id}@${a.workerId}`);

/** Completes a task the way the coordinator does: in the queue, then frees the worker's slot. */
export const finish = ({ queue, pool }: AssignerSetup, id: string): void => {
  const task = queue.get(id);
  if (task?.workerId == null) throw new Error(`${id} is not held`);
  queue.complete(id, null, { workerId: task.workerId, attempt: task.attempt });
  pool.release(task.workerId);
};
