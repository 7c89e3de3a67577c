/** How long to wait between reconnection attempts. */
export interface ReconnectOptions {
  /** The first delay, doubled after every failed attempt. Default 100 ms. */
  readonly initialDelayMs: number;
  /** The longest delay. Default 10 s. */
  readonly maxDelayMs: number;
}

export const defaultReconnect: ReconnectOptions = { initialDelayMs: 100, maxDelayMs: 10_000 };

/**
 * The delay before reconnection attempt `attempt` (0-based): exponential, capped, with "equal
 * jitter" (half fixed, half random). The jitter spreads a fleet that lost the coordinator at the
 * same moment, so a restarted coordinator is not hit by every worker at once; the fixed half keeps
 * a worker from spinning when the random draw is small.
 */
export function backoffDelay(attempt: number, options: ReconnectOptions, random = Math.random): number {
  const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** Math.min(attempt, 30));
  return ceiling / 2 + (random() * ceiling) / 2;
}

/**
 * Resolves after `ms`, or at once when `signal` aborts (it never rejects, so a stop during a
 * backoff needs no catch; the timer is cleared). The timer is deliberately not unref'd: a worker
 * waiting to reconnect must keep its process alive, and stop() aborts the wait.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Waits for `promise` (whose outcome is ignored) but no longer than `ms`, clearing the timer
 * either way so that a bounded wait never holds the process open after it is over.
 */
export async function waitAtMost(promise: Promise<unknown>, ms: number): Promise<void> {
  const over = new AbortController();
  try {
    await Promise.race([promise.then(noop, noop), sleep(ms, over.signal)]);
  } finally {
    over.abort();
  }
}

const noop = (): void => {};
