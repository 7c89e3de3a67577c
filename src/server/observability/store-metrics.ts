// observability/: what operators read of a running server: Prometheus metrics, structured logs.
// Imports src/core; runtime/ and transport/ for types only (test/architecture/walls.test.ts).
import type { Histogram } from 'prom-client';
import type { Store } from '../../core/store.js';

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof (value as { then?: unknown } | undefined)?.then === 'function';

/**
 * The store as the group commit sees it, with each commit timed into `histogram`. A Proxy rather
 * than a copy of the Store's members, so members other stores add are passed through untouched;
 * a commit that returns a promise is timed until it settles.
 */
export function timedStore(store: Store, histogram: Histogram): Store {
  const commit = (changes: Parameters<Store['commit']>[0]): ReturnType<Store['commit']> => {
    const stop = histogram.startTimer();
    let result: unknown;
    try {
      result = store.commit(changes);
    } finally {
      if (!isThenable(result)) stop();
    }
    if (isThenable(result))
      result.then(
        () => stop(),
        () => stop(),
      );
    return result as ReturnType<Store['commit']>;
  };
  return new Proxy(store, {
    get(target, key) {
      if (key === 'commit') return commit;
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
