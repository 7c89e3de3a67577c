import { resultOf, taskStatusName } from '../../client/admin.js';
import type { Task } from '../../client/proto.js';
import { table } from './table.js';
import { ago, isoTime, orDash } from './words.js';

/** Deps as a short cell: the first few ids, then how many more. */
function depsCell(deps: readonly string[]): string {
  if (deps.length === 0) return '-';
  const shown = deps.slice(0, 3).join(',');
  return deps.length > 3 ? `${shown},+${deps.length - 3}` : shown;
}

/** One row per task, in the order given: what `baton tasks list` prints. */
export function tasksTable(tasks: readonly Task[], now: number): string {
  return table(
    [
      { heading: 'ID' },
      { heading: 'STATUS' },
      { heading: 'CATEGORY' },
      { heading: 'WORKER' },
      { heading: 'ATTEMPT', align: 'right' },
      { heading: 'PRIORITY', align: 'right' },
      { heading: 'DEPS' },
      { heading: 'UPDATED' },
    ],
    tasks.map((t) => [
      t.id,
      taskStatusName(t.status),
      orDash(t.category),
      orDash(t.workerId),
      `${t.attempt}/${t.maxAttempts}`,
      String(t.priority),
      depsCell(t.deps),
      ago(t.updatedAt, now),
    ]),
  );
}

/** Every field of one task, one per line, result and metadata as indented JSON. */
export function taskDetail(task: Task): string {
  const json = (value: unknown): string => JSON.stringify(value, null, 2).replaceAll('\n', '\n  ');
  const lines: [string, string][] = [
    ['id', task.id],
    ['status', taskStatusName(task.status)],
    ['category', orDash(task.category)],
    ['priority', String(task.priority)],
    ['deps', task.deps.length === 0 ? '-' : task.deps.join(', ')],
    ['worker', orDash(task.workerId)],
    ['attempt', `${task.attempt} of ${task.maxAttempts}`],
    ['waiting for', orDash(task.waitingFor)],
    ['paths', task.paths.length === 0 ? '-' : task.paths.join(', ')],
    ['land', task.land ? 'yes' : 'no'],
    ['error', orDash(task.error)],
    ['cancelled by', orDash(task.cancelledBy)],
    ['created', isoTime(task.createdAt)],
    ['assigned', isoTime(task.assignedAt)],
    ['started', isoTime(task.startedAt)],
    ['finished', isoTime(task.finishedAt)],
    ['updated', isoTime(task.updatedAt)],
  ];
  const width = Math.max(...lines.map(([k]) => k.length));
  const head = lines.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`).join('\n');
  const result = resultOf(task);
  const metadata = task.metadata === undefined ? undefined : json(task.metadata);
  return (
    `${head}\n` +
    `${'metadata:'.padEnd(width + 2)}${metadata ?? '-'}\n` +
    `${'result:'.padEnd(width + 2)}${result === undefined ? '-' : json(result)}\n`
  );
}
