import type { Cancel, Now, Scheduler } from './clock.js';

/**
 * One timer for the earliest of many deadlines (lease expiries, not-before times): `armFor(t)`
 * sets it only when `t` is earlier than the one already set, so a stream of later deadlines costs
 * no timer churn. A timer that fires for a deadline that went away is harmless: `fire` finds
 * nothing due and arms for what is left.
 */
export interface DeadlineTimer {
  armFor(deadline: number | undefined): void;
  cancel(): void;
}

export function createDeadlineTimer(scheduler: Scheduler, now: Now, fire: () => void): DeadlineTimer {
  let cancelTimer: Cancel | undefined;
  let armedAt = Number.POSITIVE_INFINITY;
  const cancel = (): void => {
    cancelTimer?.();
    cancelTimer = undefined;
    armedAt = Number.POSITIVE_INFINITY;
  };
  return {
    armFor(deadline) {
      if (deadline === undefined || deadline >= armedAt) return;
      cancelTimer?.();
      armedAt = deadline;
      cancelTimer = scheduler.setTimeout(() => {
        cancelTimer = undefined;
        armedAt = Number.POSITIVE_INFINITY;
        fire();
      }, deadline - now());
    },
    cancel,
  };
}
