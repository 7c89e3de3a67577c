import { invalidArgument } from './errors.js';
import type { EventBus } from './event-bus.js';
import type { CoordEvents } from './events.js';
import type { TaskSnapshot } from './task.js';
import type { TaskQueue } from './task-queue.js';
import type { WorkerInfo, WorkerPool } from './worker-pool.js';

/**
 * - `round-robin`: each task to the next worker with a free slot, in turn.
 * - `capability`: a task of category C to the least-loaded worker listing C; when no online
 *   worker lists C, to the least-loaded worker of all. Tasks without a category go anywhere.
 * - `work-stealing`: idle workers first, then the least loaded.
 */
export type AssignmentStrategy = 'round-robin' | 'capability' | 'work-stealing';

export const ASSIGNMENT_STRATEGIES: readonly AssignmentStrategy[] = [
  'round-robin',
  'capability',
  'work-stealing',
];

export interface Assignment {
  readonly task: TaskSnapshot;
  readonly workerId: string;
}

export interface WorkAssigner {
  readonly strategy: AssignmentStrategy;
  /** Assigns the best ready task that some worker may take now. */
  assignNext(): Assignment | undefined;
  /** Assigns until no ready task can be placed or no worker has a free slot. */
  assignAll(limit?: number): Assignment[];
  /** Capabilities for pools whose workers do not report their own; these take precedence. */
  registerCapabilities(workerId: string, categories: readonly string[]): void;
}

export interface WorkAssignerOptions {
  readonly strategy?: AssignmentStrategy;
  readonly pool: WorkerPool;
  readonly taskQueue: TaskQueue;
  readonly events?: EventBus<CoordEvents>;
}

/** Fewer running tasks first; between equals, the one that has waited longest (pool order). */
function leastLoaded(
  workers: Iterable<WorkerInfo>,
  accept: (w: WorkerInfo) => boolean,
): WorkerInfo | undefined {
  let best: WorkerInfo | undefined;
  for (const w of workers) {
    if (!accept(w)) continue;
    if (w.running === 0) return w;
    if (best === undefined || w.running < best.running) best = w;
  }
  return best;
}

export function createWorkAssigner(options: WorkAssignerOptions): WorkAssigner {
  const { pool, taskQueue, events } = options;
  const strategy = options.strategy ?? 'capability';
  if (!ASSIGNMENT_STRATEGIES.includes(strategy)) {
    throw invalidArgument(`strategy must be one of ${ASSIGNMENT_STRATEGIES.join(', ')}`, {
      field: 'strategy',
    });
  }
  const registered = new Map<string, ReadonlySet<string>>();
  const registeredCount = new Map<string, number>();

  const capabilitiesOf = (w: WorkerInfo): ReadonlySet<string> => registered.get(w.id) ?? w.capabilities;
  const anyoneCan = (category: string): boolean =>
    pool.hasCapability(category) || (registeredCount.get(category) ?? 0) > 0;

  const chooseWorker = (category: string): WorkerInfo | undefined => {
    const available = pool.available();
    switch (strategy) {
      case 'round-robin':
        return available[Symbol.iterator]().next().value;
      case 'work-stealing':
        return leastLoaded(available, () => true);
      case 'capability':
        if (category === '' || !anyoneCan(category)) return leastLoaded(available, () => true);
        return leastLoaded(available, (w) => capabilitiesOf(w).has(category));
    }
  };

  const place = (taskId: string, workerId: string): Assignment => {
    const task = taskQueue.assign(taskId, workerId);
    pool.occupy(workerId);
    const assignment = { task, workerId };
    events?.emit('coord:assigned', assignment);
    return assignment;
  };

  const assignNext = (): Assignment | undefined => {
    if (pool.availableCount === 0) return undefined;
    const bestId = taskQueue.peekReady();
    if (bestId === undefined) return undefined;
    const bestCategory = (taskQueue.peek(bestId) as TaskSnapshot).category;
    const worker = chooseWorker(bestCategory);
    if (worker !== undefined) return place(bestId, worker.id);
    // Only the capability strategy can refuse the best task (its workers are all busy): try the
    // best task of each other category, best first.
    for (const category of taskQueue.readyCategories()) {
      if (category === bestCategory) continue;
      const candidate = chooseWorker(category);
      if (candidate !== undefined) return place(taskQueue.peekReady([category]) as string, candidate.id);
    }
    return undefined;
  };

  return {
    strategy,
    assignNext,
    assignAll(limit = Number.POSITIVE_INFINITY) {
      const out: Assignment[] = [];
      while (out.length < limit) {
        const next = assignNext();
        if (next === undefined) break;
        out.push(next);
      }
      return out;
    },
    registerCapabilities(workerId, categories) {
      for (const c of registered.get(workerId) ?? [])
        registeredCount.set(c, (registeredCount.get(c) ?? 1) - 1);
      const set = new Set(categories);
      registered.set(workerId, set);
      for (const c of set) registeredCount.set(c, (registeredCount.get(c) ?? 0) + 1);
    },
  };
}
