/**
 * An unbounded push queue read as an async iterable: the request side of a bidi stream. Connect
 * pulls the next message when it can write, so the SDK pushes whenever it has something to say
 * instead of owning a generator. `close()` ends the iteration after the queued items.
 */
export interface AsyncQueue<T> extends AsyncIterable<T> {
  /** Appends an item; ignored once closed. */
  push(item: T): void;
  /** Ends the iteration once the queued items are taken. Idempotent. */
  close(): void;
  readonly closed: boolean;
}

export function createAsyncQueue<T>(): AsyncQueue<T> {
  const items: T[] = [];
  let wake: (() => void) | undefined;
  let closed = false;

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
    close() {
      closed = true;
      signal();
    },
    get closed() {
      return closed;
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const item = items.shift();
        if (item !== undefined) {
          yield item;
          continue;
        }
        if (closed) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    },
  };
}
