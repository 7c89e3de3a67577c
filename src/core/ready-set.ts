import { createIndexedHeap } from './indexed-heap.js';
import { runsBefore, strictCategory, type TaskRecord, type WaitNote } from './task-record.js';

interface CategoryHeap extends WaitNote {
  readonly category: string;
  /** Tasks of the category that only a worker listing it may run (`requireCapability`). */
  readonly strict: boolean;
  readonly heap: TaskHeap;
  heapIndex: number;
}

/** An indexed heap of tasks in run order (`runsBefore`); positions live in `task.heapIndex`. */
interface TaskHeap {
  readonly size: number;
  peek(): TaskRecord | undefined;
  has(task: TaskRecord): boolean;
  push(task: TaskRecord): void;
  remove(task: TaskRecord): boolean;
  clear(): void;
}

/**
 * The same order as `runsBefore`, on keys copied next to the heap: a sift compares numbers in
 * two dense arrays instead of loading scattered task records, which at a million tasks is the
 * difference between cache hits and misses. Only a record that moves is touched (to store its
 * new position), and the heap is 4-ary to halve the number of moves per removal.
 */
function createTaskHeap(): TaskHeap {
  const items: TaskRecord[] = [];
  const priorities: number[] = [];
  const seqs: number[] = [];

  const place = (index: number, task: TaskRecord, priority: number, seq: number): void => {
    items[index] = task;
    priorities[index] = priority;
    seqs[index] = seq;
    task.heapIndex = index;
  };

  const siftUp = (start: number, task: TaskRecord, priority: number, seq: number): void => {
    let index = start;
    while (index > 0) {
      const parent = (index - 1) >> 2;
      const pp = priorities[parent] as number;
      if (!(priority > pp || (priority === pp && seq < (seqs[parent] as number)))) break;
      place(index, items[parent] as TaskRecord, pp, seqs[parent] as number);
      index = parent;
    }
    place(index, task, priority, seq);
  };

  const siftDown = (start: number, task: TaskRecord, priority: number, seq: number): void => {
    const length = items.length;
    let index = start;
    for (;;) {
      const first = 4 * index + 1;
      if (first >= length) break;
      let child = first;
      let cp = priorities[first] as number;
      let cs = seqs[first] as number;
      const end = Math.min(first + 4, length);
      for (let other = first + 1; other < end; other++) {
        const op = priorities[other] as number;
        const os = seqs[other] as number;
        if (op > cp || (op === cp && os < cs)) {
          child = other;
          cp = op;
          cs = os;
        }
      }
      if (!(cp > priority || (cp === priority && cs < seq))) break;
      place(index, items[child] as TaskRecord, cp, cs);
      index = child;
    }
    place(index, task, priority, seq);
  };

  const has = (task: TaskRecord): boolean => {
    const index = task.heapIndex;
    return index >= 0 && index < items.length && items[index] === task;
  };

  return {
    get size() {
      return items.length;
    },
    peek: () => items[0],
    has,
    push(task) {
      items.push(task);
      priorities.push(task.priority);
      seqs.push(task.seq);
      siftUp(items.length - 1, task, task.priority, task.seq);
    },
    remove(task) {
      if (!has(task)) return false;
      const index = task.heapIndex;
      task.heapIndex = -1;
      const last = items.pop() as TaskRecord;
      const priority = priorities.pop() as number;
      const seq = seqs.pop() as number;
      if (index < items.length) {
        // The last task fills the hole: up if it beats the hole's parent, else down.
        const parent = (index - 1) >> 2;
        const pp = priorities[parent] as number;
        if (index > 0 && (priority > pp || (priority === pp && seq < (seqs[parent] as number)))) {
          siftUp(index, last, priority, seq);
        } else {
          siftDown(index, last, priority, seq);
        }
      }
      return true;
    },
    clear() {
      for (const task of items) {
        task.heapIndex = -1;
        task.waitNote = null;
      }
      items.length = 0;
      priorities.length = 0;
      seqs.length = 0;
    },
  };
}

