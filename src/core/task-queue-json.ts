import { BatonError, invalidArgument } from './errors.js';
import type { RetryBackoff } from './retry-backoff.js';
import { TASK_STATUSES, type TaskStatus } from './task.js';
import type { TaskQueueJson } from './task-queue.js';
import { TaskRecord } from './task-record.js';
import { cycleError, freezeJson, normalizeSpec, orderBatch } from './task-spec.js';

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;

/**
 * Turns a `toJSON` image back into records, checking everything a store or a file could have
 * got wrong: a queue loaded from bad JSON must fail loudly rather than misbehave later.
 */
export function parseQueueJson(
  json: TaskQueueJson,
  defaultMaxAttempts: number,
  defaultBackoff: RetryBackoff,
): TaskRecord[] {
  if (typeof json !== 'object' || json === null || json.version !== 1 || !Array.isArray(json.tasks)) {
    throw invalidArgument('not a task queue image (version 1 with a tasks array)', { field: 'json' });
  }
  if (!isCount(json.nextSeq))
    throw invalidArgument('nextSeq must be a non-negative integer', { field: 'nextSeq' });
  const specs = json.tasks.map((t, i) =>
    normalizeSpec(t, `tasks[${i}]`, defaultMaxAttempts, 'stored', defaultBackoff),
  );
  const ids = new Set<string>();
  for (const spec of specs) {
    if (ids.has(spec.id))
      throw new BatonError('already-exists', `task ${spec.id} appears twice`, { taskId: spec.id });
    ids.add(spec.id);
  }
  for (const spec of specs) {
    const unknown = spec.deps.filter((d) => !ids.has(d));
    if (unknown.length > 0) {
      throw invalidArgument(`task ${spec.id} depends on unknown task(s): ${unknown.join(', ')}`, {
        taskId: spec.id,
        data: { unknownDeps: unknown },
      });
    }
  }
  const ordered = orderBatch(specs);
  if ('cycle' in ordered) throw cycleError(ordered.cycle);

  const seqs = new Set<number>();
  const records = json.tasks.map((t, i) => {
    const bad = (field: string, what: string): BatonError =>
      invalidArgument(`task ${t.id}: ${field} ${what}`, { field: `tasks[${i}].${field}`, taskId: t.id });
    if (!TASK_STATUSES.includes(t.status)) throw bad('status', 'is not a task status');
    if (!isCount(t.seq) || t.seq >= json.nextSeq) throw bad('seq', 'must be an integer below nextSeq');
    // Equal seqs would leave the FIFO order between two tasks undefined.
    if (seqs.has(t.seq)) throw bad('seq', 'is used by another task');
    seqs.add(t.seq);
    if (!isCount(t.attempt) || !isCount(t.attemptFloor) || t.attemptFloor > t.attempt) {
      throw bad('attempt', 'and attemptFloor must be integers with attemptFloor ≤ attempt');
    }
    const holding = t.status === 'assigned' || t.status === 'running';
    if (holding && (typeof t.workerId !== 'string' || t.workerId.length === 0)) {
      throw bad('workerId', `must name the worker holding a ${t.status} task`);
    }
    for (const key of ['createdAt', 'updatedAt'] as const)
      if (!isTime(t[key])) throw bad(key, 'must be a time');
    for (const key of ['assignedAt', 'startedAt', 'finishedAt', 'notBefore'] as const) {
      if (key === 'notBefore' && t[key] === undefined) continue;
      if (t[key] !== null && !isTime(t[key])) throw bad(key, 'must be a time or null');
    }
    for (const key of ['workerId', 'error', 'cancelledBy'] as const) {
      const value: unknown = t[key];
      if (value !== null && value !== undefined && typeof value !== 'string')
        throw bad(key, 'must be a string or null');
    }
    const spec = specs[i] as (typeof specs)[number];
    const task = new TaskRecord(spec, t.seq, t.createdAt);
    task.status = t.status as TaskStatus;
    task.workerId = t.workerId ?? null;
    task.attempt = t.attempt;
    task.attemptFloor = t.attemptFloor;
    task.result = t.result === undefined ? null : freezeJson(t.result, `tasks[${i}].result`);
    task.error = t.error ?? null;
    task.cancelledBy = t.cancelledBy ?? null;
    task.updatedAt = t.updatedAt;
    task.assignedAt = t.assignedAt;
    task.startedAt = t.startedAt;
    task.finishedAt = t.finishedAt;
    // Stored before not-before times were: the schedule alone.
    if (t.notBefore !== undefined) task.notBefore = t.notBefore;
    return task;
  });
  checkStatuses(records);
  return records;
}

/**
 * The statuses the queue's own transitions can produce: a task that was ever assigned (assigned,
 * running, complete, failed) has every dep complete, and a pending task has no failed or cancelled
 * dep (it would be in that dep's cascade). Anything else would leave tasks stuck for good.
 */
function checkStatuses(records: readonly TaskRecord[]): void {
  const byId = new Map<string, TaskRecord>();
  for (const task of records) byId.set(task.id, task);
  records.forEach((task, i) => {
    if (task.status === 'cancelled') return;
    for (const depId of task.deps) {
      const dep = byId.get(depId) as TaskRecord;
      const ok =
        task.status === 'pending'
          ? dep.status !== 'failed' && dep.status !== 'cancelled'
          : dep.status === 'complete';
      if (!ok) {
        const why = `task ${task.id}: cannot be ${task.status} while its dep ${dep.id} is ${dep.status}`;
        throw invalidArgument(why, { field: `tasks[${i}].status`, taskId: task.id });
      }
    }
  });
}
