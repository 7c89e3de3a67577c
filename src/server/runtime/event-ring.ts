// runtime/: the running coordinator wired to its store and listeners: group commit, sessions, events.
// Imports src/core, src/wire, codec/ and workspaces/ (test/architecture/walls.test.ts).
import type { ANNOUNCED_EVENTS, CoordEvents } from '../../core/events.js';
import type { TaskSnapshot } from '../../core/task.js';

type Announced = (typeof ANNOUNCED_EVENTS)[number];

/** One announced event with its place in the server's event log. */
export interface LoggedEvent {
  readonly sequence: number;
  readonly at: number;
  readonly kind: Announced;
  readonly payload: CoordEvents[Announced];
}

/** The last `retain` events by sequence: sequence n in slot n mod retain. */
export interface EventRing {
  put(sequence: number, at: number, kind: Announced, payload: CoordEvents[Announced]): void;
  /** The event logged under `sequence`, if it is still in the window (rebuilt: a new object). */
  get(sequence: number): LoggedEvent;
}

/**
 * Where the ring keeps each field of a task snapshot: `number` (a Float64Array column; null as
 * NaN) or `ref` (a column of references to what the snapshot already points at: strings, frozen
 * arrays and objects, booleans). A field added to TaskSnapshot must be placed here.
 */
const SNAPSHOT_COLUMNS: Readonly<Record<keyof TaskSnapshot, 'number' | 'ref'>> = {
  id: 'ref',
  deps: 'ref',
  priority: 'number',
  category: 'ref',
  metadata: 'ref',
  status: 'ref',
  workerId: 'ref',
  attempt: 'number',
  maxAttempts: 'number',
  result: 'ref',
  error: 'ref',
  cancelledBy: 'ref',
  createdAt: 'number',
  updatedAt: 'number',
  assignedAt: 'number',
  startedAt: 'number',
  finishedAt: 'number',
  paths: 'ref',
  land: 'ref',
  requireCapability: 'ref',
  runAt: 'number',
  notBefore: 'number',
  retryBackoff: 'ref',
  waitingFor: 'ref',
};
const FIELDS = Object.keys(SNAPSHOT_COLUMNS) as (keyof TaskSnapshot)[];
const NUMBERS = FIELDS.filter((f) => SNAPSHOT_COLUMNS[f] === 'number');
const REFS = FIELDS.filter((f) => SNAPSHOT_COLUMNS[f] === 'ref');
/** Each field's index in its kind of column, in FIELDS order. */
const COLUMN = FIELDS.map((f) => (SNAPSHOT_COLUMNS[f] === 'number' ? NUMBERS : REFS).indexOf(f));

/**
 * The events whose payload is a task snapshot, and the string field some of them add beside it:
 * these are kept in columns. Any other payload is kept as the object it is.
 */
const TASK_EVENTS: Partial<Record<Announced, 'workerId' | 'cause' | 'reason' | null>> = {
  'coord:task-added': null,
  'coord:assigned': 'workerId',
  'coord:task-started': null,
  'coord:task-complete': null,
  'coord:task-failed': null,
  'coord:task-cancelled': 'cause',
  'coord:task-retried': null,
  'coord:task-requeued': 'reason',
  'coord:task-deleted': null,
};

/**
 * A ring of events that keeps no object of its own per event. A task event's snapshot (a new
 * object of two dozen fields per transition, four transitions per task) is copied into columns,
 * so the snapshot dies young unless a watcher holds it; kept in the ring, it would outlive several
 * scavenges and be copied and promoted with everything it holds. Replays rebuild the snapshot.
 */
export function createEventRing(retain: number): EventRing {
  const ats = new Float64Array(retain);
  const kinds: Announced[] = new Array(retain).fill('coord:started');
  /** The payload itself, for events that are not task events; null for task events. */
  const payloads: (CoordEvents[Announced] | null)[] = new Array(retain).fill(null);
  const numbers = new Float64Array(retain * NUMBERS.length);
  const refs: unknown[] = new Array(retain * REFS.length).fill(null);
  const extras: (string | null)[] = new Array(retain).fill(null);

  return {
    put(sequence, at, kind, payload) {
      const slot = sequence % retain;
      ats[slot] = at;
      kinds[slot] = kind;
      const extra = TASK_EVENTS[kind];
      if (extra === undefined) {
        payloads[slot] = payload;
        return;
      }
      payloads[slot] = null;
      const task = (payload as { task: TaskSnapshot }).task;
      for (let i = 0, at = slot * NUMBERS.length; i < NUMBERS.length; i++) {
        numbers[at + i] = (task[NUMBERS[i] as keyof TaskSnapshot] as number | null) ?? Number.NaN;
      }
      for (let i = 0, at = slot * REFS.length; i < REFS.length; i++) {
        refs[at + i] = task[REFS[i] as keyof TaskSnapshot];
      }
      extras[slot] =
        extra === null ? null : ((payload as unknown as Record<string, string>)[extra] as string);
    },
    get(sequence) {
      const slot = sequence % retain;
      const kind = kinds[slot] as Announced;
      const stored = payloads[slot];
      if (stored !== null && stored !== undefined) {
        return { sequence, at: ats[slot] as number, kind, payload: stored };
      }
      const task: Record<string, unknown> = {};
      for (let i = 0; i < FIELDS.length; i++) {
        const field = FIELDS[i] as keyof TaskSnapshot;
        const column = COLUMN[i] as number;
        if (SNAPSHOT_COLUMNS[field] === 'number') {
          const value = numbers[slot * NUMBERS.length + column] as number;
          task[field] = Number.isNaN(value) ? null : value;
        } else task[field] = refs[slot * REFS.length + column];
      }
      const extra = TASK_EVENTS[kind];
      const payload = (extra === null || extra === undefined
        ? { task }
        : { task, [extra]: extras[slot] }) as unknown as CoordEvents[Announced];
      return { sequence, at: ats[slot] as number, kind, payload };
    },
  };
}
