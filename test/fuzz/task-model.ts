import type { JsonObject } from '@bufbuild/protobuf';

/**
 * The oracle's picture of the coordinator: the task graph and the lifecycle, as read back from a
 * live server, and what one operator request must do to them. Written from the proto's contract
 * (coordinator.proto), not from src/core, so the fuzz specs check the server against the spec.
 */

export type Status = 'pending' | 'assigned' | 'running' | 'complete' | 'failed' | 'cancelled';
export type Lifecycle = 'init' | 'running' | 'draining' | 'drained' | 'stopped';

export interface ModelTask {
  readonly id: string;
  readonly deps: readonly string[];
  readonly status: Status;
  /** Empty unless a cascade cancelled it. */
  readonly cancelledBy: string;
}

export interface Model {
  readonly state: Lifecycle;
  /** In the order the tasks were added. */
  readonly tasks: ReadonlyMap<string, ModelTask>;
}

/** A field set to a value every protocol can carry and the contract refuses (a NUL in an id, 0.5 as priority). */
export interface BadField {
  readonly field: string;
  readonly value: unknown;
  readonly label: string;
}

/**
 * A task spec well formed field by field, so that only the graph may refuse it (a taken id, an
 * unknown dep, a cycle), unless `bad` breaks one field: then it must be refused.
 */
export interface SpecCase {
  readonly id: string;
  readonly deps: readonly string[];
  readonly priority: number;
  readonly category: string;
  readonly metadata: JsonObject;
  readonly bad?: BadField;
}

/** One operator request, before any protocol writes it down. */
export type Op =
  | { readonly kind: 'add'; readonly spec: SpecCase }
  | { readonly kind: 'batch'; readonly specs: readonly SpecCase[] }
  | { readonly kind: 'cancel'; readonly id: string }
  | { readonly kind: 'retry'; readonly id: string }
  | { readonly kind: 'delete'; readonly id: string }
  | {
      readonly kind: 'purge';
      readonly before: 'past' | 'future';
      readonly statuses: readonly SettledStatus[];
    }
  | { readonly kind: 'get'; readonly id: string }
  | { readonly kind: 'list'; readonly statuses: readonly Status[]; readonly limit: number }
  | { readonly kind: 'read'; readonly what: 'status' | 'progress' | 'costs' | 'rate-limit' }
  | { readonly kind: 'start' | 'drain' | 'stop' };

export type SettledStatus = 'complete' | 'failed' | 'cancelled';

/** What the server must answer: accept (with the state after) or refuse (the state as it was). */
export type Prediction =
  | { readonly verdict: 'accept'; readonly after: Model }
  | { readonly verdict: 'reject' };

const SETTLED: readonly Status[] = ['complete', 'failed', 'cancelled'];
const isSettled = (s: Status): boolean => SETTLED.includes(s);
const blocked = (s: Status): boolean => s === 'failed' || s === 'cancelled';
const REJECT: Prediction = { verdict: 'reject' };

/** Tasks that list `id` among their deps. */
const dependentsOf = (tasks: ReadonlyMap<string, ModelTask>, id: string): ModelTask[] =>
  [...tasks.values()].filter((t) => t.deps.includes(id));

/** Adds specs all or none: ids new and distinct, deps known or in the batch, no cycle. */
function addAll(model: Model, specs: readonly SpecCase[]): Prediction {
  if (specs.length === 0) return { verdict: 'accept', after: model };
  if (specs.some((s) => s.bad !== undefined)) return REJECT;
  const batch = new Map<string, SpecCase>();
  for (const spec of specs) {
    if (model.tasks.has(spec.id) || batch.has(spec.id)) return REJECT;
    if (new Set(spec.deps).size !== spec.deps.length || spec.deps.includes(spec.id)) return REJECT;
    batch.set(spec.id, spec);
  }
  for (const spec of specs) {
    if (spec.deps.some((d) => !model.tasks.has(d) && !batch.has(d))) return REJECT;
  }
  // Deps first; a batch member left unplaced sits on a cycle.
  const order: SpecCase[] = [];
  const placed = new Set<string>();
  while (order.length < specs.length) {
    const ready = specs.filter(
      (s) => !placed.has(s.id) && s.deps.every((d) => !batch.has(d) || placed.has(d)),
    );
    if (ready.length === 0) return REJECT;
    for (const s of ready) {
      placed.add(s.id);
      order.push(s);
    }
  }
  const added = new Map<string, ModelTask>();
  const statusOf = (id: string): ModelTask => (added.get(id) ?? model.tasks.get(id)) as ModelTask;
  for (const spec of order) {
    // A new dependent of a failed or cancelled task joins that task's cascade.
    const blocker = spec.deps.map(statusOf).find((d) => blocked(d.status));
    added.set(spec.id, {
      id: spec.id,
      deps: spec.deps,
      status: blocker === undefined ? 'pending' : 'cancelled',
      cancelledBy: blocker === undefined ? '' : blocker.cancelledBy || blocker.id,
    });
  }
  const tasks = new Map(model.tasks);
  for (const spec of specs) tasks.set(spec.id, added.get(spec.id) as ModelTask);
  return { verdict: 'accept', after: { ...model, tasks } };
}

