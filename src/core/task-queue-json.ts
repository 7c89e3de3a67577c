import { BatonError, invalidArgument } from './errors.js';
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
export function parseQueueJson(json: TaskQueueJson, defaultMaxAttempts: number): TaskRecord[] {
  if (typeof json !== 'object' || json === null || json.version !== 1 || !Array.isArray(json.tasks)) {
    throw invalidArgument('not a task queue image (version 1 with a tasks array)', { field: 'json' });
  }
  if (!isCount(json.nextSeq))
    throw invalidArgument('nextSeq must be a non-negative integer', { field: 'nextSeq' });
  const specs = json.tasks.map((t, i) => normalizeSpec(t, `tasks[${i}]`, defaultMaxAttempts));
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

  return json.tasks.map((t, i) => {
    const bad = (field: string, what: string): BatonError =>
      invalidArgument(`task ${t.id}: ${field} ${what}`, { field: `tasks[${i}].${field}`, taskId: t.id });
    if (!TASK_STATUSES.includes(t.status)) throw bad('status', 'is not a task status');
    if (!isCount(t.seq) || t.seq >= json.nextSeq) throw bad('seq', 'must be an integer below nextSeq');
    if (!isCount(t.attempt) || !isCount(t.attemptFloor) || t.attemptFloor > t.attempt) {
      throw bad('attempt', 'and attemptFloor must be integers with attemptFloor ≤ attempt');
    }
    const holding = t.status === 'assigned' || t.status === 'running';
    if (holding && (typeof t.workerId !== 'string' || t.workerId.length === 0)) {
      throw bad('workerId', `must name the worker holding a ${t.status} task`);
    }
    for (const key of ['createdAt', 'updatedAt'] as const)
      if (!isTime(t[key])) throw bad(key, 'must be a time');
    for (const key of ['assignedAt', 'startedAt', 'finishedAt'] as const) {
      if (t[key] !== null && !isTime(t[key])) throw bad(key, 'must be a time or null');
    }
    const spec = specs[i] as (typeof specs)[number];
    const task = new TaskRecord(
      spec.id,
      spec.deps,
      spec.priority,
      spec.category,
      spec.metadata,
      spec.maxAttempts,
      t.seq,
      t.createdAt,
    );
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
    return task;
  });
}
