// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import { LifecycleState, TaskStatus, WorkerState } from './proto.js';

/** The statuses in the order a task moves through them. */
export const STATUSES = [
  TaskStatus.PENDING,
  TaskStatus.ASSIGNED,
  TaskStatus.RUNNING,
  TaskStatus.COMPLETE,
  TaskStatus.FAILED,
  TaskStatus.CANCELLED,
] as const;

/** An enum value's name in lower case (`TaskStatus.PENDING` is `pending`): the REST words. */
const word = (names: Readonly<Record<number, string>>, value: number | undefined): string =>
  value === undefined ? 'unknown' : (names[value]?.toLowerCase() ?? 'unknown');

/** The REST word of a status (`pending`): also the CSS class that colours it. */
export const statusName = (status: TaskStatus): string => word(TaskStatus, status);

/** The colour of each status in bars and the graph (the same as the CSS `.s-<name>` classes). */
export const STATUS_COLOURS: Readonly<Record<string, string>> = {
  pending: '#64748b',
  ready: '#94a3b8',
  assigned: '#38bdf8',
  running: '#f59e0b',
  complete: '#22c55e',
  failed: '#ef4444',
  cancelled: '#a78bfa',
};

export const isTerminal = (status: TaskStatus): boolean =>
  status === TaskStatus.COMPLETE || status === TaskStatus.FAILED || status === TaskStatus.CANCELLED;

/** Cancel applies to what has not ended; retry to what failed or was cancelled. */
export const canCancel = (status: TaskStatus): boolean => !isTerminal(status);
export const canRetry = (status: TaskStatus): boolean =>
  status === TaskStatus.FAILED || status === TaskStatus.CANCELLED;

export const lifecycleName = (state: LifecycleState | undefined): string => word(LifecycleState, state);

export const workerStateName = (state: WorkerState): string => word(WorkerState, state);
