/**
 * A binary heap whose items remember their own position, so removing or re-prioritising an
 * arbitrary item is O(log n) without searching. Positions live on the items themselves (through
 * `getIndex`/`setIndex`) to avoid a side Map per heap: at a million tasks that Map would cost
 * more memory than the heap.
 */
export interface IndexedHeap<T> {
  readonly size: number;
  peek(): T | undefined;
  push(item: T): void;
  pop(): T | undefined;
  remove(item: T): boolean;
  /** Restores heap order after `item`'s key changed in either direction. */
  update(item: T): void;
  has(item: T): boolean;
  clear(): void;
}

export interface IndexedHeapOptions<T> {
  /** True when `a` must come out before `b`. Must be a strict total order for determinism. */
  readonly before: (a: T, b: T) => boolean;
  readonly getIndex: (item: T) => number;
  /** Called with -1 when the item leaves the heap. */
  readonly setIndex: (item: T, index: number) => void;
}

export function createIndexedHeap<T>(options: IndexedHeapOptions<T>): IndexedHeap<T> {
  const { before, getIndex, setIndex } = options;
  const items: T[] = [];

  const place = (item: T, index: number): void => {
    items[index] = item;
    setIndex(item, index);
  };

  const siftUp = (start: number): void => {
    const item = items[start] as T;
    let index = start;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = items[parentIndex] as T;
      if (!before(item, parent)) break;
      place(parent, index);
      index = parentIndex;
    }
    place(item, index);
  };

  const siftDown = (start: number): void => {
    const item = items[start] as T;
    const length = items.length;
    let index = start;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      let child = left;
      if (right < length && before(items[right] as T, items[left] as T)) child = right;
      if (!before(items[child] as T, item)) break;
      place(items[child] as T, index);
      index = child;
    }
    place(item, index);
  };

  const removeAt = (index: number): T => {
    const item = items[index] as T;
    const last = items.pop() as T;
    setIndex(item, -1);
    if (index < items.length) {
      place(last, index);
      siftDown(index);
      siftUp(getIndex(last));
    }
    return item;
  };

  const contains = (item: T): boolean => {
    const index = getIndex(item);
    return index >= 0 && index < items.length && items[index] === item;
  };

  return {
    get size() {
      return items.length;
    },
    peek: () => items[0],
    push(item) {
      items.push(item);
      siftUp(items.length - 1);
    },
    pop: () => (items.length === 0 ? undefined : removeAt(0)),
    remove(item) {
      if (!contains(item)) return false;
      removeAt(getIndex(item));
      return true;
    },
    update(item) {
      if (!contains(item)) return;
      const index = getIndex(item);
      siftUp(index);
      siftDown(getIndex(item));
    },
    has: contains,
    clear() {
      for (const item of items) setIndex(item, -1);
      items.length = 0;
    },
  };
}
