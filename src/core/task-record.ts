import type { IntrusiveList, ListNode } from './intrusive-list.js';
import type { Metadata, TaskSnapshot, TaskStatus } from './task.js';
import type { NormalizedSpec } from './task-spec.js';

/**
 * What a ready heap says of every task in it: why none of them can be placed (a category that no
 * worker may take under requireCapability). One note per heap, so saying it costs O(1) however
 * many tasks wait.
 */
export interface WaitNote {
  reason: string | null;
}

const EMPTY_LIST: readonly string[] = Object.freeze([]);
const EMPTY_METADATA: Metadata = Object.freeze({});

/**
 * The queue's mutable, internal form of a task. A class (not an object literal) so V8 gives all
 * million of them one hidden class and a compact layout; fields that are rarely set start null.
 */
export class TaskRecord implements ListNode<TaskRecord> {
  readonly id: string;
  /** Frozen: shared with snapshots without copying. */
  readonly deps: readonly string[];
  readonly priority: number;
  readonly category: string;
  readonly metadata: Metadata;
  readonly maxAttempts: number;
  /** Frozen, like deps. */
  readonly paths: readonly string[];
  readonly land: boolean;
  readonly requireCapability: boolean;
  /** Insertion order: the FIFO tie-break within a priority. */
  readonly seq: number;
  status: TaskStatus = 'pending';
  workerId: string | null = null;
  attempt = 0;
  /** `attempt` when the task was last retried: attempts used = attempt - attemptFloor. */
  attemptFloor = 0;
  result: unknown = null;
  error: string | null = null;
  cancelledBy: string | null = null;
  readonly createdAt: number;
  updatedAt: number;
  assignedAt: number | null = null;
  startedAt: number | null = null;
  finishedAt: number | null = null;
  /** Deps not yet complete. Zero and pending means ready. */
  pendingDeps = 0;
  /** Tasks that list this one in their deps; null until the first one arrives. */
  dependents: TaskRecord[] | null = null;
  /** The task holding a path this ready task needs: it waits in that task's list, out of the heap. */
  parkedOn: string | null = null;
  waitingFor: string | null = null;
  /** Position in the ready heap, -1 when not in it. */
  heapIndex = -1;
  /** The note of the ready heap holding the task; null when it is not in the ready set. */
  waitNote: WaitNote | null = null;
  /** Links in the list of tasks its worker holds (assigned or running); null when not held. */
  prev: TaskRecord | null = null;
  next: TaskRecord | null = null;
  list: IntrusiveList<TaskRecord> | null = null;

  constructor(spec: NormalizedSpec, seq: number, createdAt: number) {
    this.id = spec.id;
    this.deps = spec.deps.length === 0 ? EMPTY_LIST : Object.freeze(spec.deps.slice());
    this.priority = spec.priority;
    this.category = spec.category;
    this.metadata = Object.keys(spec.metadata).length === 0 ? EMPTY_METADATA : spec.metadata;
    this.maxAttempts = spec.maxAttempts;
    this.land = spec.land;
    this.requireCapability = spec.requireCapability;
    this.paths = spec.paths.length === 0 ? EMPTY_LIST : Object.freeze(spec.paths.slice());
    this.seq = seq;
    this.createdAt = createdAt;
    this.updatedAt = createdAt;
  }

  get attemptsUsed(): number {
    return this.attempt - this.attemptFloor;
  }

  snapshot(): TaskSnapshot {
    return {
      id: this.id,
      deps: this.deps,
      priority: this.priority,
      category: this.category,
      metadata: this.metadata,
      status: this.status,
      workerId: this.workerId,
      attempt: this.attempt,
      maxAttempts: this.maxAttempts,
      result: this.result,
      error: this.error,
      cancelledBy: this.cancelledBy,
      createdAt: this.createdAt,
      updatedAt: this.updatedAt,
      assignedAt: this.assignedAt,
      startedAt: this.startedAt,
      finishedAt: this.finishedAt,
      paths: this.paths,
      land: this.land,
      requireCapability: this.requireCapability,
      waitingFor: this.waitingFor ?? this.waitNote?.reason ?? null,
    };
  }
}

export { EMPTY_METADATA };

/** True when only a worker listing the task's own category may run it (a category-less task runs anywhere). */
export const strictCategory = (task: TaskRecord): boolean => task.requireCapability && task.category !== '';

/** Ready-queue order: higher priority first, then first added first. */
export const runsBefore = (a: TaskRecord, b: TaskRecord): boolean =>
  a.priority > b.priority || (a.priority === b.priority && a.seq < b.seq);
