import { isDeepStrictEqual } from 'node:util';
import { expect } from 'chai';
import fc from 'fast-check';
import { createManualClock } from '../../src/core/clock.js';
import { BatonError, type BatonErrorCode } from '../../src/core/errors.js';
import type { TaskSnapshot, TaskSpec, TaskStatus } from '../../src/core/task.js';
import { createTaskQueue, type Fence, type TaskQueue } from '../../src/core/task-queue.js';

/**
 * Model-based properties: random operation sequences run against the queue and against a naive
 * reference model (whole-queue scans everywhere), and after every operation the two must agree.
 */

const WORKERS = ['w0', 'w1', 'w2'] as const;

/** How often the interesting cases came up: the generators must keep reaching them. */
const seen = {
  badBatches: 0,
  cycles: 0,
  cascades: 0,
  retriedCascades: 0,
  stillBlocked: 0,
  removed: 0,
  purged: 0,
  purgeKept: 0,
  ops: 0,
};

interface ModelTask {
  readonly id: string;
  readonly deps: readonly string[];
  readonly priority: number;
  readonly category: string;
  readonly maxAttempts: number;
  readonly seq: number;
  status: TaskStatus;
  workerId: string | null;
  attempt: number;
  attemptFloor: number;
  cancelledBy: string | null;
}

const holding = (status: TaskStatus): boolean => status === 'assigned' || status === 'running';
const terminal = (status: TaskStatus): boolean =>
  status === 'complete' || status === 'failed' || status === 'cancelled';
const blocked = (status: TaskStatus): boolean => status === 'failed' || status === 'cancelled';

class Model {
  readonly tasks = new Map<string, ModelTask>();
  nextSeq = 0;

  get(id: string): ModelTask {
    return this.tasks.get(id) as ModelTask;
  }

  all(): ModelTask[] {
    return Array.from(this.tasks.values());
  }

  dependentsOf(id: string): ModelTask[] {
    return this.all().filter((t) => t.deps.includes(id));
  }

  /** Every task that depends on `id`, directly or not. */
  closure(id: string): ModelTask[] {
    const seen = new Set<string>();
    const todo = [id];
    while (todo.length > 0) {
      for (const d of this.dependentsOf(todo.pop() as string)) {
        if (!seen.has(d.id)) {
          seen.add(d.id);
          todo.push(d.id);
        }
      }
    }
    return this.all().filter((t) => seen.has(t.id));
  }

  ready(): ModelTask[] {
    return this.all()
      .filter((t) => t.status === 'pending' && t.deps.every((d) => this.get(d).status === 'complete'))
      .sort((a, b) => b.priority - a.priority || a.seq - b.seq);
  }

  /** Orders `list` so that every task comes after those of its deps that are also in `list`. */
  depsFirst(list: readonly ModelTask[]): ModelTask[] {
    const inList = new Set(list.map((t) => t.id));
    const done = new Set<string>();
    const out: ModelTask[] = [];
    while (out.length < list.length) {
      for (const t of list) {
        if (!done.has(t.id) && t.deps.every((d) => !inList.has(d) || done.has(d))) {
          done.add(t.id);
          out.push(t);
        }
      }
    }
    return out;
  }

  firstBlocker(t: ModelTask): ModelTask | undefined {
    return t.deps.map((d) => this.get(d)).find((d) => blocked(d.status));
  }

  /** Cancels the non-terminal tasks among `id`'s transitive dependents; returns their ids. */
  cascade(id: string): string[] {
    const hit = this.closure(id).filter((t) => !terminal(t.status));
    for (const t of hit) {
      t.status = 'cancelled';
      t.cancelledBy = id;
    }
    return hit.map((t) => t.id);
  }
}

// ---------------------------------------------------------------------------------------------
// Commands

type BatchMode = 'forward' | 'backward' | 'any' | 'unknown' | 'dup-existing' | 'dup-batch' | 'self' | 'nan';
type FenceMode = 'none' | 'good' | 'stale' | 'wrong-worker';

interface TaskGen {
  readonly priority: number;
  readonly category: string;
  readonly maxAttempts: number;
  readonly existing: readonly number[];
  readonly inBatch: readonly number[];
}

