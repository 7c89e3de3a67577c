import type { Now } from './clock.js';
import { createDueSet } from './due-set.js';
import { BatonError, failedPrecondition, invalidArgument, notFound } from './errors.js';
import { IntrusiveList } from './intrusive-list.js';
import { DEFAULT_LIMITS } from './limits.js';
import { createPathLocks } from './path-locks.js';
import { createReadySet } from './ready-set.js';
import {
  backoffDelay,
  DEFAULT_RETRY_BACKOFF,
  normalizeBackoff,
  type RetryBackoff,
  type RetryBackoffSpec,
} from './retry-backoff.js';
import { isTerminal, TASK_STATUSES, type TaskSnapshot, type TaskSpec, type TaskStatus } from './task.js';
import {
  type DependencyGraph,
  type GraphValidation,
  levelsOf,
  topologicalOrder,
  validateGraph,
} from './task-graph.js';
import {
  type PurgeFilter,
  type PurgeOutcome,
  SETTLED_STATUSES,
  selectPurge,
  settledLeaf,
} from './task-purge.js';
import { parseQueueJson } from './task-queue-json.js';
import { runsBefore, TaskRecord } from './task-record.js';
import {
  batchField,
  cycleError,
  fieldPath,
  freezeJson,
  type NormalizedSpec,
  normalizeSpec,
  orderBatch,
  type SpecLengths,
} from './task-spec.js';

export interface TaskQueueOptions {
  readonly now: Now;
  /** Default for specs that do not set `maxAttempts`. */
  readonly defaultMaxAttempts?: number;
  /** Defaults for the fields of `retryBackoff` a spec leaves out (see core/retry-backoff.ts). */
  readonly defaultRetryBackoff?: RetryBackoffSpec;
  /** How long a new task's id and category may be (default: DEFAULT_LIMITS). */
  readonly lengths?: SpecLengths;
  /** Called after every change to a task (removal included): what a store uses to find dirty rows. */
  readonly onChange?: (id: string) => void;
}

/** Who claims to hold a task: reports that name a stale attempt are rejected (fencing). */
export interface Fence {
  readonly workerId: string;
  readonly attempt: number;
}

export type Progress = Record<TaskStatus, number> & {
  readonly total: number;
  readonly ready: number;
  /** Complete tasks as a share of all tasks, 0–100. */
  readonly percent: number;
};

/** What a failure or lease lapse did. */
export interface ReleaseOutcome {
  readonly task: TaskSnapshot;
  /** True when the task went back to pending to be run again. */
  readonly requeued: boolean;
  /** Dependents cancelled by the cascade when the task failed for good. */
  readonly cancelled: readonly string[];
}

export interface TaskQueueJson {
  readonly version: 1;
  readonly nextSeq: number;
  readonly tasks: readonly (TaskSnapshot & { readonly seq: number; readonly attemptFloor: number })[];
}

