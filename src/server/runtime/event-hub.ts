// runtime/: the running coordinator wired to its store and listeners: group commit, sessions, events.
// Imports src/core, src/wire, codec/ and workspaces/ (test/architecture/walls.test.ts).
import { BatonError } from '../../core/errors.js';
import type { EventBus } from '../../core/event-bus.js';
import { ANNOUNCED_EVENTS, type CoordEventKind, type CoordEvents } from '../../core/events.js';
import { type AsyncQueue, createAsyncQueue } from '../../wire/async-queue.js';

type Announced = (typeof ANNOUNCED_EVENTS)[number];

/** One announced event with its place in the server's event log. */
export interface LoggedEvent {
  readonly sequence: number;
  readonly at: number;
  readonly kind: Announced;
  readonly payload: CoordEvents[Announced];
}

export interface EventFilter {
  /** Empty or undefined: every kind. */
  readonly kinds?: ReadonlySet<CoordEventKind>;
  /** Only events about this task (task events), if set. */
  readonly taskId?: string;
  /**
   * Replay logged events after this sequence first (0: all retained). Undefined: only new events.
   * A sequence whose next events are gone, or that this hub never reached, is refused.
   */
  readonly sinceSequence?: number;
}

export interface EventHub {
  /**
   * Events from now on (and the replay asked for), in order, in batches of one commit each.
   * Throws `out-of-range` for a `sinceSequence` it cannot resume after ({@link replayGap}).
   */
  subscribe(filter: EventFilter): AsyncQueue<LoggedEvent[]>;
  readonly lastSequence: number;
  close(): void;
}

export interface EventHubOptions {
  readonly events: EventBus<CoordEvents>;
  readonly now: () => number;
  /** Delays publishing until the turn's changes are stored: watchers never see unstored state. */
  readonly afterCommit: (deliver: () => void) => void;
  /** How many past events to keep for `sinceSequence` replays (`--events-replay`). Default 10,000. */
  readonly retain?: number;
  /** A watcher this many batches behind is cut off rather than let the server's memory grow. */
  readonly maxBacklog?: number;
  /**
   * The sequence before this log's first event (default 0). A replica that takes over starts
   * above anything its predecessor numbered, so a watcher resuming after a sequence the earlier
   * leader gave is always told it missed events, never handed this log as if it went on from there.
   */
  readonly firstSequence?: number;
}

const ANNOUNCED: ReadonlySet<string> = new Set(ANNOUNCED_EVENTS);

const DEFAULT_EVENTS_REPLAY = 10_000;

const REREAD = 'read the state again and watch from now';

/**
 * Why a watcher cannot resume after `since`, if it cannot. Replaying what is left would hand it
 * a stream that looks whole and is not: a client that applies events to a copy of the state
 * would keep a wrong copy without knowing. So the refusal comes before any event, with what a
 * client needs to start again (the last sequence, the oldest kept).
 */
function replayGap(since: number, last: number, retain: number, first: number): BatonError | undefined {
  if (since === 0) return undefined;
  const oldest = Math.max(first + 1, last - retain + 1);
  const field = 'since_sequence';
  if (since <= first) {
    return new BatonError(
      'out-of-range',
      `since_sequence ${since} was numbered by an earlier leader: this replica took over and numbers ` +
        `its events after ${first}, and what the earlier one had not sent is not kept; ${REREAD}`,
      { field, data: { first, last } },
    );
  }
  if (since > last) {
    return new BatonError(
      'out-of-range',
      `since_sequence ${since} is past this server's last event (${last}): it restarted, or another ` +
        `replica leads now, and its events are numbered from 1 again; ${REREAD}`,
      { field, data: { last } },
    );
  }
  if (since + 1 >= oldest) return undefined;
  return new BatonError(
    'out-of-range',
    `since_sequence ${since} is older than the events replay window (--events-replay ${retain}; ` +
      `oldest kept is ${oldest}): ${oldest - since - 1} event(s) after it are no longer kept; ${REREAD}`,
    { field, data: { limit: 'events-replay', value: retain, oldest, last, missed: oldest - since - 1 } },
  );
}