type Command =
  | {
      readonly kind: 'add';
      readonly mode: BatchMode;
      readonly reuse: boolean;
      readonly tasks: readonly TaskGen[];
    }
  | { readonly kind: 'assign'; readonly pick: number; readonly fromReady: boolean; readonly worker: number }
  | {
      readonly kind: 'start' | 'complete' | 'requeue' | 'fail';
      readonly pick: number;
      readonly fromHeld: boolean;
      readonly fence: FenceMode;
      readonly retryable: boolean;
    }
  | { readonly kind: 'cancel' | 'retry' | 'remove'; readonly pick: number; readonly focused: boolean }
  | { readonly kind: 'purge'; readonly pick: number }
  | { readonly kind: 'reload' };

const taskGen: fc.Arbitrary<TaskGen> = fc.record({
  priority: fc.integer({ min: -1, max: 2 }),
  category: fc.constantFrom('', 'x', 'y'),
  maxAttempts: fc.integer({ min: 1, max: 3 }),
  existing: fc.array(fc.nat(), { maxLength: 2 }),
  inBatch: fc.array(fc.nat(), { maxLength: 2 }),
});

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('add' as const),
      mode: fc.oneof(
        { weight: 12, arbitrary: fc.constantFrom<BatchMode>('forward', 'backward') },
        { weight: 2, arbitrary: fc.constant<BatchMode>('any') },
        {
          weight: 5,
          arbitrary: fc.constantFrom<BatchMode>('unknown', 'dup-existing', 'dup-batch', 'self', 'nan'),
        },
      ),
      reuse: fc.boolean(),
      tasks: fc.array(taskGen, { minLength: 1, maxLength: 4 }),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('assign' as const),
      pick: fc.nat(),
      fromReady: fc.oneof(
        { weight: 3, arbitrary: fc.constant(true) },
        { weight: 1, arbitrary: fc.constant(false) },
      ),
      worker: fc.nat({ max: WORKERS.length - 1 }),
    }),
  },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constantFrom(
        'start' as const,
        'complete' as const,
        'complete' as const,
        'requeue' as const,
        'fail' as const,
      ),
      pick: fc.nat(),
      fromHeld: fc.oneof(
        { weight: 3, arbitrary: fc.constant(true) },
        { weight: 1, arbitrary: fc.constant(false) },
      ),
      fence: fc.constantFrom<FenceMode>('good', 'good', 'good', 'none', 'stale', 'wrong-worker'),
      retryable: fc.boolean(),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constantFrom('cancel' as const, 'retry' as const, 'retry' as const, 'remove' as const),
      pick: fc.nat(),
      /** Pick among the tasks the operation applies to, rather than among all. */
      focused: fc.oneof(
        { weight: 3, arbitrary: fc.constant(true) },
        { weight: 1, arbitrary: fc.constant(false) },
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('purge' as const), pick: fc.nat({ max: 40 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reload' as const }) },
);

// ---------------------------------------------------------------------------------------------
// Checks

/** Runs `fn`, returning the BatonError code it threw, or undefined when it succeeded. */
const outcomeOf = <T>(fn: () => T): { value?: T; code?: BatonErrorCode; error?: BatonError } => {
  try {
    return { value: fn() };
  } catch (error) {
    if (!(error instanceof BatonError)) throw error;
    return { code: error.code, error };
  }
};

const sortedIds = (list: readonly { id: string }[]): string[] => list.map((t) => t.id).sort();

const comparable = (t: {
  id: string;
  deps: readonly string[];
  priority: number;
  category: string;
  maxAttempts: number;
  seq: number;
  status: TaskStatus;
  workerId: string | null;
  attempt: number;
  attemptFloor: number;
  cancelledBy: string | null;
}) => ({
  id: t.id,
  deps: [...t.deps],
  priority: t.priority,
  category: t.category,
  maxAttempts: t.maxAttempts,
  seq: t.seq,
  status: t.status,
  workerId: t.workerId,
  attempt: t.attempt,
  attemptFloor: t.attemptFloor,
  cancelledBy: t.cancelledBy,
});

/**
 * The checks below run after every one of thousands of operations: plain comparisons, with chai
 * called only to report a failure (its assertions cost more than the queue operations).
 */
const same = (actual: unknown, expected: unknown, what: string): void => {
  if (!isDeepStrictEqual(actual, expected)) expect(actual, what).to.deep.equal(expected);
};
const check = (ok: boolean, what: string): void => {
  if (!ok) expect.fail(what);
};

function checkAgainstModel(queue: TaskQueue, model: Model, step: number): void {
  const image = queue.toJSON();
  const actual = image.tasks.map(comparable).sort((a, b) => a.seq - b.seq);
  const expected = model
    .all()
    .map(comparable)
    .sort((a, b) => a.seq - b.seq);
  same(actual, expected, 'tasks');
  same(image.nextSeq, model.nextSeq, 'nextSeq');
  const all = queue.getAll();
  const byId = new Map(all.map((t) => [t.id, t]));

  // (a) the ready set is exactly the pending tasks whose deps are complete, in run order.
  const readyTasks = queue.getReady();
  const ready = readyTasks.map((t) => t.id);
  same(
    ready,
    model.ready().map((t) => t.id),
    'getReady()',
  );
  const k = step % (ready.length + 2);
  same(
    queue.getReady(k).map((t) => t.id),
    ready.slice(0, k),
    `getReady(${k})`,
  );
  same(queue.readyCount(), ready.length, 'readyCount');
  same(queue.peekReady(), ready[0], 'peekReady');

  // (b) the topological order contains every task once and puts deps first.
  const order = queue.topologicalSort();
  same([...order].sort(), sortedIds(all), 'topologicalSort contents');
  const position = new Map(order.map((id, i) => [id, i]));
  for (const t of all) {
    for (const d of t.deps)
      check((position.get(d) as number) < (position.get(t.id) as number), `${d} before ${t.id}`);
  }
  const levelOf = new Map<string, number>();
  queue.getLevels().forEach((row, level) => {
    for (const id of row) levelOf.set(id, level);
  });
  same(levelOf.size, all.length, 'tasks in getLevels');
  for (const t of all) {
    const expectedLevel =
      t.deps.length === 0 ? 0 : 1 + Math.max(...t.deps.map((d) => levelOf.get(d) as number));
    same(levelOf.get(t.id), expectedLevel, `level of ${t.id}`);
  }

  // (d) an exact round trip, into a fresh queue that then answers the same.
  const fresh = createTaskQueue({ now: () => 0 });
  fresh.fromJSON(image);
  same(fresh.toJSON(), image, 'round trip');
  same(fresh.getReady(), readyTasks, 'restored getReady');
  same(fresh.getProgress(), queue.getProgress(), 'restored getProgress');

  // (e) progress counts agree with a recount.
  const progress = queue.getProgress();
  for (const status of ['pending', 'assigned', 'running', 'complete', 'failed', 'cancelled'] as const) {
    same(progress[status], all.filter((t) => t.status === status).length, `progress.${status}`);
  }
  same(progress.total, all.length, 'progress.total');
  same(progress.ready, ready.length, 'progress.ready');
  same(queue.allTerminal(), all.length > 0 && all.every((t) => terminal(t.status)), 'allTerminal');

  // (f) the worker index holds exactly the assigned and running tasks of each worker.
  const holders = new Set<string>();
  for (const w of WORKERS) {
    const held = all.filter((t) => holding(t.status) && t.workerId === w);
    if (held.length > 0) holders.add(w);
    same(queue.countByWorker(w), held.length, `countByWorker(${w})`);
    same(sortedIds(queue.getByWorker(w)), sortedIds(held), `getByWorker(${w})`);
  }
  same(new Set(queue.holders()), holders, 'holders');

  // No task is stuck: whatever was ever assigned has complete deps, and nothing waits on a task
  // that failed or was cancelled.
  for (const t of all) {
    const deps = t.deps.map((d) => byId.get(d) as TaskSnapshot);
    if (t.status === 'pending')
      check(!deps.some((d) => blocked(d.status)), `${t.id} pending behind a dead dep`);
    else if (t.status !== 'cancelled')
      check(
        deps.every((d) => d.status === 'complete'),
        `${t.id} ran too early`,
      );
    // A cascade member hangs off its root or off another member of the same cascade.
    if (t.status === 'cancelled' && t.cancelledBy !== null) {
      const root = t.cancelledBy;
      check(
        deps.some(
          (d) => (d.id === root && blocked(d.status)) || (d.status === 'cancelled' && d.cancelledBy === root),
        ),
        `${t.id} in the cascade of ${root}`,
      );
    }
  }
}

/** A cycle path reads in run order: each task is a dep of the next, and it closes on itself. */
function checkCyclePath(cycle: readonly string[], specs: readonly TaskSpec[]): void {
  expect(cycle.length).to.be.greaterThan(2);
  expect(cycle[0]).to.equal(cycle[cycle.length - 1]);
  expect(new Set(cycle).size).to.equal(cycle.length - 1);
  const depsOf = new Map(specs.map((s) => [s.id, s.deps ?? []]));
  for (let i = 0; i + 1 < cycle.length; i++) {
    expect(depsOf.get(cycle[i + 1] as string)).to.include(cycle[i]);
  }
}

// ---------------------------------------------------------------------------------------------
// Running a command on both sides

interface World {
  queue: TaskQueue;
  readonly model: Model;
  readonly clock: ReturnType<typeof createManualClock>;
  nextId: number;
  readonly removed: string[];
}

const pickFrom = <T>(list: readonly T[], pick: number): T | undefined =>
  list.length === 0 ? undefined : list[pick % list.length];

function buildBatch(world: World, cmd: Extract<Command, { kind: 'add' }>): TaskSpec[] {
  const existing = Array.from(world.model.tasks.keys());
  const n = cmd.tasks.length;
  // Now and then a removed task's id comes back: nothing of the old task may linger.
  const reused = cmd.reuse ? world.removed.pop() : undefined;
  const ids = cmd.tasks.map((_, i) => (i === 0 && reused !== undefined ? reused : `t${world.nextId++}`));
  const specs = cmd.tasks.map(
    (g, i): { id: string; deps: string[]; priority: number; category: string; maxAttempts: number } => {
      const deps = new Set<string>();
      for (const e of g.existing) {
        const dep = pickFrom(existing, e);
        if (dep !== undefined) deps.add(dep);
      }
      for (const b of g.inBatch) {
        let j: number | undefined;
        if (cmd.mode === 'backward') j = i === 0 ? undefined : b % i;
        else if (cmd.mode === 'any') j = n === 1 ? undefined : (i + 1 + (b % (n - 1))) % n;
        else j = i + 1 < n ? i + 1 + (b % (n - i - 1)) : undefined;
        if (j !== undefined) deps.add(ids[j] as string);
      }
      return {
        id: ids[i] as string,
        deps: [...deps],
        priority: g.priority,
        category: g.category,
        maxAttempts: g.maxAttempts,
      };
    },
  );
  const victim = specs[specs.length - 1] as (typeof specs)[number];
  switch (cmd.mode) {
    case 'unknown':
      victim.deps.push('ghost');
      break;
    case 'dup-existing': {
      const taken = pickFrom(existing, victim.priority + 1);
      if (taken !== undefined && !specs.some((s) => s.deps.includes(victim.id))) victim.id = taken;
      break;
    }
    case 'dup-batch':
      if (n > 1 && !specs.some((s) => s.deps.includes(victim.id)))
        victim.id = (specs[0] as (typeof specs)[number]).id;
      break;
    case 'self':
      victim.deps.push(victim.id);
      break;
    case 'nan':
      victim.priority = Number.NaN;
      break;
    default:
      break;
  }
  return specs;
}

/** What the model says about a batch: the error code it must be refused with, or undefined. */
function judgeBatch(model: Model, specs: readonly TaskSpec[]): BatonErrorCode | undefined {
  // The queue checks each task alone first, then ids, then deps, then cycles.
  for (const s of specs) {
    if (!Number.isFinite(s.priority) || (s.deps ?? []).includes(s.id)) return 'invalid-argument';
  }
  const ids = new Set<string>();
  for (const s of specs) {
    if (model.tasks.has(s.id) || ids.has(s.id)) return 'already-exists';
    ids.add(s.id);
  }
  for (const s of specs) {
    if ((s.deps ?? []).some((d) => !model.tasks.has(d) && !ids.has(d))) return 'invalid-argument';
  }
  // A cycle: some batch task cannot be ordered after its batch deps.
  const placed = new Set<string>();
  let progress = true;
  while (progress) {
    progress = false;
    for (const s of specs) {
      if (!placed.has(s.id) && (s.deps ?? []).every((d) => !ids.has(d) || placed.has(d))) {
        placed.add(s.id);
        progress = true;
      }
    }
  }
  return placed.size === specs.length ? undefined : 'invalid-argument';
}

function applyBatch(model: Model, specs: readonly TaskSpec[]): void {
  const base = model.nextSeq;
  model.nextSeq += specs.length;
  const pending = specs.map(
    (s, i): ModelTask => ({
      id: s.id,
      deps: s.deps ?? [],
      priority: s.priority ?? 0,
      category: s.category ?? '',
      maxAttempts: s.maxAttempts ?? 3,
      seq: base + i,
      status: 'pending',
      workerId: null,
      attempt: 0,
      attemptFloor: 0,
      cancelledBy: null,
    }),
  );
  for (const t of model.depsFirst(pending)) {
    model.tasks.set(t.id, t);
    const blocker = model.firstBlocker(t);
    if (blocker !== undefined) {
      t.status = 'cancelled';
      t.cancelledBy = blocker.cancelledBy ?? blocker.id;
    }
  }
}

function fenceFor(t: ModelTask, mode: FenceMode): Fence | undefined {
  const workerId = t.workerId ?? 'w0';
  switch (mode) {
    case 'none':
      return undefined;
    case 'good':
      return { workerId, attempt: t.attempt };
    case 'stale':
      return { workerId, attempt: t.attempt - 1 };
    case 'wrong-worker':
      return { workerId: workerId === 'w0' ? 'w1' : 'w0', attempt: t.attempt };
  }
}

/** Requeues a failed attempt or fails it for good, as the model sees it. Returns cascaded ids. */
function releaseInModel(
  model: Model,
  t: ModelTask,
  retry: boolean,
): { requeued: boolean; cancelled: string[] } {
  if (retry && t.attempt - t.attemptFloor < t.maxAttempts) {
    t.status = 'pending';
    return { requeued: true, cancelled: [] };
  }
  t.status = 'failed';
  return { requeued: false, cancelled: model.cascade(t.id) };
}

function step(world: World, cmd: Command): void {
  const { model } = world;
  const queue = world.queue;
  const allIds = Array.from(model.tasks.keys());
  const expectRefusal = (fn: () => unknown, code: BatonErrorCode): void => {
    const before = queue.toJSON();
    const result = outcomeOf(fn);
    expect(result.code, `expected ${code}`).to.equal(code);
    expect(queue.toJSON()).to.deep.equal(before);
  };

  switch (cmd.kind) {
    case 'add': {
      const specs = buildBatch(world, cmd);
      const verdict = judgeBatch(model, specs);
      if (verdict !== undefined) {
        seen.badBatches++;
        const before = queue.toJSON();
        const result = outcomeOf(() => queue.addMany(specs));
        expect(result.code, JSON.stringify(specs)).to.equal(verdict);
        const cycle = result.error?.data?.cycle;
        if (cycle !== undefined) {
          checkCyclePath(cycle as string[], specs);
          seen.cycles++;
        }
        expect(queue.toJSON()).to.deep.equal(before);
        return;
      }
      const added = queue.addMany(specs);
      expect(added.map((t) => t.id)).to.deep.equal(specs.map((s) => s.id));
      applyBatch(model, specs);
      return;
    }
    case 'assign': {
      const id = pickFrom(cmd.fromReady ? model.ready().map((t) => t.id) : allIds, cmd.pick);
      if (id === undefined) return;
      const t = model.get(id);
      const worker = WORKERS[cmd.worker] as string;
      if (t.status !== 'pending' || !t.deps.every((d) => model.get(d).status === 'complete')) {
        expectRefusal(() => queue.assign(id, worker), 'failed-precondition');
        return;
      }
      const snapshot = queue.assign(id, worker);
      t.status = 'assigned';
      t.workerId = worker;
      t.attempt++;
      expect(snapshot.attempt).to.equal(t.attempt);
      return;
    }
    case 'start':
    case 'complete':
    case 'fail':
    case 'requeue': {
      const held = model.all().filter((t) => holding(t.status));
      const id = pickFrom(cmd.fromHeld ? held.map((t) => t.id) : allIds, cmd.pick);
      if (id === undefined) return;
      const t = model.get(id);
      const fence = fenceFor(t, cmd.fence);
      const act = (): unknown => {
        switch (cmd.kind) {
          case 'start':
            return queue.start(id, fence);
          case 'complete':
            return queue.complete(id, { step: id }, fence);
          case 'fail':
            return queue.fail(id, 'boom', fence, { retryable: cmd.retryable });
          case 'requeue':
            return queue.requeue(id, 'lapsed', fence);
        }
      };
      // Someone else's current attempt is not stale but not the reporter's to report.
      if (
        fence !== undefined &&
        holding(t.status) &&
        fence.workerId !== t.workerId &&
        fence.attempt >= t.attempt
      ) {
        expectRefusal(act, 'permission-denied');
        return;
      }
      if (
        fence !== undefined &&
        (!holding(t.status) || fence.attempt !== t.attempt || fence.workerId !== t.workerId)
      ) {
        expectRefusal(act, 'aborted');
        return;
      }
      if (!holding(t.status)) {
        expectRefusal(act, 'failed-precondition');
        return;
      }
      const result = act();
      if (cmd.kind === 'start') t.status = 'running';
      else if (cmd.kind === 'complete') t.status = 'complete';
      else {
        const outcome = releaseInModel(model, t, cmd.kind === 'requeue' || cmd.retryable);
        const actual = result as { requeued: boolean; cancelled: string[] };
        expect(actual.requeued).to.equal(outcome.requeued);
        expect([...actual.cancelled].sort()).to.deep.equal(outcome.cancelled.sort());
      }
      return;
    }
    case 'cancel': {
      const id = pickFrom(
        cmd.focused
          ? model
              .all()
              .filter((t) => !terminal(t.status))
              .map((t) => t.id)
          : allIds,
        cmd.pick,
      );
      if (id === undefined) return;
      const t = model.get(id);
      if (t.status === 'complete') {
        expectRefusal(() => queue.cancel(id), 'failed-precondition');
        return;
      }
      const cancelled = queue.cancel(id);
      // (c) exactly the task (unless already terminal) and its non-terminal transitive dependents.
      const expected: string[] = [];
      if (!terminal(t.status)) {
        t.status = 'cancelled';
        t.cancelledBy = null;
        expected.push(id);
      }
      expected.push(...model.cascade(id));
      if (expected.length > 1) seen.cascades++;
      expect([...cancelled].sort()).to.deep.equal(expected.sort());
      return;
    }
    case 'retry': {
      const retryable = model
        .all()
        .filter((t) => blocked(t.status) && !t.deps.some((d) => blocked(model.get(d).status)));
      const id = pickFrom(cmd.focused ? retryable.map((t) => t.id) : allIds, cmd.pick);
      if (id === undefined) return;
      const t = model.get(id);
      if (!blocked(t.status) || t.deps.some((d) => blocked(model.get(d).status))) {
        expectRefusal(() => queue.retry(id), 'failed-precondition');
        return;
      }
      const restored = queue.retry(id);
      const members = model.all().filter((m) => m.status === 'cancelled' && m.cancelledBy === id);
      const expected = [id];
      const restore = (m: ModelTask): void => {
        m.status = 'pending';
        m.cancelledBy = null;
        m.attemptFloor = m.attempt;
      };
      restore(t);
      for (const m of model.depsFirst(members)) {
        const blocker = model.firstBlocker(m);
        if (blocker === undefined) {
          restore(m);
          expected.push(m.id);
        } else {
          m.cancelledBy = blocker.cancelledBy ?? blocker.id;
          seen.stillBlocked++;
        }
      }
      expect([...restored].sort()).to.deep.equal(expected.sort());
      if (expected.length > 1) seen.retriedCascades++;
      expect(restored[0]).to.equal(id);
      return;
    }
    case 'remove': {
      const deletable = (t: ModelTask) => terminal(t.status) && model.dependentsOf(t.id).length === 0;
      const id = pickFrom(
        cmd.focused
          ? model
              .all()
              .filter(deletable)
              .map((t) => t.id)
          : allIds,
        cmd.pick,
      );
      if (id === undefined) return;
      if (!deletable(model.get(id))) {
        expectRefusal(() => queue.remove(id), 'failed-precondition');
        return;
      }
      expect(queue.remove(id).id).to.equal(id);
      model.tasks.delete(id);
      world.removed.push(id);
      seen.removed++;
      return;
    }
    case 'purge': {
      const finishedBefore = world.clock.now() - cmd.pick;
      const going = new Set(
        model
          .all()
          .filter((t) => terminal(t.status) && (queue.get(t.id)?.finishedAt as number) < finishedBefore)
          .map((t) => t.id),
      );
      const matched = going.size;
      // Naively: drop any task a staying task depends on, until nothing changes.
      for (let again = true; again; ) {
        again = false;
        for (const id of going) {
          if (model.dependentsOf(id).some((d) => !going.has(d.id))) {
            going.delete(id);
            again = true;
          }
        }
      }
      same(queue.purge({ finishedBefore }), { purged: going.size, kept: matched - going.size }, 'purge');
      for (const id of going) {
        model.tasks.delete(id);
        world.removed.push(id);
      }
      seen.purged += going.size;
      seen.purgeKept += matched - going.size;
      return;
    }
    case 'reload': {
      // Carry on with a queue restored from the image: it must behave the same from here on.
      const restored = createTaskQueue({ now: world.clock.now });
      restored.fromJSON(queue.toJSON());
      world.queue = restored;
      return;
    }
  }
}

describe('TaskQueue properties', () => {
  it('agrees with a naive model after every operation of random sequences', () => {
    fc.assert(
      fc.property(fc.array(command, { minLength: 10, maxLength: 60, size: 'max' }), (commands) => {
        const clock = createManualClock(0);
        const world: World = {
          queue: createTaskQueue({ now: clock.now }),
          model: new Model(),
          clock,
          nextId: 0,
          removed: [],
        };
        commands.forEach((cmd, i) => {
          clock.advance(1);
          step(world, cmd);
          checkAgainstModel(world.queue, world.model, i);
          seen.ops++;
        });
      }),
      { numRuns: 120 },
    );
    expect(seen.ops).to.be.greaterThan(2500);
    for (const [what, count] of Object.entries(seen)) expect(count, what).to.be.greaterThan(0);
  });

  it('applies a DAG batch the same whatever order its tasks are listed in', () => {
    const dag = fc
      .array(
        fc.record({ priority: fc.integer({ min: 0, max: 2 }), deps: fc.array(fc.nat(), { maxLength: 3 }) }),
        {
          minLength: 1,
          maxLength: 12,
        },
      )
      .map((rows) =>
        rows.map((row, i) => ({
          id: `n${i}`,
          priority: row.priority,
          // Deps only on earlier rows: a DAG.
          deps: i === 0 ? [] : [...new Set(row.deps.map((d) => `n${d % i}`))],
        })),
      );
    fc.assert(
      fc.property(
        dag.chain((specs) =>
          fc.tuple(fc.constant(specs), fc.shuffledSubarray(specs, { minLength: specs.length })),
        ),
        ([specs, shuffled]) => {
          const inOrder = createTaskQueue({ now: () => 0 });
          inOrder.addMany(specs);
          const mixed = createTaskQueue({ now: () => 0 });
          mixed.addMany(shuffled);
          const strip = (t: TaskSnapshot) => ({ id: t.id, deps: t.deps, status: t.status });
          expect(
            mixed
              .getAll()
              .map(strip)
              .sort((a, b) => a.id.localeCompare(b.id)),
          ).to.deep.equal(
            inOrder
              .getAll()
              .map(strip)
              .sort((a, b) => a.id.localeCompare(b.id)),
          );
          expect(new Set(mixed.getReady().map((t) => t.id))).to.deep.equal(
            new Set(inOrder.getReady().map((t) => t.id)),
          );
          // Within a priority, ready tasks come in the order the batch listed them.
          const position = new Map(shuffled.map((s, i) => [s.id, i]));
          const ready = mixed.getReady();
          for (let i = 1; i < ready.length; i++) {
            const a = ready[i - 1] as TaskSnapshot;
            const b = ready[i] as TaskSnapshot;
            expect(
              a.priority > b.priority ||
                (a.priority === b.priority &&
                  (position.get(a.id) as number) < (position.get(b.id) as number)),
            ).to.equal(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