export interface TaskQueue {
  readonly size: number;
  add(spec: TaskSpec): TaskSnapshot;
  /** All or nothing: deps may point anywhere in the batch, in any order. */
  addMany(specs: readonly TaskSpec[]): TaskSnapshot[];
  /**
   * Deletes a settled (complete, failed or cancelled) task that no other task depends on, and
   * every index entry of it, and returns its last snapshot. Refused (failed-precondition, naming
   * the task and its dependents) while it is pending, assigned or running, or while any task,
   * settled or not, lists it in its deps: a settled dependent can still be retried, which needs
   * its deps. Delete the dependents first, or purge them together.
   */
  remove(id: string): TaskSnapshot;
  /**
   * Deletes the settled tasks that finished before a time, except those that a task staying
   * behind depends on (see `selectPurge`). Never refused for what it keeps.
   */
  purge(filter: PurgeFilter): PurgeOutcome;
  get(id: string): TaskSnapshot | undefined;
  /**
   * The live task, typed read-only: for hot paths that must not copy. Do not keep it. `holder`,
   * when the caller knows which worker holds the task (a fenced report), lets it be found among
   * that worker's few tasks instead of probing the index of all of them.
   */
  peek(id: string, holder?: string): TaskSnapshot | undefined;
  /** Workers currently holding assigned or running tasks. */
  holders(): IterableIterator<string>;
  has(id: string): boolean;
  getAll(filter?: { status?: TaskStatus }): TaskSnapshot[];
  /**
   * Live tasks in insertion order, `seq` increasing (a restore keeps it), typed read-only and not
   * copied: for paging through big queues. A page can resume after the last `seq` it showed,
   * which stays right when tasks before it are deleted meanwhile.
   */
  iterate(): IterableIterator<TaskSnapshot & { readonly seq: number }>;
  getByWorker(workerId: string): TaskSnapshot[];
  countByWorker(workerId: string): number;
  /** Pending tasks whose deps are all complete: highest priority first, FIFO within a priority. */
  getReady(limit?: number): TaskSnapshot[];
  readyCount(): number;
  /**
   * The earliest not-before time of a task that is ready but for it (a `runAt`, a retry backoff):
   * when to look again. Such a task joins the ready set by itself once `now()` reaches it.
   */
  nextDueAt(): number | undefined;
  /** The retry backoff of specs that give none (the coordinator's default). */
  readonly defaultRetryBackoff: RetryBackoff;
  /** The id of the task that should run next, optionally only among some categories. */
  peekReady(categories?: Iterable<string>): string | undefined;
  /**
   * The id of the best ready task whose category `accept` allows (`strict`: tasks that require a
   * worker listing the category). `accept` is asked only about categories whose best task would
   * beat the best found so far: O(categories), no allocation.
   */
  peekReadyWhere(accept: (category: string, strict: boolean) => boolean): string | undefined;
  /**
   * Says why the ready tasks of a category (those that require a capable worker when `strict`,
   * else the others) wait, or with null that nothing in particular holds them: what the assigner
   * tells about tasks it may not place. Every one of them shows it as `waitingFor`, in O(1).
   * Live state, like a path wait: not stored.
   */
  explainWait(category: string, strict: boolean, reason: string | null): void;
  /** Categories that have ready tasks, best first. */
  readyCategories(): string[];
  /**
   * The transitions below return the live task, typed read-only and not copied (a million-task
   * drive makes three of them per task): read it at once, or `get(id)` a copy to keep.
   */
  assign(id: string, workerId: string): TaskSnapshot;
  start(id: string, fence?: Fence): TaskSnapshot;
  complete(id: string, result?: unknown, fence?: Fence): TaskSnapshot;
  /** Fails for good (cascade-cancelling dependents), unless `retryable` and attempts remain. */
  fail(id: string, error: string, fence?: Fence, options?: { retryable?: boolean }): ReleaseOutcome;
  /** A lapsed lease: back to pending, or failed once `maxAttempts` assignments were used. */
  requeue(id: string, reason: string, fence?: Fence): ReleaseOutcome;
  /** Cancels a task and every non-terminal transitive dependent. Returns the ids it cancelled. */
  cancel(id: string): string[];
  /** Failed/cancelled back to pending, with the dependents its cascade cancelled. Returns their ids. */
  retry(id: string): string[];
  topologicalSort(): string[];
  getLevels(): string[][];
  /** Checks the current graph, or a proposed batch against it without applying anything. */
  validate(specs?: readonly TaskSpec[]): GraphValidation;
  getDependencyGraph(): DependencyGraph;
  getProgress(): Progress;
  /** True when there is at least one task and none is pending, assigned or running. */
  allTerminal(): boolean;
  toJSON(): TaskQueueJson;
  /** One task as `toJSON` would write it: what a store upserts for a changed task. */
  rowOf(id: string): TaskQueueJson['tasks'][number] | undefined;
  /** The insertion counter a store must keep so that restored FIFO order continues. */
  readonly nextSeq: number;
  /** Replaces the whole queue with a `toJSON` image; invalid input throws and changes nothing. */
  fromJSON(json: TaskQueueJson): void;
  clear(): void;
}

const DEFAULT_MAX_ATTEMPTS = 3;

/** Up to this many held tasks, a worker's set is scanned before the index of all tasks. */
const HELD_SCAN_LIMIT = 8;