const taskIdOf = (e: LoggedEvent): string | undefined =>
  'task' in e.payload ? (e.payload as { task: { id: string } }).task.id : undefined;

const matches = (filter: EventFilter, e: LoggedEvent): boolean =>
  (filter.kinds === undefined || filter.kinds.size === 0 || filter.kinds.has(e.kind)) &&
  (filter.taskId === undefined || filter.taskId === '' || taskIdOf(e) === filter.taskId);

/**
 * The server's event log: numbers every announced coordination event, keeps a window of recent
 * ones for replay, and fans them out to watchers. Events are kept as core objects and only
 * encoded for watchers that want them, so an unwatched coordinator pays almost nothing.
 *
 * The window is a ring of the last `retain` events, each kept as its time, kind and payload in
 * three slots (sequence n in slot n mod retain): no object of its own per event, and none
 * moved, unless a watcher is there to be given one. Every event outlives several scavenges in
 * the window, so what each one keeps alive is copied out of the young generation.
 */
export function createEventHub(options: EventHubOptions): EventHub {
  const retain = Math.max(1, options.retain ?? DEFAULT_EVENTS_REPLAY);
  const maxBacklog = options.maxBacklog ?? 1_000;
  const ats = new Float64Array(retain);
  const kinds: Announced[] = new Array(retain);
  const payloads: CoordEvents[Announced][] = new Array(retain);
  const logged = (seq: number): LoggedEvent => {
    const slot = seq % retain;
    return {
      sequence: seq,
      at: ats[slot] as number,
      kind: kinds[slot] as Announced,
      payload: payloads[slot] as CoordEvents[Announced],
    };
  };
  let pending: LoggedEvent[] = [];
  const first = options.firstSequence ?? 0;
  let sequence = first;
  const watchers = new Map<AsyncQueue<LoggedEvent[]>, EventFilter>();

  const publish = (): void => {
    const batch = pending;
    pending = [];
    for (const [queue, filter] of watchers) {
      const selected = batch.filter((e) => matches(filter, e));
      if (selected.length === 0) continue;
      if (queue.length >= maxBacklog) {
        watchers.delete(queue);
        queue.close(new Error(`event watcher fell more than ${maxBacklog} batches behind`));
        continue;
      }
      queue.push(selected);
    }
  };

  const unsubscribe = options.events.onAny((kind, payload) => {
    if (!ANNOUNCED.has(kind)) return;
    const slot = ++sequence % retain;
    ats[slot] = options.now();
    kinds[slot] = kind as Announced;
    payloads[slot] = payload as CoordEvents[Announced];
    if (watchers.size === 0) return;
    if (pending.length === 0) options.afterCommit(publish);
    pending.push(logged(sequence));
  });

  return {
    subscribe(filter) {
      const queue = createAsyncQueue<LoggedEvent[]>();
      const since = filter.sinceSequence;
      if (since !== undefined) {
        const gap = replayGap(since, sequence, retain, first);
        if (gap !== undefined) throw gap;
        // Events not yet published reach the new watcher with their batch, not twice.
        const unpublished = new Set(pending.map((e) => e.sequence));
        const replay: LoggedEvent[] = [];
        for (let seq = Math.max(since, sequence - retain, first) + 1; seq <= sequence; seq++) {
          if (unpublished.has(seq)) continue;
          const event = logged(seq);
          if (matches(filter, event)) replay.push(event);
        }
        if (replay.length > 0) queue.push(replay);
      }
      watchers.set(queue, filter);
      const close = queue.close.bind(queue);
      queue.close = (error?: unknown) => {
        watchers.delete(queue);
        close(error);
      };
      return queue;
    },
    get lastSequence() {
      return sequence;
    },
    close() {
      unsubscribe();
      for (const queue of [...watchers.keys()]) queue.close();
    },
  };
}
