// runtime/: the running coordinator wired to its store and listeners: group commit, sessions, events.
// Imports src/core, src/wire, codec/ and workspaces/ (test/architecture/walls.test.ts).
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
  /** Replay logged events after this sequence first (0: all retained). Undefined: only new events. */
  readonly sinceSequence?: number;
}

export interface EventHub {
  /** Events from now on (and the replay asked for), in order, in batches of one commit each. */
  subscribe(filter: EventFilter): AsyncQueue<LoggedEvent[]>;
  readonly lastSequence: number;
  close(): void;
}

export interface EventHubOptions {
  readonly events: EventBus<CoordEvents>;
  readonly now: () => number;
  /** Delays publishing until the turn's changes are stored: watchers never see unstored state. */
  readonly afterCommit: (deliver: () => void) => void;
  /** How many past events to keep for `sinceSequence` replays. */
  readonly retain?: number;
  /** A watcher this many batches behind is cut off rather than let the server's memory grow. */
  readonly maxBacklog?: number;
}

const ANNOUNCED: ReadonlySet<string> = new Set(ANNOUNCED_EVENTS);

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
  const retain = Math.max(1, options.retain ?? 10_000);
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
  let sequence = 0;
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
        // Events not yet published reach the new watcher with their batch, not twice.
        const unpublished = new Set(pending.map((e) => e.sequence));
        const replay: LoggedEvent[] = [];
        for (let seq = Math.max(since, sequence - retain) + 1; seq <= sequence; seq++) {
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