export function createTaskQueue(options: TaskQueueOptions): TaskQueue {
  const { now } = options;
  const defaultMaxAttempts = options.defaultMaxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const defaultBackoff = normalizeBackoff(options.defaultRetryBackoff, DEFAULT_RETRY_BACKOFF, 'retryBackoff');
  const lengths = options.lengths ?? DEFAULT_LIMITS;
  const changed = options.onChange ?? (() => {});
  const tasks = new Map<string, TaskRecord>();
  const ready = createReadySet();
  const due = createDueSet();
  const byWorker = new Map<string, IntrusiveList<TaskRecord>>();
  const counts: Record<TaskStatus, number> = {
    pending: 0,
    assigned: 0,
    running: 0,
    complete: 0,
    failed: 0,
    cancelled: 0,
  };
  let nextSeq = 0;
  const locks = createPathLocks();
  /** Holder id → the ready tasks waiting for it to let go of a path (`TaskRecord.parkedOn`). */
  const parked = new Map<string, Set<TaskRecord>>();

  /**
   * The last task found by id. An assignment or a report usually names the same task twice in a
   * row (peek, then act), and at a million tasks each Map probe is a cache miss. Cleared by
   * `drop` and `clear`, the only ways a record leaves `tasks`.
   */
  let lastFound: TaskRecord | undefined;
  const find = (id: string, holder?: string): TaskRecord | undefined => {
    if (lastFound !== undefined && lastFound.id === id) return lastFound;
    if (holder !== undefined) {
      // A report names its worker: its few held tasks are hot in cache, the big Map is not.
      const held = byWorker.get(holder);
      if (held !== undefined && held.size <= HELD_SCAN_LIMIT) {
        for (let task = held.first; task !== null; task = task.next) {
          if (task.id === id) {
            lastFound = task;
            return task;
          }
        }
      }
    }
    const task = tasks.get(id);
    if (task !== undefined) lastFound = task;
    return task;
  };

  const lookup = (id: string, field = 'id', holder?: string): TaskRecord => {
    const task = find(id, holder);
    if (task === undefined) throw notFound(`task ${id} not found`, { field, taskId: id });
    return task;
  };

  /**
   * Workers' held lists are kept when they empty (a worker that finishes its only task gets the
   * next one at once: no Map churn per task) and swept out once there are over a thousand empty
   * ones and twice as many as held ones: O(1) amortized, and bounded for fleets whose worker ids
   * come and go.
   */
  let emptyHeld = 0;
  const sweepEmptyHeld = (): void => {
    for (const [workerId, held] of byWorker) if (held.size === 0) byWorker.delete(workerId);
    emptyHeld = 0;
  };

  /** Moves the task to `workerId`'s held list (or out of any); `task.workerId` is still the old holder. */
  const holdBy = (task: TaskRecord, workerId: string | null): void => {
    const from = task.list;
    if (from !== null) {
      from.remove(task);
      if (from.size === 0 && ++emptyHeld > 1024 && emptyHeld > 2 * (byWorker.size - emptyHeld)) {
        sweepEmptyHeld();
      }
    }
    if (workerId !== null) {
      let held = byWorker.get(workerId);
      if (held === undefined) {
        held = new IntrusiveList();
        byWorker.set(workerId, held);
      } else if (held.size === 0) {
        emptyHeld--;
      }
      held.push(task);
    }
  };

  /** Takes a parked task out of its holder's list; it is not in the ready heap either. */
  const unpark = (task: TaskRecord): void => {
    const waiters = parked.get(task.parkedOn as string) as Set<TaskRecord>;
    waiters.delete(task);
    if (waiters.size === 0) parked.delete(task.parkedOn as string);
    task.parkedOn = null;
    task.waitingFor = null;
  };

  /** A holder that lets go of its paths: the tasks that waited for it are ready again. */
  const releasePaths = (holder: TaskRecord): void => {
    locks.release(holder.id);
    const waiters = parked.get(holder.id);
    if (waiters === undefined) return;
    parked.delete(holder.id);
    for (const task of waiters) {
      task.parkedOn = null;
      task.waitingFor = null;
      ready.add(task);
    }
  };

  /**
   * Whether a ready task must wait for a path another task holds; if so it leaves the heap and
   * waits in the holder's list until that one lets go. Checked when the task comes to the top
   * (not when a holder takes its paths), so each wait costs one move, never a scan.
   */
  const parkIfBlocked = (task: TaskRecord): boolean => {
    if (task.paths.length === 0 || locks.size === 0) return false;
    const conflict = locks.conflict(task.paths, task.id);
    if (conflict === undefined) return false;
    ready.remove(task);
    task.parkedOn = conflict.holder;
    task.waitingFor = `path ${conflict.wanted} overlaps ${conflict.held}, held by task ${conflict.holder}`;
    const waiters = parked.get(conflict.holder);
    if (waiters === undefined) parked.set(conflict.holder, new Set([task]));
    else waiters.add(task);
    return true;
  };

  /**
   * A pending task whose deps are all complete: ready, or due later when its not-before time has
   * not come (it waits in the due set, saying until when, and joins the ready set then).
   */
  const enqueueReady = (task: TaskRecord, at: number): void => {
    const notBefore = task.notBefore;
    if (notBefore === null || notBefore <= at) {
      ready.add(task);
      return;
    }
    const when = new Date(notBefore).toISOString();
    const failed = task.attemptsUsed;
    task.waitingFor =
      failed === 0
        ? `scheduled: not before ${when}`
        : `retry backoff after ${failed} failed attempt${failed === 1 ? '' : 's'}: not before ${when}`;
    due.add(task);
  };

  /** Moves the tasks whose not-before time has come into the ready set: before every look at it. */
  const promoteDue = (): void => {
    if (due.size === 0) return;
    const at = now();
    for (let task = due.takeDue(at); task !== undefined; task = due.takeDue(at)) {
      task.waitingFor = null;
      ready.add(task);
    }
  };

  /** The one place a status changes: keeps counts, the ready set, the worker index and path locks right. */
  const setStatus = (task: TaskRecord, status: TaskStatus, at: number): void => {
    const holding = status === 'assigned' || status === 'running';
    if (task.paths.length > 0) {
      if (task.parkedOn !== null) unpark(task);
      const held = task.status === 'assigned' || task.status === 'running';
      if (held && !holding) releasePaths(task);
      else if (!held && holding) locks.acquire(task.id, task.paths);
    }
    if (!holding) holdBy(task, null);
    // A wait explained while pending ends with it.
    if (status !== 'pending') task.waitingFor = null;
    counts[task.status]--;
    counts[status]++;
    task.status = status;
    task.updatedAt = at;
    if (status === 'pending' && task.pendingDeps === 0) enqueueReady(task, at);
    else if (!ready.remove(task) && task.dueIndex >= 0) due.remove(task);
    changed(task.id);
  };

  /**
   * A report with a fence must come from the current holder of the current attempt; anything
   * else (an old attempt, a lapsed lease, a task cancelled meanwhile) is stale and changes
   * nothing. Without a fence (an operator acting) only the status must allow it.
   */
  const checkFence = (task: TaskRecord, fence: Fence | undefined, verb: string): void => {
    const holding = task.status === 'assigned' || task.status === 'running';
    // Attempts only grow and each assignment is a new one, so a worker naming the current attempt
    // (or a later one) of a task another worker holds never held that attempt: not a stale report
    // but someone else's task, which no retry of the report will make right.
    if (holding && fence !== undefined && fence.workerId !== task.workerId && fence.attempt >= task.attempt) {
      throw new BatonError(
        'permission-denied',
        `task ${task.id} attempt ${task.attempt} is held by another worker, not by ${fence.workerId}`,
        { taskId: task.id, field: 'task_id' },
      );
    }
    if (
      fence !== undefined &&
      (!holding || fence.attempt !== task.attempt || fence.workerId !== task.workerId)
    ) {
      const now = holding ? `attempt ${task.attempt} is held by ${task.workerId}` : `it is ${task.status}`;
      throw new BatonError(
        'aborted',
        `stale report for task ${task.id}: attempt ${fence.attempt} by ${fence.workerId}, but ${now}`,
        { taskId: task.id, field: 'attempt', data: { currentAttempt: task.attempt, status: task.status } },
      );
    }
    if (!holding)
      throw failedPrecondition(`cannot ${verb} task ${task.id}: it is ${task.status}`, { taskId: task.id });
  };

  /** The first dep that is failed or cancelled: what keeps a task from ever running. */
  const blockerOf = (task: TaskRecord): TaskRecord | undefined => {
    for (const depId of task.deps) {
      const dep = tasks.get(depId) as TaskRecord;
      if (dep.status === 'failed' || dep.status === 'cancelled') return dep;
    }
    return undefined;
  };

  /** Cancels every non-terminal transitive dependent of `root`, marking them as its cascade. */
  const cascade = (root: TaskRecord, at: number): string[] => {
    const cancelled: string[] = [];
    const stack: TaskRecord[] = [root];
    while (stack.length > 0) {
      const task = stack.pop() as TaskRecord;
      for (const dependent of task.dependents ?? []) {
        if (isTerminal(dependent.status)) continue;
        dependent.cancelledBy = root.id;
        dependent.finishedAt = at;
        setStatus(dependent, 'cancelled', at);
        cancelled.push(dependent.id);
        stack.push(dependent);
      }
    }
    return cancelled;
  };

  /** Creates a batch task in the map, so that listing order is the order it was given in. */
  const create = (spec: NormalizedSpec, seq: number, at: number): TaskRecord => {
    const task = new TaskRecord(spec, seq, at);
    tasks.set(task.id, task);
    counts.pending++;
    return task;
  };

  /** Wires a created task to its deps; called deps-first so a dep's final status is known. */
  const link = (task: TaskRecord, at: number): void => {
    for (const depId of task.deps) {
      const dep = tasks.get(depId) as TaskRecord;
      if (dep.status !== 'complete') task.pendingDeps++;
      if (dep.dependents === null) dep.dependents = [task];
      else dep.dependents.push(task);
    }
    const blockedBy = blockerOf(task);
    if (blockedBy !== undefined) {
      // A new dependent of a failed or cancelled task joins that task's cascade, so that
      // retrying the root brings it back too.
      task.cancelledBy = blockedBy.cancelledBy ?? blockedBy.id;
      task.finishedAt = at;
      setStatus(task, 'cancelled', at);
    } else {
      if (task.pendingDeps === 0) enqueueReady(task, at);
      changed(task.id);
    }
  };

  /**
   * Examines a proposed batch: bad fields, duplicate ids, unknown deps, and the cycle among the
   * tasks that are otherwise sound. With `all` false it stops at the first problem (what `addMany`
   * refuses with); `validate` lists them all. When there is none, `normalized` is the batch in the
   * order given and `order` the same specs deps first.
   */
  const examineBatch = (
    specs: readonly TaskSpec[],
    all: boolean,
    fieldOf: (i: number) => string = batchField,
  ): { problems: BatonError[]; normalized?: NormalizedSpec[]; order?: NormalizedSpec[] } => {
    if (!Array.isArray(specs))
      return { problems: [invalidArgument('tasks must be an array', { field: 'tasks' })] };
    const problems: BatonError[] = [];
    const normalized: NormalizedSpec[] = [];
    /** Position of each normalized spec in `specs`, for the field names of errors. */
    const positions: number[] = [];
    for (const [i, spec] of specs.entries()) {
      try {
        normalized.push(normalizeSpec(spec, fieldOf(i), defaultMaxAttempts, 'new', defaultBackoff, lengths));
        positions.push(i);
      } catch (error) {
        if (!(error instanceof BatonError)) throw error;
        problems.push(error);
        if (!all) return { problems };
      }
    }
    const inBatch = new Set<string>();
    for (const [k, spec] of normalized.entries()) {
      if (tasks.has(spec.id) || inBatch.has(spec.id)) {
        problems.push(
          new BatonError('already-exists', `task ${spec.id} already exists`, {
            field: fieldPath(fieldOf(positions[k] as number), 'id'),
            taskId: spec.id,
          }),
        );
        if (!all) return { problems };
      }
      inBatch.add(spec.id);
    }
    for (const [k, spec] of normalized.entries()) {
      const unknown = spec.deps.filter((d) => !tasks.has(d) && !inBatch.has(d));
      if (unknown.length > 0) {
        problems.push(
          invalidArgument(`task ${spec.id} depends on unknown task(s): ${unknown.join(', ')}`, {
            field: fieldPath(fieldOf(positions[k] as number), 'deps'),
            taskId: spec.id,
            data: { unknownDeps: unknown },
          }),
        );
        if (!all) return { problems };
      }
    }
    const ordered = orderBatch(normalized);
    if ('cycle' in ordered) return { problems: [...problems, cycleError(ordered.cycle)] };
    return problems.length > 0 ? { problems } : { problems, normalized, order: ordered.order };
  };

  const addMany = (specs: readonly TaskSpec[], fieldOf?: (i: number) => string): TaskSnapshot[] => {
    const { problems, normalized, order } = examineBatch(specs, false, fieldOf);
    if (normalized === undefined || order === undefined) throw problems[0] as BatonError;
    // Validation is complete: from here nothing throws, so the batch applies whole.
    const at = now();
    const seqBase = nextSeq;
    nextSeq += normalized.length;
    const created = normalized.map((spec, i) => create(spec, seqBase + i, at));
    for (const spec of order) link(tasks.get(spec.id) as TaskRecord, at);
    return created.map((task) => task.snapshot());
  };

  /** `backoff`: a retryable failure waits its backoff; a lapsed lease (the worker is gone) does not. */
  const release = (
    task: TaskRecord,
    at: number,
    retry: boolean,
    error: string,
    backoff: boolean,
  ): ReleaseOutcome => {
    task.error = error;
    if (retry && task.attemptsUsed < task.maxAttempts) {
      const wait = backoff ? backoffDelay(task.retryBackoff, task.attemptsUsed, task.id, task.attempt) : 0;
      task.notBefore = wait === 0 ? null : at + wait;
      setStatus(task, 'pending', at);
      return { task: task.snapshot(), requeued: true, cancelled: [] };
    }
    task.finishedAt = at;
    setStatus(task, 'failed', at);
    return { task: task.snapshot(), requeued: false, cancelled: cascade(task, at) };
  };

  /**
   * A snapshot with the two fields a restore needs set on it. Spreading the snapshot into a new
   * object instead took V8 about 150 times as long (~4.5 µs a row, 17 fields), and every commit
   * makes a row for each task it writes.
   */
  const rowOf = (t: TaskRecord): TaskQueueJson['tasks'][number] => {
    const row = t.snapshot() as TaskSnapshot & { seq: number; attemptFloor: number };
    row.seq = t.seq;
    row.attemptFloor = t.attemptFloor;
    // A wait is live state, found again after a restart: not a fact to store.
    (row as { waitingFor: string | null }).waitingFor = null;
    return row;
  };

  /**
   * Takes settled tasks out of the queue and of every index: the dependents lists of their deps
   * that stay (each rebuilt once, however many of its dependents go), the counts, the lookup
   * cache. A settled task holds no worker slot, no path lock, no place in the ready set and no
   * parking spot, so nothing else refers to it. The caller guarantees that no remaining task
   * depends on one that goes.
   */
  const drop = (gone: ReadonlySet<TaskRecord>): void => {
    const touched = new Set<TaskRecord>();
    for (const task of gone) {
      for (const depId of task.deps) {
        const dep = tasks.get(depId) as TaskRecord;
        if (!gone.has(dep)) touched.add(dep);
      }
    }
    for (const dep of touched) {
      const rest = (dep.dependents as TaskRecord[]).filter((d) => !gone.has(d));
      dep.dependents = rest.length === 0 ? null : rest;
    }
    for (const task of gone) {
      counts[task.status]--;
      tasks.delete(task.id);
      changed(task.id);
    }
    if (lastFound !== undefined && gone.has(lastFound)) lastFound = undefined;
  };

  const snapshots = (records: Iterable<TaskRecord>): TaskSnapshot[] =>
    Array.from(records, (t) => t.snapshot());

  const queue: TaskQueue = {
    get size() {
      return tasks.size;
    },
    // A single task is the whole request: its errors name `deps`, not `tasks[0].deps`.
    add: (spec) => addMany([spec], () => '')[0] as TaskSnapshot,
    addMany: (specs) => addMany(specs),
    remove(id) {
      const task = lookup(id);
      if (!settledLeaf(task)) {
        if (!isTerminal(task.status)) {
          throw failedPrecondition(
            `cannot delete task ${id}: it is ${task.status}; only a ${SETTLED_STATUSES.join(', ')} task can be deleted (cancel it first)`,
            { taskId: id, data: { status: task.status } },
          );
        }
        const dependents = (task.dependents as TaskRecord[]).map((d) => d.id);
        const named = (task.dependents as TaskRecord[]).map((d) => `${d.id} (${d.status})`);
        throw failedPrecondition(
          `cannot delete task ${id}: ${named.join(', ')} depend(s) on it; delete those first, or purge them together`,
          { taskId: id, data: { dependents } },
        );
      }
      const snapshot = task.snapshot();
      drop(new Set([task]));
      return snapshot;
    },
    purge(filter) {
      const { purge, kept } = selectPurge(tasks.values(), (depId) => tasks.get(depId) as TaskRecord, filter);
      drop(purge);
      return { purged: purge.size, kept };
    },
    get: (id) => find(id)?.snapshot(),
    peek: (id, holder) => find(id, holder),
    *holders() {
      for (const [workerId, held] of byWorker) if (held.size > 0) yield workerId;
    },
    has: (id) => tasks.has(id),
    getAll(filter) {
      const status = filter?.status;
      if (status === undefined) return snapshots(tasks.values());
      const out: TaskSnapshot[] = [];
      for (const task of tasks.values()) if (task.status === status) out.push(task.snapshot());
      return out;
    },
    iterate: () => tasks.values(),
    getByWorker: (workerId) => snapshots(byWorker.get(workerId) ?? []),
    countByWorker: (workerId) => byWorker.get(workerId)?.size ?? 0,
    getReady(limit) {
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
        throw invalidArgument('limit must be a non-negative integer', { field: 'limit' });
      }
      promoteDue();
      return snapshots(ready.top(limit ?? ready.size));
    },
    readyCount() {
      promoteDue();
      return ready.size;
    },
    nextDueAt: () => due.nextDueAt(),
    defaultRetryBackoff: defaultBackoff,
    peekReady(categories) {
      promoteDue();
      let best: TaskRecord | undefined;
      do {
        if (categories === undefined) best = ready.best();
        else {
          best = undefined;
          for (const category of categories) {
            const candidate = ready.bestOf(category);
            if (candidate === undefined) continue;
            if (best === undefined || runsBefore(candidate, best)) best = candidate;
          }
        }
      } while (best !== undefined && parkIfBlocked(best));
      // The caller looks the task up next (to read its category, then to assign it).
      if (best !== undefined) lastFound = best;
      return best?.id;
    },
    peekReadyWhere(accept) {
      promoteDue();
      let best: TaskRecord | undefined;
      do best = ready.bestWhere(accept);
      while (best !== undefined && parkIfBlocked(best));
      if (best !== undefined) lastFound = best;
      return best?.id;
    },
    readyCategories() {
      promoteDue();
      return ready.categories();
    },
    explainWait: (category, strict, reason) => ready.explain(category, strict, reason),
    assign(id, workerId) {
      const task = lookup(id);
      if (typeof workerId !== 'string' || workerId.length === 0) {
        throw invalidArgument('workerId must be a non-empty string', { field: 'workerId', taskId: id });
      }
      if (task.status !== 'pending' || task.pendingDeps > 0) {
        const why =
          task.status === 'pending' ? `${task.pendingDeps} dep(s) are not complete` : `it is ${task.status}`;
        throw failedPrecondition(`cannot assign task ${id}: ${why}`, { taskId: id });
      }
      const conflict = task.paths.length > 0 ? locks.conflict(task.paths, task.id) : undefined;
      if (conflict !== undefined) {
        throw failedPrecondition(
          `cannot assign task ${id}: path ${conflict.wanted} overlaps ${conflict.held}, held by task ${conflict.holder}`,
          { taskId: id, field: 'paths', data: { holder: conflict.holder, held: conflict.held } },
        );
      }
      const at = now();
      task.attempt++;
      task.assignedAt = at;
      task.startedAt = null;
      task.notBefore = null;
      task.error = null;
      // A worker took a task of this heap: whatever kept its tasks from every worker is over.
      if (task.waitNote !== null) task.waitNote.reason = null;
      holdBy(task, workerId);
      task.workerId = workerId;
      setStatus(task, 'assigned', at);
      return task;
    },
    start(id, fence) {
      const task = lookup(id, 'id', fence?.workerId);
      checkFence(task, fence, 'start');
      if (task.status === 'running') return task;
      const at = now();
      task.startedAt = at;
      setStatus(task, 'running', at);
      return task;
    },
    complete(id, result, fence) {
      const task = lookup(id, 'id', fence?.workerId);
      checkFence(task, fence, 'complete');
      const frozen = result === undefined ? null : freezeJson(result, 'result');
      const at = now();
      task.result = frozen;
      task.finishedAt = at;
      setStatus(task, 'complete', at);
      for (const dependent of task.dependents ?? []) {
        dependent.pendingDeps--;
        if (dependent.pendingDeps === 0 && dependent.status === 'pending') enqueueReady(dependent, at);
      }
      return task;
    },
    fail(id, error, fence, failOptions) {
      const task = lookup(id, 'id', fence?.workerId);
      checkFence(task, fence, 'fail');
      if (typeof error !== 'string')
        throw invalidArgument('error must be a string', { field: 'error', taskId: id });
      return release(task, now(), failOptions?.retryable === true, error, true);
    },
    requeue(id, reason, fence) {
      const task = lookup(id, 'id', fence?.workerId);
      checkFence(task, fence, 'requeue');
      return release(task, now(), true, reason, false);
    },
    cancel(id) {
      const task = lookup(id);
      if (task.status === 'complete') {
        throw failedPrecondition(`cannot cancel task ${id}: it is already complete`, { taskId: id });
      }
      const at = now();
      const cancelled: string[] = [];
      if (!isTerminal(task.status)) {
        task.cancelledBy = null;
        task.finishedAt = at;
        setStatus(task, 'cancelled', at);
        cancelled.push(id);
      }
      // A failed root stays failed; its dependents are still cancelled.
      cancelled.push(...cascade(task, at));
      return cancelled;
    },
    retry(id) {
      const task = lookup(id);
      if (task.status !== 'failed' && task.status !== 'cancelled') {
        throw failedPrecondition(`cannot retry task ${id}: it is ${task.status}, not failed or cancelled`, {
          taskId: id,
        });
      }
      const blocked = task.deps.filter((d) => {
        const status = (tasks.get(d) as TaskRecord).status;
        return status === 'failed' || status === 'cancelled';
      });
      if (blocked.length > 0) {
        throw failedPrecondition(
          `cannot retry task ${id}: retry its failed or cancelled dep(s) first: ${blocked.join(', ')}`,
          {
            taskId: id,
            data: { blockedBy: blocked },
          },
        );
      }
      const at = now();
      const restore = (t: TaskRecord): void => {
        t.cancelledBy = null;
        t.error = null;
        t.finishedAt = null;
        t.attemptFloor = t.attempt;
        // A retry starts over: no backoff, but a schedule still holds.
        t.notBefore = t.runAt;
        setStatus(t, 'pending', at);
      };
      restore(task);
      // The tasks this one's cascade cancelled: each is a dependent of the root or of another one.
      const members = new Map<TaskRecord, number>();
      const stack: TaskRecord[] = [task];
      while (stack.length > 0) {
        for (const dependent of (stack.pop() as TaskRecord).dependents ?? []) {
          if (dependent.status !== 'cancelled' || dependent.cancelledBy !== id) continue;
          if (members.has(dependent)) continue;
          members.set(dependent, 0);
          stack.push(dependent);
        }
      }
      // Deps first (Kahn's algorithm inside the cascade), so each member sees its deps' final status.
      // A member that some other failed or cancelled task still blocks stays cancelled, now in that
      // task's cascade: pending behind a dep that cannot complete, it would wait forever.
      const order: TaskRecord[] = [];
      for (const member of members.keys()) {
        let inCascade = 0;
        for (const depId of member.deps) if (members.has(tasks.get(depId) as TaskRecord)) inCascade++;
        members.set(member, inCascade);
        if (inCascade === 0) order.push(member);
      }
      const restored = [id];
      for (let head = 0; head < order.length; head++) {
        const member = order[head] as TaskRecord;
        const blocker = blockerOf(member);
        if (blocker === undefined) {
          restore(member);
          restored.push(member.id);
        } else {
          member.cancelledBy = blocker.cancelledBy ?? blocker.id;
          member.updatedAt = at;
          changed(member.id);
        }
        for (const dependent of member.dependents ?? []) {
          const left = members.get(dependent);
          if (left === undefined) continue;
          members.set(dependent, left - 1);
          if (left === 1) order.push(dependent);
        }
      }
      return restored;
    },
    topologicalSort: () => topologicalOrder(tasks.values()),
    getLevels: () => levelsOf(tasks.values()),
    validate(specs) {
      if (specs === undefined) return validateGraph(tasks);
      const { problems } = examineBatch(specs, true);
      return {
        valid: problems.length === 0,
        errors: problems.map((p) => ({
          message: p.message,
          ...(p.field === undefined ? {} : { field: p.field }),
          ...(p.taskId === undefined ? {} : { taskId: p.taskId }),
          ...(p.data ?? {}),
        })),
      };
    },
    getDependencyGraph() {
      const nodes = Array.from(tasks.values(), (t) => ({
        id: t.id,
        status: t.status,
        priority: t.priority,
        category: t.category,
      }));
      const edges: { from: string; to: string }[] = [];
      for (const t of tasks.values()) for (const dep of t.deps) edges.push({ from: dep, to: t.id });
      return { nodes, edges };
    },
    getProgress() {
      promoteDue();
      const total = tasks.size;
      return {
        ...counts,
        total,
        ready: ready.size,
        percent: total === 0 ? 0 : Math.round((counts.complete / total) * 10000) / 100,
      };
    },
    allTerminal: () => tasks.size > 0 && counts.pending + counts.assigned + counts.running === 0,
    toJSON() {
      return {
        version: 1,
        nextSeq,
        tasks: Array.from(tasks.values(), rowOf),
      };
    },
    rowOf(id) {
      const task = tasks.get(id);
      return task === undefined ? undefined : rowOf(task);
    },
    get nextSeq() {
      return nextSeq;
    },
    fromJSON(json) {
      const records = parseQueueJson(json, defaultMaxAttempts, defaultBackoff);
      // Listing and paging go by insertion order: keep it whatever order the image lists them in.
      if (records.some((t, i) => i > 0 && (records[i - 1] as TaskRecord).seq > t.seq)) {
        records.sort((a, b) => a.seq - b.seq);
      }
      queue.clear();
      nextSeq = json.nextSeq;
      for (const task of records) tasks.set(task.id, task);
      for (const task of records) {
        for (const depId of task.deps) {
          const dep = tasks.get(depId) as TaskRecord;
          if (dep.status !== 'complete') task.pendingDeps++;
          if (dep.dependents === null) dep.dependents = [task];
          else dep.dependents.push(task);
        }
      }
      const at = now();
      for (const task of records) {
        counts[task.status]++;
        if (task.status === 'assigned' || task.status === 'running') {
          holdBy(task, task.workerId);
          locks.acquire(task.id, task.paths);
        }
        if (task.status === 'pending' && task.pendingDeps === 0) enqueueReady(task, at);
        changed(task.id);
      }
    },
    clear() {
      for (const id of tasks.keys()) changed(id);
      tasks.clear();
      lastFound = undefined;
      ready.clear();
      due.clear();
      locks.clear();
      parked.clear();
      byWorker.clear();
      emptyHeld = 0;
      for (const status of TASK_STATUSES) counts[status] = 0;
      nextSeq = 0;
    },
  };
  return queue;
}
