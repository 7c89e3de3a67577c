import { BatonError, invalidArgument, notFound } from './errors.js';
import { IntrusiveList, type ListNode } from './intrusive-list.js';
import type { CoordinatorMessage } from './messages.js';

/** idle/busy: online and taking work; draining/stopped: online, taking none; offline: gone, maybe holding leases. */
export type WorkerStatus = 'idle' | 'busy' | 'draining' | 'stopped' | 'offline';

export interface WorkerInfo {
  readonly id: string;
  readonly capabilities: ReadonlySet<string>;
  readonly labels: Readonly<Record<string, string>>;
  readonly maxConcurrency: number;
  /** Tasks assigned to or running on the worker. */
  readonly running: number;
  /** How many tasks the worker wants to hold (its standing demand, at most maxConcurrency). */
  readonly wanted: number;
  readonly status: WorkerStatus;
  readonly joinedAt: number;
}

/**
 * The workers the assigner may use: the interface the seed's process pool had, fed by the
 * server from connected workers.
 */
export interface WorkerPool {
  get(workerId: string): WorkerInfo | undefined;
  list(): WorkerInfo[];
  /** Online workers taking work with a free slot, least recently given a task first. */
  available(): Iterable<WorkerInfo>;
  /**
   * The available worker after `after` (the first one without it), in the same order as
   * `available()`: walks them without allocating an iterator, as the assigner does per task.
   */
  nextAvailable(after?: WorkerInfo): WorkerInfo | undefined;
  readonly availableCount: number;
  /** True when some online worker that takes work lists the capability. */
  hasCapability(category: string): boolean;
  /** One more task held by the worker; it moves to the back of the round-robin order. */
  occupy(workerId: string): void;
  /** One task fewer. */
  release(workerId: string): void;
  sendTo(workerId: string, message: CoordinatorMessage): void;
}

export interface WorkerJoin {
  readonly id: string;
  readonly capabilities?: readonly string[];
  readonly labels?: Readonly<Record<string, string>>;
  readonly maxConcurrency?: number;
  /** Tasks the worker still holds from before (a reconnect). */
  readonly running?: number;
}

export interface MutableWorkerPool extends WorkerPool {
  join(worker: WorkerJoin, at: number): WorkerInfo;
  /** The worker disconnected; it stays listed as offline while it holds tasks. */
  leave(workerId: string): void;
  /** Draining or budget-stopped workers keep their tasks but get no new ones. */
  setStatus(workerId: string, status: 'draining' | 'stopped' | 'active'): void;
  /**
   * The worker wants `count` more tasks than it holds now: it is kept at that many, refilled as
   * tasks finish, until the next call. 0 pauses assignment (even as held tasks finish) without
   * draining.
   */
  setDemand(workerId: string, count: number): void;
}

export interface WorkerPoolOptions {
  /** Delivers a message to a worker: the server writes it to the worker's stream. */
  readonly send?: (workerId: string, message: CoordinatorMessage) => void;
  readonly maxConcurrencyLimit?: number;
}

/** Live entries double as read-only `WorkerInfo` views, so `available()` allocates nothing. */
class WorkerState implements WorkerInfo, ListNode<WorkerState> {
  capabilities: ReadonlySet<string> = new Set();
  labels: Readonly<Record<string, string>> = {};
  running = 0;
  /** Until the worker says otherwise it wants to be full. */
  wanted: number;
  online = false;
  mode: 'active' | 'draining' | 'stopped' = 'active';
  prev: WorkerState | null = null;
  next: WorkerState | null = null;
  list: IntrusiveList<WorkerState> | null = null;

  constructor(
    readonly id: string,
    public maxConcurrency: number,
    public joinedAt: number,
  ) {
    this.wanted = maxConcurrency;
  }

  get status(): WorkerStatus {
    if (!this.online) return 'offline';
    if (this.mode !== 'active') return this.mode;
    return this.running === 0 ? 'idle' : 'busy';
  }
}

const info = (w: WorkerState): WorkerInfo => ({
  id: w.id,
  capabilities: w.capabilities,
  labels: w.labels,
  maxConcurrency: w.maxConcurrency,
  running: w.running,
  wanted: w.wanted,
  status: w.status,
  joinedAt: w.joinedAt,
});

/**
 * The pool Baton itself uses. It keeps the workers with a free slot incrementally, in a linked
 * list (round-robin is "take the first, move it to the back", with no hashing), and a count of
 * online workers per capability, so the assigner never scans all workers per task.
 */
