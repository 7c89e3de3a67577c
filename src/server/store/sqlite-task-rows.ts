// store/: durable implementations of the core Store interface.
// Imports src/core only (test/architecture/walls.test.ts).
import type { TaskRow } from '../../core/store.js';
import type { TaskStatus } from '../../core/task.js';
import { STORED_STATUSES } from './sqlite-schema.js';

/** task_state's columns after seq, in order: what a transition writes. */
export const STATE_COLUMNS = [
  'status',
  'worker_id',
  'attempt',
  'attempt_floor',
  'updated_at',
  'assigned_at',
  'started_at',
  'finished_at',
  'error',
  'cancelled_by',
] as const;

/** Values per task in `TaskWrites.states`: seq, then STATE_COLUMNS. */
export const STATE_WIDTH = 1 + STATE_COLUMNS.length;

const STATUS_CODES = new Map<string, number>(STORED_STATUSES.map((s, i) => [s, i]));

/**
 * The task rows of one commit in flat arrays of plain values: cheap to build, to bind and to
 * copy to another thread (no object per task).
 */
export interface TaskWrites {
  /** seq, id, spec JSON, per new task. */
  readonly specs: (number | string)[];
  /** seq and STATE_COLUMNS, STATE_WIDTH values per task. */
  readonly states: (number | string | null)[];
  /** seq, result JSON, per task completed with a result. */
  readonly results: (number | string)[];
}

/**
 * Every field of a stored task row and where it is kept: `spec` (task_specs.spec, written once),
 * `state` (task_state, written by each transition), `key` (the row's own columns), `result`
 * (task_results), `live` (not stored). A field added to TaskSnapshot must be listed here (a spec
 * checks it): a field that changes after the task is added needs a task_state column, or a restart
 * brings back its first value.
 */
export const STORED_FIELDS: Readonly<Record<keyof TaskRow, 'spec' | 'state' | 'key' | 'result' | 'live'>> = {
  id: 'key',
  seq: 'key',
  deps: 'spec',
  priority: 'spec',
  category: 'spec',
  metadata: 'spec',
  maxAttempts: 'spec',
  paths: 'spec',
  land: 'spec',
  requireCapability: 'spec',
  createdAt: 'spec',
  status: 'state',
  workerId: 'state',
  attempt: 'state',
  attemptFloor: 'state',
  updatedAt: 'state',
  assignedAt: 'state',
  startedAt: 'state',
  finishedAt: 'state',
  error: 'state',
  cancelledBy: 'state',
  result: 'result',
  waitingFor: 'live',
};

const SPEC_FIELDS = (Object.keys(STORED_FIELDS) as (keyof TaskRow)[]).filter(
  (k) => STORED_FIELDS[k] === 'spec',
);

/** What is written once, when the task is added: its `spec` fields. */
const specJson = (row: TaskRow): string => {
  const spec: Record<string, unknown> = {};
  for (const field of SPEC_FIELDS) spec[field] = row[field];
  return JSON.stringify(spec);
};

/**
 * Appends one changed task to `writes`. A task whose seq is at or past `storedNextSeq` (the
 * insertion counter as last committed) was added since the last commit and gets its spec row;
 * any other has it already (seqs are never reused, and only the restore at start loads tasks
 * that were not added through the queue: those come from the store).
 */
export function writeTask(writes: TaskWrites, row: TaskRow, storedNextSeq: number): void {
  const { seq } = row;
  if (seq >= storedNextSeq) writes.specs.push(seq, row.id, specJson(row));
  writes.states.push(
    seq,
    STATUS_CODES.get(row.status) as number,
    row.workerId,
    row.attempt,
    row.attemptFloor,
    row.updatedAt,
    row.assignedAt,
    row.startedAt,
    row.finishedAt,
    row.error,
    row.cancelledBy,
  );
  // Only a completion sets a result, and a complete task never changes again.
  if (row.status === 'complete' && row.result !== null && row.result !== undefined) {
    writes.results.push(seq, JSON.stringify(row.result));
  }
}

/** One task as the load query reads it (task_specs joined to task_state and task_results). */
export interface StoredTask {
  readonly seq: number;
  readonly id: string;
  readonly spec: string;
  readonly status: number;
  readonly worker_id: string | null;
  readonly attempt: number;
  readonly attempt_floor: number;
  readonly updated_at: number;
  readonly assigned_at: number | null;
  readonly started_at: number | null;
  readonly finished_at: number | null;
  readonly error: string | null;
  readonly cancelled_by: string | null;
  readonly result: string | null;
}

/** The task as the queue restores it; the queue checks every field (task-queue-json.ts). */
export function readTask(r: StoredTask): TaskRow {
  const row = JSON.parse(r.spec) as Record<string, unknown>;
  row.id = r.id;
  row.seq = r.seq;
  row.status = (STORED_STATUSES[r.status] ?? `unknown status code ${r.status}`) as TaskStatus;
  row.workerId = r.worker_id;
  row.attempt = r.attempt;
  row.attemptFloor = r.attempt_floor;
  row.result = r.result === null ? null : JSON.parse(r.result);
  row.error = r.error;
  row.cancelledBy = r.cancelled_by;
  row.updatedAt = r.updated_at;
  row.assignedAt = r.assigned_at;
  row.startedAt = r.started_at;
  row.finishedAt = r.finished_at;
  row.waitingFor = null;
  return row as unknown as TaskRow;
}
