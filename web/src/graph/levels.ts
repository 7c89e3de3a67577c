// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import type { Task } from '../proto.js';

/**
 * Each task's level: 0 for a task without deps, else one more than its deepest dep. Kahn's order,
 * O(tasks + deps); a dep the page does not know (yet) counts as level 0.
 */
export function levels(tasks: ReadonlyMap<string, Task>): Map<string, number> {
  const level = new Map<string, number>();
  const waiting = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  const ready: string[] = [];
  for (const task of tasks.values()) {
    let known = 0;
    for (const dep of task.deps) {
      if (!tasks.has(dep)) continue;
      known++;
      const list = dependents.get(dep);
      if (list === undefined) dependents.set(dep, [task.id]);
      else list.push(task.id);
    }
    waiting.set(task.id, known);
    if (known === 0) ready.push(task.id);
  }
  for (const id of ready) level.set(id, 0);
  for (let i = 0; i < ready.length; i++) {
    const id = ready[i]!;
    const next = level.get(id)! + 1;
    for (const d of dependents.get(id) ?? []) {
      if (next > (level.get(d) ?? 0)) level.set(d, next);
      const left = waiting.get(d)! - 1;
      waiting.set(d, left);
      if (left === 0) ready.push(d);
    }
  }
  return level;
}
