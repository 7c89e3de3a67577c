import { invalidArgument } from './errors.js';
import type { EventBus } from './event-bus.js';
import type { CoordEvents } from './events.js';
import type { TaskSnapshot } from './task.js';
import type { TaskQueue } from './task-queue.js';
import type { WorkerInfo, WorkerPool } from './worker-pool.js';

/**
 * - `round-robin`: each task to the next worker with a free slot, in turn.
 * - `capability`: a task of category C to the least-loaded worker listing C; when no online
 *   worker lists C, to the least-loaded worker of all (the seed's fallback). Tasks without a
 *   category go anywhere.
 * - `work-stealing`: idle workers first, then the least loaded.
 *
 * Strict capability mode (`requireCapability`, for the whole coordinator or one task) narrows
 * every strategy to the workers listing the task's category and drops the fallback: a task of
 * category C never goes to a worker without C; it waits, saying why, until one can take it.
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
  /** True when strict capability mode is on for every task (see `WorkAssignerOptions`). */
  readonly requireCapability: boolean;
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
  /**
   * Strict capability mode for every task: never give a task of category C to a worker that does
   * not list C, whatever the strategy. Default false: a task's own `requireCapability` decides.
   */
  readonly requireCapability?: boolean;
}

/** Fewer running tasks first; between equals, the one that has waited longest (pool order). */
function leastLoaded(
  pool: WorkerPool,
  category: string,
  accept: (w: WorkerInfo, category: string) => boolean,
): WorkerInfo | undefined {
  let best: WorkerInfo | undefined;
  for (let w = pool.nextAvailable(); w !== undefined; w = pool.nextAvailable(w)) {
    if (!accept(w, category)) continue;
    if (w.running === 0) return w;
    if (best === undefined || w.running < best.running) best = w;
  }
  return best;
}

const anyWorker = (): boolean => true;

/** The first available worker, in round-robin order, that `accept` allows. */
function nextInTurn(
  pool: WorkerPool,
  category: string,
  accept: (w: WorkerInfo, category: string) => boolean,
): WorkerInfo | undefined {
  for (let w = pool.nextAvailable(); w !== undefined; w = pool.nextAvailable(w)) {
    if (accept(w, category)) return w;
  }
  return undefined;
}

/** What a strict task that no connected worker may take says while it waits. */
export const noCapableWorker = (category: string): string =>
  `no connected worker lists category ${category}, and requireCapability keeps it from the others`;

export function createWorkAssigner(options: WorkAssignerOptions): WorkAssigner {
  const { pool, taskQueue, events } = options;
  const strategy = options.strategy ?? 'capability';
  const requireAll = options.requireCapability === true;
  if (!ASSIGNMENT_STRATEGIES.includes(strategy)) {
    throw invalidArgument(`strategy must be one of ${ASSIGNMENT_STRATEGIES.join(', ')}`, {
      field: 'strategy',
    });
  }
  const registered = new Map<string, ReadonlySet<string>>();
  /** Category → workers registered with it. A registration may name a worker that is not connected. */
  const registeredBy = new Map<string, Set<string>>();

  const capabilitiesOf = (w: WorkerInfo): ReadonlySet<string> => registered.get(w.id) ?? w.capabilities;
  const canRun = (w: WorkerInfo, category: string): boolean => capabilitiesOf(w).has(category);
  const takesWork = (w: WorkerInfo | undefined): boolean =>
    w !== undefined && (w.status === 'idle' || w.status === 'busy');
  /**
   * True when some connected worker taking work may run `category`, registered capabilities
   * replacing a worker's own: only then does a task wait for a capable worker rather than fall
   * back. Without registrations this is the pool's O(1) count.
   */
  const anyoneCan = (category: string): boolean => {
    if (registered.size === 0) return pool.hasCapability(category);
    for (const id of registeredBy.get(category) ?? []) if (takesWork(pool.get(id))) return true;
    if (!pool.hasCapability(category)) return false;
    // Some worker reports it: check that it is not only workers whose registration replaces it.
    for (const w of pool.list()) {
      if (!registered.has(w.id) && takesWork(w) && w.capabilities.has(category)) return true;
    }
    return false;
  };

  /** `strict`: the task's own requireCapability; the coordinator's applies to every task. */
  const chooseWorker = (category: string, strict: boolean): WorkerInfo | undefined => {
    if (category !== '' && (strict || requireAll)) {
      return strategy === 'round-robin'
        ? nextInTurn(pool, category, canRun)
        : leastLoaded(pool, category, canRun);
    }
    switch (strategy) {
      case 'round-robin':
        return pool.nextAvailable();
      case 'work-stealing':
        return leastLoaded(pool, category, anyWorker);
      case 'capability':
        if (category === '' || !anyoneCan(category)) return leastLoaded(pool, category, anyWorker);
        return leastLoaded(pool, category, canRun);
    }
  };

  const place = (taskId: string, workerId: string): Assignment => {
    taskQueue.assign(taskId, workerId);
    // The assignment outlives this turn (the proceed message is sent after the commit): a copy.
    const task = taskQueue.get(taskId) as TaskSnapshot;
    pool.occupy(workerId);
    const assignment = { task, workerId };
    events?.emit('coord:assigned', assignment);
    return assignment;
  };

  /**
   * A category's tasks no available worker may take: under strict mode, say so when no connected
   * worker lists the category at all (capable workers that are busy are the usual wait).
   */
  const explainRefusal = (category: string, strict: boolean): void => {
    if (category === '' || !(strict || requireAll)) return;
    taskQueue.explainWait(category, strict, anyoneCan(category) ? null : noCapableWorker(category));
  };

  const assignNext = (): Assignment | undefined => {
    if (pool.availableCount === 0) return undefined;
    const bestId = taskQueue.peekReady();
    if (bestId === undefined) return undefined;
    const best = taskQueue.peek(bestId) as TaskSnapshot;
    const bestCategory = best.category;
    const bestStrict = best.requireCapability;
    const worker = chooseWorker(bestCategory, bestStrict);
    if (worker !== undefined) return place(bestId, worker.id);
    explainRefusal(bestCategory, bestStrict);
    // Only a capability rule can refuse the best task (its workers are all busy, or none may take
    // it): take the best task among the other categories that some available worker may take.
    const nextId = taskQueue.peekReadyWhere((c, strict) => {
      if (c === bestCategory && strict === (bestStrict && c !== '')) return false;
      if (chooseWorker(c, strict) !== undefined) return true;
      explainRefusal(c, strict);
      return false;
    });
    if (nextId === undefined) return undefined;
    const next = taskQueue.peek(nextId) as TaskSnapshot;
    return place(nextId, (chooseWorker(next.category, next.requireCapability) as WorkerInfo).id);
  };

  return {
    strategy,
    requireCapability: requireAll,
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
      for (const c of registered.get(workerId) ?? []) {
        const ids = registeredBy.get(c) as Set<string>;
        ids.delete(workerId);
        if (ids.size === 0) registeredBy.delete(c);
      }
      const set = new Set(categories);
      registered.set(workerId, set);
      for (const c of set) {
        const ids = registeredBy.get(c);
        if (ids === undefined) registeredBy.set(c, new Set([workerId]));
        else ids.add(workerId);
      }
    },
  };
}
