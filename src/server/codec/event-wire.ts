// codec/: wire <-> core translation: generated messages, JSON/protobuf conversions, error mapping.
// Imports src/core, src/gen and src/wire; runtime/ and workspaces/ for types only (test/architecture/walls.test.ts).
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { CoordEventKind, CoordEvents, LIFECYCLE_EVENTS } from '../../core/events.js';
import type { CoordinatorState } from '../../core/lifecycle.js';
import type { LoggedEvent } from '../runtime/event-hub.js';
import { type Event, EventKind, EventSchema } from './proto.js';
import { BUDGET_SCOPE, LIFECYCLE, taskToWire } from './wire.js';

const EVENT_KIND: Record<LoggedEvent['kind'], EventKind> = {
  'coord:started': EventKind.STARTED,
  'coord:stopped': EventKind.STOPPED,
  'coord:draining': EventKind.DRAINING,
  'coord:drained': EventKind.DRAINED,
  'coord:reopened': EventKind.REOPENED,
  'coord:assigned': EventKind.ASSIGNED,
  'coord:task-complete': EventKind.TASK_COMPLETE,
  'coord:task-failed': EventKind.TASK_FAILED,
  'coord:all-settled': EventKind.ALL_SETTLED,
  'coord:all-complete': EventKind.ALL_COMPLETE,
  'coord:budget-warning': EventKind.BUDGET_WARNING,
  'coord:budget-exceeded': EventKind.BUDGET_EXCEEDED,
  'coord:worker-joined': EventKind.WORKER_JOINED,
  'coord:worker-left': EventKind.WORKER_LEFT,
  'coord:task-added': EventKind.TASK_ADDED,
  'coord:task-cancelled': EventKind.TASK_CANCELLED,
  'coord:task-retried': EventKind.TASK_RETRIED,
  'coord:task-requeued': EventKind.TASK_REQUEUED,
  'coord:task-started': EventKind.TASK_STARTED,
  'coord:task-deleted': EventKind.TASK_DELETED,
  'coord:tasks-purged': EventKind.TASKS_PURGED,
  'coord:conflict': EventKind.CONFLICT,
  'coord:conflict-cleared': EventKind.CONFLICT_CLEARED,
  'coord:merge-queued': EventKind.MERGE_QUEUED,
  'coord:merged': EventKind.MERGED,
  'coord:merge-rejected': EventKind.MERGE_REJECTED,
};

const KIND_NAME = new Map<EventKind, CoordEventKind>(
  Object.entries(EVENT_KIND).map(([name, kind]) => [kind, name as CoordEventKind]),
);
export const eventKindName = (kind: EventKind): CoordEventKind | undefined => KIND_NAME.get(kind);

type Payload<K extends LoggedEvent['kind']> = CoordEvents[K];

/** The state each lifecycle event leaves the coordinator in. */
const ENTERED: Record<(typeof LIFECYCLE_EVENTS)[number], CoordinatorState> = {
  'coord:started': 'running',
  'coord:draining': 'draining',
  'coord:drained': 'drained',
  'coord:stopped': 'stopped',
  'coord:reopened': 'init',
};

function payloadOf(e: LoggedEvent): NonNullable<MessageInitShape<typeof EventSchema>['payload']> {
  switch (e.kind) {
    case 'coord:started':
    case 'coord:draining':
    case 'coord:drained':
    case 'coord:stopped':
    case 'coord:reopened':
      return { case: 'lifecycle', value: { state: LIFECYCLE[ENTERED[e.kind]] } };
    case 'coord:all-settled':
    case 'coord:all-complete': {
      const p = e.payload as Payload<'coord:all-complete'>;
      return {
        case: 'allComplete',
        value: { complete: p.complete, failed: p.failed, cancelled: p.cancelled },
      };
    }
    case 'coord:tasks-purged': {
      const p = e.payload as Payload<'coord:tasks-purged'>;
      return {
        case: 'tasksPurged',
        value: { finishedBefore: timestampFromMs(p.finishedBefore), purged: p.purged, kept: p.kept },
      };
    }
    case 'coord:budget-warning':
    case 'coord:budget-exceeded': {
      const p = e.payload as Payload<'coord:budget-warning'>;
      return {
        case: 'budget',
        value: {
          scope: BUDGET_SCOPE[p.scope],
          workerId: p.workerId ?? '',
          spentUsd: p.spentUsd,
          budgetUsd: p.budgetUsd,
        },
      };
    }
    case 'coord:worker-joined': {
      const p = e.payload as Payload<'coord:worker-joined'>;
      return {
        case: 'workerJoined',
        value: {
          workerId: p.workerId,
          capabilities: [...p.capabilities],
          labels: { ...p.labels },
          maxConcurrency: p.maxConcurrency,
        },
      };
    }
    case 'coord:worker-left': {
      const p = e.payload as Payload<'coord:worker-left'>;
      return { case: 'workerLeft', value: { workerId: p.workerId, reason: p.reason } };
    }
    case 'coord:conflict':
    case 'coord:conflict-cleared': {
      const p = e.payload as Payload<'coord:conflict'>;
      return { case: 'conflict', value: { branch: p.branch, other: p.other, paths: [...p.paths] } };
    }
    case 'coord:merge-queued':
    case 'coord:merged':
    case 'coord:merge-rejected': {
      const p = e.payload as Payload<'coord:merged'>;
      return {
        case: 'merge',
        value: {
          entryId: p.entryId,
          branch: p.branch,
          head: p.head,
          by: p.by,
          landedAs: p.landedAs ?? '',
          reason: p.reason ?? '',
        },
      };
    }
    default:
      return { case: 'task', value: taskToWire((e.payload as Payload<'coord:task-added'>).task) };
  }
}

type TaskPayload = Payload<'coord:task-cancelled'> & { workerId?: string; reason?: string };

/** A task event's worker and reason sit beside the task (Event.worker_id, Event.reason). */
const taskExtras = (e: LoggedEvent): { workerId?: string; reason?: string } => {
  if (!('task' in e.payload)) return {};
  const p = e.payload as TaskPayload;
  return { workerId: p.workerId ?? p.task.workerId ?? '', reason: p.cause ?? p.reason ?? '' };
};

export const eventToWire = (e: LoggedEvent): Event =>
  create(EventSchema, {
    sequence: BigInt(e.sequence),
    time: timestampFromMs(e.at),
    kind: EVENT_KIND[e.kind],
    payload: payloadOf(e),
    ...taskExtras(e),
  });
