/**
 * An unbounded push queue consumed as an async iterable: one side of a stream fed by whoever has
 * something to say. A server's stream handler yields what other parts of the server produce
 * (assignments, acks, events); a client pushes its requests whenever it has one, and connect
 * pulls the next when it can write. `close()` ends the iteration after the queued items;
 * `close(error)` then throws `error` to the consumer.
 */
export interface AsyncQueue<T> extends AsyncIterable<T> {
  push(item: T): void;
  /** The last item pushed and not yet taken, to merge into (e.g. several assignments in one message). */
  tail(): T | undefined;
  close(error?: unknown): void;
  readonly closed: boolean;
  readonly length: number;
}

export function createAsyncQueue<T>(): AsyncQueue<T> {
  let items: T[] = [];
  let head = 0;
  let wake: (() => void) | undefined;
  let closed = false;
  let failure: unknown;

  const signal = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  return {
    push(item) {
      if (closed) return;
      items.push(item);
      signal();
    },
    tail: () => (items.length > head ? items[items.length - 1] : undefined),
    close(error) {
      if (closed) return;
      closed = true;
      failure = error;
      signal();
    },
    get closed() {
      return closed;
    },
    get length() {
      return items.length - head;
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        while (head < items.length) {
          const item = items[head] as T;
          items[head++] = undefined as T;
          if (head > 1024 && head * 2 > items.length) {
            items = items.slice(head);
            head = 0;
          }
          yield item;
        }
        if (closed) {
          if (failure !== undefined) throw failure;
          return;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    },
  };
}