export function createWorkerPool(options: WorkerPoolOptions = {}): MutableWorkerPool {
  const send = options.send ?? (() => {});
  const limit = options.maxConcurrencyLimit ?? 1024;
  const workers = new Map<string, WorkerState>();
  const available = new IntrusiveList<WorkerState>();
  const capabilityCount = new Map<string, number>();

  const takesWork = (w: WorkerState): boolean => w.online && w.mode === 'active';

  const countCapabilities = (w: WorkerState, delta: 1 | -1): void => {
    for (const c of w.capabilities) {
      const n = (capabilityCount.get(c) ?? 0) + delta;
      if (n === 0) capabilityCount.delete(c);
      else capabilityCount.set(c, n);
    }
  };

  /** Re-derives the worker's membership in the available set and the capability counts. */
  const refresh = (w: WorkerState, wasTakingWork: boolean): void => {
    const taking = takesWork(w);
    if (taking !== wasTakingWork) countCapabilities(w, taking ? 1 : -1);
    if (taking && w.running < Math.min(w.wanted, w.maxConcurrency)) {
      if (!available.has(w)) available.push(w);
    } else {
      available.remove(w);
    }
    if (!w.online && w.running === 0) workers.delete(w.id);
  };

  const lookup = (workerId: string): WorkerState => {
    const w = workers.get(workerId);
    if (w === undefined) throw notFound(`worker ${workerId} is not connected`, { field: 'workerId' });
    return w;
  };

  return {
    get: (workerId) => {
      const w = workers.get(workerId);
      return w === undefined ? undefined : info(w);
    },
    list: () => Array.from(workers.values(), info),
    available: () => available,
    nextAvailable(after) {
      if (after === undefined) return available.first ?? undefined;
      // Entries of `available()` are the states themselves; a copy from `get()` is looked up.
      const state = after instanceof WorkerState ? after : workers.get(after.id);
      return state?.next ?? undefined;
    },
    get availableCount() {
      return available.size;
    },
    hasCapability: (category) => capabilityCount.has(category),
    occupy(workerId) {
      const w = lookup(workerId);
      w.running++;
      // Re-inserting moves the worker to the back: round-robin order for free.
      available.remove(w);
      refresh(w, takesWork(w));
    },
    release(workerId) {
      const w = workers.get(workerId);
      if (w === undefined || w.running === 0) return;
      w.running--;
      refresh(w, takesWork(w));
    },
    sendTo(workerId, message) {
      send(workerId, message);
    },
    join(worker, at) {
      if (typeof worker.id !== 'string' || worker.id.length === 0) {
        throw invalidArgument('worker id must be a non-empty string', { field: 'workerId' });
      }
      const maxConcurrency = worker.maxConcurrency ?? 1;
      if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1 || maxConcurrency > limit) {
        throw invalidArgument(`maxConcurrency must be an integer from 1 to ${limit}`, {
          field: 'maxConcurrency',
        });
      }
      const running = worker.running ?? 0;
      if (!Number.isInteger(running) || running < 0) {
        throw invalidArgument('running must be a non-negative integer', { field: 'running' });
      }
      const existing = workers.get(worker.id);
      if (existing?.online) {
        throw new BatonError('already-exists', `worker ${worker.id} is already connected`, {
          field: 'workerId',
        });
      }
      const w = existing ?? new WorkerState(worker.id, maxConcurrency, at);
      w.capabilities = new Set(worker.capabilities ?? []);
      w.labels = { ...(worker.labels ?? {}) };
      w.maxConcurrency = maxConcurrency;
      w.wanted = maxConcurrency;
      w.running = worker.running ?? w.running;
      w.online = true;
      w.mode = 'active';
      w.joinedAt = at;
      workers.set(w.id, w);
      refresh(w, false);
      return info(w);
    },
    leave(workerId) {
      const w = workers.get(workerId);
      if (w === undefined || !w.online) return;
      const was = takesWork(w);
      w.online = false;
      refresh(w, was);
    },
    setDemand(workerId, count) {
      if (!Number.isInteger(count) || count < 0) {
        throw invalidArgument('count must be a non-negative integer', { field: 'count' });
      }
      const w = lookup(workerId);
      // 0 is a pause, not "keep what I hold": nothing more until the worker asks again.
      w.wanted = count === 0 ? 0 : Math.min(w.maxConcurrency, w.running + count);
      refresh(w, takesWork(w));
    },
    setStatus(workerId, status) {
      const w = lookup(workerId);
      const was = takesWork(w);
      w.mode = status;
      refresh(w, was);
    },
  };
}
