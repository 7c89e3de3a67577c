// runtime/: the running coordinator wired to its store and listeners: group commit, sessions, events.
// Imports src/core, src/wire, codec/ and workspaces/ (test/architecture/walls.test.ts).
import type { Scheduler } from '../../core/clock.js';

/** Node fires a longer timeout at once (with a warning): a task scheduled weeks ahead would spin. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * The real clock and timers, for the running server. Timers are unref'd: they never keep the
 * process alive. A delay past Node's limit fires at the limit: callers re-arm for what is left
 * (the coordinator's wake finds nothing due yet and sets its timer again).
 */
export const systemScheduler: Scheduler = {
  setTimeout(callback, delayMs) {
    const timer = setTimeout(callback, Math.min(MAX_TIMEOUT_MS, Math.max(0, delayMs)));
    timer.unref();
    return () => clearTimeout(timer);
  },
};

export const systemNow = (): number => Date.now();
