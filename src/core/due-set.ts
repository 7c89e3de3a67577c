import { createIndexedHeap } from './indexed-heap.js';
import type { TaskRecord } from './task-record.js';

/**
 * The tasks that would be ready but for their not-before time (a `runAt` or a retry backoff),
 * in a heap by that time (then insertion order). The queue moves the due ones to the ready set
 * when it next looks at it, so nothing scans and nothing polls: the earliest time is O(1) for the
 * one timer that wakes the coordinator, and each task costs O(log n) in and out.
 */
export interface DueSet {
  readonly size: number;
  add(task: TaskRecord): void;
  remove(task: TaskRecord): boolean;
  /** The earliest not-before time, if any task waits. */
  nextDueAt(): number | undefined;
  /** Takes out the next task due at or before `at`, if any: call until undefined. */
  takeDue(at: number): TaskRecord | undefined;
  clear(): void;
}

const dueBefore = (a: TaskRecord, b: TaskRecord): boolean => {
  const x = a.notBefore as number;
  const y = b.notBefore as number;
  return x < y || (x === y && a.seq < b.seq);
};

export function createDueSet(): DueSet {
  const heap = createIndexedHeap<TaskRecord>({
    before: dueBefore,
    getIndex: (t) => t.dueIndex,
    setIndex: (t, i) => {
      t.dueIndex = i;
    },
  });
  return {
    get size() {
      return heap.size;
    },
    add(task) {
      if (!heap.has(task)) heap.push(task);
    },
    remove: (task) => task.dueIndex >= 0 && heap.remove(task),
    nextDueAt: () => heap.peek()?.notBefore ?? undefined,
    takeDue(at) {
      const first = heap.peek();
      if (first === undefined || (first.notBefore as number) > at) return undefined;
      return heap.pop();
    },
    clear: () => heap.clear(),
  };
}
