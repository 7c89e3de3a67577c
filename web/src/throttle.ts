// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).

/** A call that runs `run` at most once per `intervalMs`, one at a time; requests in between coalesce. */
export interface Throttled {
  request(): void;
}

export function throttle(run: () => Promise<void>, intervalMs: number): Throttled {
  let running = false;
  let wanted = false;
  let last = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const go = async (): Promise<void> => {
    timer = undefined;
    running = true;
    wanted = false;
    last = Date.now();
    try {
      await run();
    } finally {
      running = false;
      if (wanted) schedule();
    }
  };
  const schedule = (): void => {
    if (running || timer !== undefined) {
      wanted = true;
      return;
    }
    timer = setTimeout(go, Math.max(0, last + intervalMs - Date.now()));
  };
  return { request: schedule };
}
