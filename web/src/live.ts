// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import { type Api, errorText, isRefusal, isReplayGap } from './api.js';
import type { Model } from './model.js';
import { type Event, EventKind, type Task } from './proto.js';

export interface LiveOptions {
  readonly api: Api;
  readonly model: Model;
  /** Called after every batch of events (the status and workspace views refresh on it). */
  readonly onEvents?: (events: readonly Event[]) => void;
  /** Called once the stream is up again after a drop. */
  readonly onReconnect?: () => void;
}

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];

/** Every task, a page of 1,000 at a time. */
async function loadTasks(api: Api, signal: AbortSignal): Promise<Task[]> {
  const tasks: Task[] = [];
  let pageToken = '';
  do {
    const page = await api.coordinator.listTasks({ limit: 1000, pageToken }, { signal });
    tasks.push(...page.tasks);
    pageToken = page.nextPageToken;
  } while (pageToken !== '');
  return tasks;
}

/**
 * Keeps the model current from WatchEvents. Each stream opens first, then the task snapshot loads:
 * every change after the snapshot arrives on a stream that was already open, and changes older
 * than the snapshot are skipped by their updated_at. A dropped stream reconnects with backoff,
 * resuming after the last sequence seen, and loads the snapshot again. A server that no longer
 * has the events in between (past its replay window, or restarted: its sequence starts over)
 * refuses the resume with OUT_OF_RANGE; the next stream, at once, is live from now, and the
 * snapshot it loads covers what was missed. Nothing is polled.
 */
export function startLive(options: LiveOptions): () => void {
  const { api, model } = options;
  const stop = new AbortController();
  const sleep = (msDelay: number) =>
    new Promise<void>((done) => {
      const timer = setTimeout(done, msDelay);
      stop.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
    });

  /**
   * One stream, until it fails or ends; `again` says the page had lost the stream before.
   * `resume`: replay after the last sequence seen (the first stream replays all that is kept,
   * for the fleet log); otherwise live from now.
   */
  const session = async (again: boolean, resume: boolean): Promise<void> => {
    const call = new AbortController();
    const abort = () => call.abort();
    stop.signal.addEventListener('abort', abort, { once: true });
    let buffer: Event[] | undefined = [];
    let failed: unknown;
    let live = false;
    // connect-node sends a stream's headers with its first message, so an idle coordinator's
    // stream says nothing: the stream is live once it is open and the same server answered.
    const markLive = () => {
      if (live) return;
      live = true;
      model.setConnection({ state: 'live', since: Date.now(), reconnected: again });
      if (again) options.onReconnect?.();
    };
    const stream = api.coordinator.watchEvents(
      resume ? { sinceSequence: model.loaded ? model.lastSequence : 0n } : {},
      { signal: call.signal, onHeader: markLive },
    );
    const loading = (async () => {
      try {
        const tasks = await loadTasks(api, call.signal);
        model.replaceTasks(tasks);
        model.apply(buffer ?? []);
        buffer = undefined;
        markLive();
      } catch (error) {
        failed = error;
        call.abort();
      }
    })();
    try {
      for await (const { events } of stream) {
        if (events.length === 0) continue;
        if (buffer !== undefined) buffer.push(...events);
        else model.apply(events);
        options.onEvents?.(events);
        // A purge names no ids: start again from the list, quietly (not a lost connection).
        if (events.some((e) => e.kind === EventKind.TASKS_PURGED)) {
          call.abort();
          await loading;
          return;
        }
      }
      throw new Error('the server ended the event stream');
    } catch (error) {
      const cause = failed ?? error;
      call.abort();
      await loading;
      throw cause;
    } finally {
      stop.signal.removeEventListener('abort', abort);
    }
  };

  void (async () => {
    let attempt = 0;
    let again = false;
    let resume = true;
    while (!stop.signal.aborted) {
      const began = Date.now();
      try {
        await session(again, resume);
        resume = true;
      } catch (error) {
        if (stop.signal.aborted) return;
        if (isRefusal(error)) {
          model.setConnection({ state: 'locked', error: errorText(error) });
          return;
        }
        again = true;
        resume = !isReplayGap(error);
        if (!resume) continue;
        // A stream that lived a while resets the backoff: this is a fresh drop, not a flapping server.
        if (Date.now() - began > 10_000) attempt = 0;
        const wait = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)]!;
        attempt++;
        model.setConnection({
          state: 'reconnecting',
          attempt,
          retryAt: Date.now() + wait,
          error: errorText(error),
        });
        await sleep(wait);
      }
    }
  })();
  return () => stop.abort();
}
