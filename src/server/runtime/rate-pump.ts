// runtime/: the running coordinator wired to its store and listeners: group commit, sessions, events.
// Imports src/core, src/wire, codec/ and workspaces/ (test/architecture/walls.test.ts).
import type { Cancel, Scheduler } from '../../core/clock.js';
import type { RateLimiter } from '../../core/rate-limiter.js';

export interface RatePump {
  /** Call after anything that may change when the waiter queue can next move. */
  rearm(): void;
  close(): void;
}

/**
 * Moves the rate limiter's waiter queue in real time: one timer at `nextWakeAt()`, so queued
 * requests are granted the moment capacity frees and workers never poll.
 */
export function createRatePump(limiter: RateLimiter, scheduler: Scheduler, now: () => number): RatePump {
  let cancel: Cancel | undefined;
  let at = Number.POSITIVE_INFINITY;
  let closed = false;

  const rearm = (): void => {
    if (closed) return;
    const next = limiter.nextWakeAt() ?? Number.POSITIVE_INFINITY;
    if (next === at) return;
    cancel?.();
    cancel = undefined;
    at = next;
    if (next === Number.POSITIVE_INFINITY) return;
    cancel = scheduler.setTimeout(() => {
      cancel = undefined;
      at = Number.POSITIVE_INFINITY;
      limiter.processWaiters();
      rearm();
    }, next - now());
  };

  return {
    rearm,
    close() {
      closed = true;
      cancel?.();
    },
  };
}
