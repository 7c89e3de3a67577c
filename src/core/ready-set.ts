import { createIndexedHeap, type IndexedHeap } from './indexed-heap.js';
import { runsBefore, type TaskRecord } from './task-record.js';

interface CategoryHeap {
  readonly category: string;
  readonly heap: IndexedHeap<TaskRecord>;
  heapIndex: number;
}

/**
 * The pending tasks whose deps are all complete, kept incrementally. One heap per category plus
 * a heap of categories ordered by their best task: the global best is O(1), any change
 * O(log n), and the capability strategy can ask for the best task among a worker's categories
 * without skipping over tasks it may not take.
 */
export interface ReadySet {
  readonly size: number;
  add(task: TaskRecord): void;
  remove(task: TaskRecord): boolean;
  has(task: TaskRecord): boolean;
  /** The task that should run next, if any. */
  best(): TaskRecord | undefined;
  /** The best task of one category. */
  bestOf(category: string): TaskRecord | undefined;
  /** Categories with ready tasks, best first. O(c log c): for the rare paths only. */
  categories(): string[];
  /** Up to `limit` tasks in run order, without changing the set's contents. O(k log n). */
  top(limit: number): TaskRecord[];
  clear(): void;
}

const taskIndex = {
  before: runsBefore,
  getIndex: (t: TaskRecord) => t.heapIndex,
  setIndex: (t: TaskRecord, i: number) => {
    t.heapIndex = i;
  },
};

export function createReadySet(): ReadySet {
  const byCategory = new Map<string, CategoryHeap>();
  const categoryOrder = createIndexedHeap<CategoryHeap>({
    before: (a, b) => runsBefore(a.heap.peek() as TaskRecord, b.heap.peek() as TaskRecord),
    getIndex: (c) => c.heapIndex,
    setIndex: (c, i) => {
      c.heapIndex = i;
    },
  });
  let size = 0;

  const heapFor = (category: string): CategoryHeap => {
    let entry = byCategory.get(category);
    if (entry === undefined) {
      entry = { category, heap: createIndexedHeap(taskIndex), heapIndex: -1 };
      byCategory.set(category, entry);
    }
    return entry;
  };

  const has = (task: TaskRecord): boolean => byCategory.get(task.category)?.heap.has(task) ?? false;

  const remove = (task: TaskRecord): boolean => {
    const entry = byCategory.get(task.category);
    if (entry === undefined || !entry.heap.remove(task)) return false;
    size--;
    if (entry.heap.size === 0) categoryOrder.remove(entry);
    else categoryOrder.update(entry);
    return true;
  };

  const add = (task: TaskRecord): void => {
    if (has(task)) return;
    const entry = heapFor(task.category);
    const wasEmpty = entry.heap.size === 0;
    const previousBest = entry.heap.peek();
    entry.heap.push(task);
    size++;
    if (wasEmpty) categoryOrder.push(entry);
    else if (entry.heap.peek() !== previousBest) categoryOrder.update(entry);
  };

  return {
    get size() {
      return size;
    },
    add,
    remove,
    has,
    best: () => categoryOrder.peek()?.heap.peek(),
    bestOf: (category) => byCategory.get(category)?.heap.peek(),
    categories() {
      const entries: CategoryHeap[] = [];
      for (const entry of byCategory.values()) if (entry.heap.size > 0) entries.push(entry);
      entries.sort((a, b) => (runsBefore(a.heap.peek() as TaskRecord, b.heap.peek() as TaskRecord) ? -1 : 1));
      return entries.map((e) => e.category);
    },
    top(limit) {
      // Pop and put back: the same tasks come out in the same order, the heap shape may differ.
      const taken: TaskRecord[] = [];
      while (taken.length < limit) {
        const entry = categoryOrder.peek();
        if (entry === undefined) break;
        const task = entry.heap.peek() as TaskRecord;
        remove(task);
        taken.push(task);
      }
      for (const task of taken) add(task);
      return taken;
    },
    clear() {
      for (const entry of byCategory.values()) entry.heap.clear();
      byCategory.clear();
      categoryOrder.clear();
      size = 0;
    },
  };
}
