import type { TaskStatus } from './task.js';
import type { TaskRecord } from './task-record.js';

export interface GraphProblem {
  readonly message: string;
  readonly [detail: string]: unknown;
}

export interface GraphValidation {
  readonly valid: boolean;
  readonly errors: readonly GraphProblem[];
}

export interface DependencyGraph {
  readonly nodes: readonly {
    readonly id: string;
    readonly status: TaskStatus;
    readonly priority: number;
    readonly category: string;
  }[];
  /** `from` must complete before `to` may run. */
  readonly edges: readonly { readonly from: string; readonly to: string }[];
}

/**
 * Kahn's algorithm over the whole graph, calling `visit` with each task and its level (the
 * length of the longest dep chain above it). Tasks on or below a cycle are never visited.
 */
function walk(tasks: Iterable<TaskRecord>, visit: (task: TaskRecord, level: number) => void): number {
  const remaining = new Map<TaskRecord, number>();
  const level = new Map<TaskRecord, number>();
  const queue: TaskRecord[] = [];
  for (const task of tasks) {
    remaining.set(task, task.deps.length);
    if (task.deps.length === 0) {
      queue.push(task);
      level.set(task, 0);
    }
  }
  for (let head = 0; head < queue.length; head++) {
    const task = queue[head] as TaskRecord;
    const depth = level.get(task) as number;
    visit(task, depth);
    for (const dependent of task.dependents ?? []) {
      level.set(dependent, Math.max(level.get(dependent) ?? 0, depth + 1));
      const left = (remaining.get(dependent) as number) - 1;
      remaining.set(dependent, left);
      if (left === 0) queue.push(dependent);
    }
  }
  return queue.length;
}

/** Every task after all of its deps; among independent tasks, insertion order. */
export function topologicalOrder(tasks: Iterable<TaskRecord>): string[] {
  const order: string[] = [];
  walk(tasks, (task) => order.push(task.id));
  return order;
}

/** Tasks grouped by depth: level 0 has no deps, level k depends on something at level k-1. */
export function levelsOf(tasks: Iterable<TaskRecord>): string[][] {
  const levels: string[][] = [];
  walk(tasks, (task, level) => {
    let row = levels[level];
    if (row === undefined) {
      row = [];
      levels[level] = row;
    }
    row.push(task.id);
  });
  return levels;
}

/**
 * Re-checks the invariants the queue maintains on every change: every dep exists and the graph
 * is acyclic. Cheap insurance after loading state from outside (a store, a JSON file).
 */
export function validateGraph(tasks: ReadonlyMap<string, TaskRecord>): GraphValidation {
  const errors: GraphProblem[] = [];
  for (const task of tasks.values()) {
    const unknown = task.deps.filter((d) => !tasks.has(d));
    if (unknown.length > 0) {
      errors.push({
        message: `task ${task.id} depends on unknown task(s): ${unknown.join(', ')}`,
        taskId: task.id,
        unknownDeps: unknown,
      });
    }
  }
  if (errors.length === 0 && walk(tasks.values(), () => {}) !== tasks.size) {
    errors.push({ message: 'the dependency graph has a cycle' });
  }
  return { valid: errors.length === 0, errors };
}
