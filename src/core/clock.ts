/** Milliseconds since the epoch. The core never reads the wall clock itself. */
export type Now = () => number;

/** Cancels a scheduled callback; calling it twice is harmless. */
export type Cancel = () => void;

/** Timers, injected so that tests run deterministically and the core stays free of globals. */
export interface Scheduler {
  setTimeout(callback: () => void, delayMs: number): Cancel;
}

export interface ManualClock extends Scheduler {
  readonly now: Now;
  /** Moves time forward, firing due callbacks in deadline order (FIFO for equal deadlines). */
  advance(ms: number): void;
  /** Number of callbacks still scheduled. */
  pending(): number;
}

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
}

/** A clock and scheduler that move only when told to: for tests and simulations. */
export function createManualClock(start = 0): ManualClock {
  let time = start;
  let seq = 0;
  const timers: Timer[] = [];

  const nextDue = (until: number): Timer | undefined => {
    let best: Timer | undefined;
    for (const t of timers) {
      if (t.cancelled || t.at > until) continue;
      if (best === undefined || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  };

  return {
    now: () => time,
    setTimeout(callback, delayMs) {
      const timer: Timer = { at: time + Math.max(0, delayMs), seq: seq++, callback, cancelled: false };
      timers.push(timer);
      return () => {
        timer.cancelled = true;
      };
    },
    advance(ms) {
      const until = time + ms;
      for (let t = nextDue(until); t !== undefined; t = nextDue(until)) {
        t.cancelled = true;
        time = Math.max(time, t.at);
        t.callback();
      }
      time = until;
      for (let i = timers.length - 1; i >= 0; i--) if (timers[i]?.cancelled) timers.splice(i, 1);
    },
    pending: () => timers.filter((t) => !t.cancelled).length,
  };
}