function cancel(model: Model, id: string): Prediction {
  const root = model.tasks.get(id);
  if (root === undefined || root.status === 'complete') return REJECT;
  const tasks = new Map(model.tasks);
  if (!isSettled(root.status)) tasks.set(id, { ...root, status: 'cancelled', cancelledBy: '' });
  const stack = [id];
  while (stack.length > 0) {
    for (const dependent of dependentsOf(tasks, stack.pop() as string)) {
      if (isSettled(dependent.status)) continue;
      tasks.set(dependent.id, { ...dependent, status: 'cancelled', cancelledBy: id });
      stack.push(dependent.id);
    }
  }
  return { verdict: 'accept', after: { ...model, tasks } };
}

function retry(model: Model, id: string): Prediction {
  const root = model.tasks.get(id);
  if (root === undefined || !blocked(root.status)) return REJECT;
  if (root.deps.some((d) => blocked((model.tasks.get(d) as ModelTask).status))) return REJECT;
  const tasks = new Map(model.tasks);
  tasks.set(id, { ...root, status: 'pending', cancelledBy: '' });
  // Its cascade: dependents (of the root or of a member) that it cancelled.
  const members = new Set<string>();
  const stack = [id];
  while (stack.length > 0) {
    for (const d of dependentsOf(model.tasks, stack.pop() as string)) {
      if (d.status !== 'cancelled' || d.cancelledBy !== id || members.has(d.id)) continue;
      members.add(d.id);
      stack.push(d.id);
    }
  }
  // Deps first: a member still blocked by a failed or cancelled dep joins that dep's cascade.
  const done = new Set<string>();
  while (done.size < members.size) {
    for (const m of members) {
      const task = tasks.get(m) as ModelTask;
      if (done.has(m) || task.deps.some((d) => members.has(d) && !done.has(d))) continue;
      done.add(m);
      const blocker = task.deps.map((d) => tasks.get(d) as ModelTask).find((d) => blocked(d.status));
      tasks.set(
        m,
        blocker === undefined
          ? { ...task, status: 'pending', cancelledBy: '' }
          : { ...task, cancelledBy: blocker.cancelledBy || blocker.id },
      );
    }
  }
  return { verdict: 'accept', after: { ...model, tasks } };
}

function remove(model: Model, id: string): Prediction {
  const task = model.tasks.get(id);
  if (task === undefined || !isSettled(task.status) || dependentsOf(model.tasks, id).length > 0)
    return REJECT;
  const tasks = new Map(model.tasks);
  tasks.delete(id);
  return { verdict: 'accept', after: { ...model, tasks } };
}

function purge(model: Model, before: 'past' | 'future', statuses: readonly SettledStatus[]): Prediction {
  const wanted: readonly Status[] = statuses.length === 0 ? SETTLED : statuses;
  // Every settled task finished after 1970 and before 2100: 'past' matches none, 'future' all.
  const matched = new Set(
    before === 'past'
      ? []
      : [...model.tasks.values()].filter((t) => wanted.includes(t.status)).map((t) => t.id),
  );
  // A matched task that a staying task depends on stays, and so, in turn, do its deps.
  let changed = true;
  while (changed) {
    changed = false;
    for (const t of model.tasks.values()) {
      if (matched.has(t.id)) continue;
      for (const d of t.deps) if (matched.delete(d)) changed = true;
    }
  }
  const tasks = new Map([...model.tasks].filter(([id]) => !matched.has(id)));
  return { verdict: 'accept', after: { ...model, tasks } };
}

function lifecycle(model: Model, kind: 'start' | 'drain' | 'stop'): Prediction {
  const accept = (state: Lifecycle): Prediction => ({ verdict: 'accept', after: { ...model, state } });
  if (kind === 'stop') return accept('stopped');
  if (kind === 'start') return model.state === 'stopped' ? REJECT : accept('running');
  // Nothing is held without workers: a drain finishes at once.
  return model.state === 'running' ? accept('drained') : accept(model.state);
}

const CHANGES: ReadonlySet<Op['kind']> = new Set(['add', 'batch', 'cancel', 'retry', 'delete', 'purge']);

/** What `op` must do to `model`: the server is held to exactly this. */
export function predict(model: Model, op: Op): Prediction {
  if (model.state === 'stopped' && CHANGES.has(op.kind)) return REJECT;
  switch (op.kind) {
    case 'add':
      return addAll(model, [op.spec]);
    case 'batch':
      return addAll(model, op.specs);
    case 'cancel':
      return cancel(model, op.id);
    case 'retry':
      return retry(model, op.id);
    case 'delete':
      return remove(model, op.id);
    case 'purge':
      return purge(model, op.before, op.statuses);
    case 'get':
      return model.tasks.has(op.id) ? { verdict: 'accept', after: model } : REJECT;
    case 'list':
    case 'read':
      return { verdict: 'accept', after: model };
    default:
      return lifecycle(model, op.kind);
  }
}
