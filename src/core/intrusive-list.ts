/**
 * A node that can sit in one `IntrusiveList` at a time. The links live on the node itself, so
 * joining, leaving or moving to the back costs no allocation and no hashing: what the hot paths
 * (a worker's held tasks, the pool's free workers) do once or twice per task.
 */
export interface ListNode<T> {
  prev: T | null;
  next: T | null;
  /** The list the node is in (null when in none): lets `has` and `remove` answer in O(1). */
  list: unknown;
}

/**
 * A doubly linked list of nodes in insertion order. A class rather than a factory of closures:
 * there is one per worker, created and dropped as workers come and go, and a class instance is
 * three fields where a closure-based object costs a context and a closure per method.
 */
export class IntrusiveList<T extends ListNode<T>> implements Iterable<T> {
  first: T | null = null;
  last: T | null = null;
  size = 0;

  has(node: T): boolean {
    return node.list === this;
  }

  /** Appends a node that is in no list. */
  push(node: T): void {
    if (node.list !== null) throw new Error('list node is already in a list');
    node.list = this;
    node.prev = this.last;
    node.next = null;
    if (this.last === null) this.first = node;
    else this.last.next = node;
    this.last = node;
    this.size++;
  }

  /** Unlinks a node of this list; a node not in it is left alone. */
  remove(node: T): void {
    if (node.list !== this) return;
    if (node.prev === null) this.first = node.next;
    else node.prev.next = node.next;
    if (node.next === null) this.last = node.prev;
    else node.next.prev = node.prev;
    node.prev = null;
    node.next = null;
    node.list = null;
    this.size--;
  }

  *[Symbol.iterator](): Iterator<T> {
    // The next node is read before yielding, so the caller may remove the current one.
    let node = this.first;
    while (node !== null) {
      const next: T | null = node.next;
      yield node;
      node = next;
    }
  }
}
