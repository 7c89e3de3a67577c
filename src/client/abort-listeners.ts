/** The callbacks waiting on each signal, behind the one 'abort' listener the signal has. */
const waiting = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Runs `callback` once when `signal` aborts (not if it already has); returns a function that
 * forgets it. Every callback on one signal shares a single 'abort' listener: a caller that hands
 * one signal to many workers or calls (stop them all with one deadline) would otherwise add a
 * listener per worker, and Node warns past ten (MaxListenersExceededWarning).
 */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  let callbacks = waiting.get(signal);
  if (callbacks === undefined) {
    const all = new Set<() => void>();
    callbacks = all;
    waiting.set(signal, all);
    signal.addEventListener(
      'abort',
      () => {
        waiting.delete(signal);
        for (const c of all) c();
      },
      { once: true },
    );
  }
  // A wrapper of its own, so that the same function registered twice is two registrations.
  const entry = (): void => callback();
  callbacks.add(entry);
  const all = callbacks;
  return () => {
    all.delete(entry);
  };
}
