import { Code, ConnectError } from '@connectrpc/connect';
import type { AdminClient } from '../../client/admin.js';
import { type Event, EventKind, type Progress, TaskStatus } from '../../client/proto.js';
import { EXIT } from '../exit-codes.js';
import { failureOf } from '../failure-exit.js';
import { settledCount } from '../output/progress-view.js';
import { span } from '../output/words.js';
import type { WatchDisplay } from './watch-display.js';

/** What `baton watch` follows and when it ends. */
export interface WatchPlan {
  readonly client: AdminClient;
  readonly url: string;
  readonly display: WatchDisplay;
  /** Which events the display shows (all of them are still read, to refresh the counts). */
  readonly shows: (event: Event) => boolean;
  /** Keep going after the graph settles, until interrupted. */
  readonly follow: boolean;
  /** Follow this one task: its events only, ending when it settles. */
  readonly taskId?: string;
  /** Replay retained events after this sequence first. */
  readonly sinceSequence?: bigint;
  /** Aborted on SIGINT/SIGTERM. */
  readonly signal: AbortSignal;
  readonly now: () => number;
}

/** Counts are read again at most this often while events arrive... */
const REFRESH_MS = 200;
/** ...and this often when none do, in case the last one came before the stream was open. */
const IDLE_REFRESH_MS = 5000;
/** A lost stream is tried again for this long before the coordinator counts as gone. */
const RECONNECT_FOR_MS = 120_000;

/** The coordinator closed the stream (a restart): resumed like a dropped connection. */
class StreamEnded extends Error {}

const TERMINAL = new Set([TaskStatus.COMPLETE, TaskStatus.FAILED, TaskStatus.CANCELLED]);

/**
 * Follows the event stream, showing each event and the graph's counts, until the graph (or the
 * one task) settles: EXIT.ok when everything completed, EXIT.incomplete when something failed or
 * was cancelled or the coordinator stopped. A dropped stream is resumed after the last sequence
 * seen, saying so. The first call failing is the caller's (EXIT.unreachable through failureOf).
 */
export async function runWatch(plan: WatchPlan): Promise<number> {
  const { client, display } = plan;
  const started = plan.now();
  let outcome: number | undefined;
  let lastSequence = plan.sinceSequence;
  const stop = new AbortController();
  const finish = (code: number, summary: string): void => {
    if (outcome !== undefined) return;
    outcome = code;
    display.end(summary);
    stop.abort();
  };
  const onAbort = (): void => finish(EXIT.interrupted, 'baton: interrupted');
  plan.signal.addEventListener('abort', onAbort, { once: true });

  const settle = (p: Progress): void => {
    if (plan.follow || plan.taskId !== undefined || p.total === 0 || settledCount(p) < p.total) return;
    const took = span(plan.now() - started);
    // The coordinator's own rule (coord:all-complete): something completed and nothing failed;
    // an operator's cancellations do not count against the run.
    if (p.failed === 0 && p.complete > 0)
      finish(
        EXIT.ok,
        `complete: ${p.complete} of ${p.total} task(s)${p.cancelled > 0 ? `, ${p.cancelled} cancelled` : ''} (watched ${took})`,
      );
    else
      finish(
        EXIT.incomplete,
        `settled without completing: ${p.complete} complete, ${p.failed} failed, ${p.cancelled} cancelled of ${p.total} (watched ${took})`,
      );
  };
  const settleTask = (status: TaskStatus, id: string): void => {
    if (plan.follow || !TERMINAL.has(status)) return;
    if (status === TaskStatus.COMPLETE) finish(EXIT.ok, `task ${id} complete`);
    else finish(EXIT.incomplete, `task ${id} ${TaskStatus[status]?.toLowerCase()}`);
  };

  let timer: NodeJS.Timeout | undefined;
  let idleTimer = false;
  let busy = false;
  let dirty = false;
  const refresh = async (): Promise<void> => {
    const p = await client.progress();
    if (outcome !== undefined) return;
    display.progress(p);
    settle(p);
  };
  /** One refresh at a time; events during one ask for another right after it. */
  const scheduleRefresh = (ms: number): void => {
    if (outcome !== undefined) return;
    if (busy) {
      dirty ||= ms < IDLE_REFRESH_MS;
      return;
    }
    if (timer !== undefined) {
      // A refresh soon is already due; only the idle one gives way to a sooner one.
      if (!idleTimer || ms >= IDLE_REFRESH_MS) return;
      clearTimeout(timer);
    }
    idleTimer = ms >= IDLE_REFRESH_MS;
    timer = setTimeout(() => {
      timer = undefined;
      busy = true;
      dirty = false;
      refresh()
        .catch(() => {})
        .finally(() => {
          busy = false;
          scheduleRefresh(dirty ? REFRESH_MS : IDLE_REFRESH_MS);
        });
    }, ms);
  };

  try {
    if (plan.taskId === undefined) await refresh();
    else {
      const task = await client.getTask(plan.taskId);
      settleTask(task.status, task.id);
    }
    scheduleRefresh(IDLE_REFRESH_MS);
    let lostSince: number | undefined;
    let reconnecting = false;
    while (outcome === undefined) {
      try {
        const stream = client.watch({
          signal: stop.signal,
          ...(plan.taskId === undefined ? {} : { taskId: plan.taskId }),
          ...(lastSequence === undefined ? {} : { sinceSequence: lastSequence }),
        });
        if (lostSince !== undefined) {
          display.note('baton: reconnected to the event stream');
          lostSince = undefined;
          scheduleRefresh(0);
        }
        for await (const event of stream) {
          lastSequence = event.sequence;
          if (plan.shows(event)) display.event(event);
          if (event.kind === EventKind.STOPPED && !plan.follow) {
            finish(EXIT.incomplete, 'the coordinator stopped');
            break;
          }
          if (plan.taskId !== undefined && event.payload.case === 'task')
            settleTask(event.payload.value.status, event.payload.value.id);
          if (plan.taskId === undefined) scheduleRefresh(REFRESH_MS);
        }
        if (outcome === undefined) throw new StreamEnded();
      } catch (error) {
        if (outcome !== undefined) break;
        // The events since the last one seen are gone (past the replay window, or a restart):
        // say so, read the counts again and follow from now. A --since of the operator's own
        // that the coordinator cannot honour fails instead, with its message.
        if (reconnecting && ConnectError.from(error).code === Code.OutOfRange) {
          const why = ConnectError.from(error).rawMessage;
          display.note(
            `baton: events missed while disconnected (${why}); counts read again, following from now`,
          );
          lastSequence = undefined;
          scheduleRefresh(0);
          continue;
        }
        reconnecting = true;
        const failure = error instanceof StreamEnded ? undefined : failureOf(error, plan.url);
        if (failure !== undefined && failure.exitCode !== EXIT.unreachable) throw error;
        lostSince ??= plan.now();
        if (plan.now() - lostSince > RECONNECT_FOR_MS) throw error;
        display.note(
          `baton: event stream lost (${failure?.message ?? 'the coordinator ended it'}); reconnecting`,
        );
        await new Promise((done) => setTimeout(done, 1000));
      }
    }
  } finally {
    clearTimeout(timer);
    plan.signal.removeEventListener('abort', onAbort);
  }
  return outcome ?? EXIT.ok;
}