/**
 * The pending tasks whose deps are all complete, kept incrementally. One heap per category plus
 * a heap of categories ordered by their best task: the global best is O(1), any change
 * O(log n), and the capability strategy can ask for the best task among a worker's categories
 * without skipping over tasks it may not take. A category's tasks that require a capable worker
 * (`requireCapability`) have a heap of their own, so a strict task that no worker may take never
 * hides the fallback-eligible tasks of its category behind it.
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
  /**
   * The best task among the categories `accept` allows; `strict` says whether the category's
   * tasks in question require a capable worker. `accept` is asked only about heaps whose best
   * task would beat the best found so far. O(c), no allocation: for the hot path.
   */
  bestWhere(accept: (category: string, strict: boolean) => boolean): TaskRecord | undefined;
  /**
   * Says why no task of a category's heap (its strict one, or the other) can be placed, or with
   * null that nothing in particular holds them: every task in it shows the reason as
   * `waitingFor`. Forgotten when the heap empties or gives a task to a worker.
   */
  explain(category: string, strict: boolean, reason: string | null): void;
  /** Categories with ready tasks, best first. O(c log c): for the rare paths only. */
  categories(): string[];
  /** Up to `limit` tasks in run order, without changing the set's contents. O(k log n). */
  top(limit: number): TaskRecord[];
  clear(): void;
}

/** Categories hold no control characters (core/task-spec.ts), so this prefix never collides. */
const STRICT = '\u0000';
const keyOf = (task: TaskRecord): string => (strictCategory(task) ? STRICT + task.category : task.category);

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

  const heapFor = (task: TaskRecord): CategoryHeap => {
    const key = keyOf(task);
    let entry = byCategory.get(key);
    if (entry === undefined) {
      entry = {
        category: task.category,
        strict: strictCategory(task),
        heap: createTaskHeap(),
        heapIndex: -1,
        reason: null,
      };
      byCategory.set(key, entry);
    }
    return entry;
  };

  // heapIndex is -1 outside every heap: most status changes remove a task that is not ready.
  const has = (task: TaskRecord): boolean =>
    task.heapIndex >= 0 && (byCategory.get(keyOf(task))?.heap.has(task) ?? false);

  const remove = (task: TaskRecord): boolean => {
    if (task.heapIndex < 0) return false;
    const entry = byCategory.get(keyOf(task));
    if (entry === undefined || !entry.heap.remove(task)) return false;
    task.waitNote = null;
    size--;
    if (entry.heap.size === 0) {
      categoryOrder.remove(entry);
      entry.reason = null;
    } else {
      categoryOrder.update(entry);
    }
    return true;
  };

  const add = (task: TaskRecord): void => {
    if (has(task)) return;
    const entry = heapFor(task);
    const wasEmpty = entry.heap.size === 0;
    const previousBest = entry.heap.peek();
    entry.heap.push(task);
    task.waitNote = entry;
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
    bestOf(category) {
      const loose = byCategory.get(category)?.heap.peek();
      const strict = byCategory.get(STRICT + category)?.heap.peek();
      if (loose === undefined || strict === undefined) return loose ?? strict;
      return runsBefore(strict, loose) ? strict : loose;
    },
    bestWhere(accept) {
      let best: TaskRecord | undefined;
      for (const entry of byCategory.values()) {
        const candidate = entry.heap.peek();
        if (candidate === undefined || (best !== undefined && !runsBefore(candidate, best))) continue;
        if (accept(entry.category, entry.strict)) best = candidate;
      }
      return best;
    },
    explain(category, strict, reason) {
      const entry = byCategory.get(strict && category !== '' ? STRICT + category : category);
      if (entry !== undefined && entry.heap.size > 0) entry.reason = reason;
    },
    categories() {
      const entries: CategoryHeap[] = [];
      for (const entry of byCategory.values()) if (entry.heap.size > 0) entries.push(entry);
      entries.sort((a, b) => (runsBefore(a.heap.peek() as TaskRecord, b.heap.peek() as TaskRecord) ? -1 : 1));
      // A category with strict and other tasks has two heaps: listed once, where it is best.
      return [...new Set(entries.map((e) => e.category))];
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
