import { AssignmentStrategy, type GetStatusResponse, LifecycleState } from '../../client/proto.js';
import { spendLine } from './costs-view.js';
import { progressLine } from './progress-view.js';
import { rateLine } from './rate-limit-view.js';
import { enumWord, span } from './words.js';
import { workersTable } from './workers-view.js';

/** `baton status` as text: one line per part, then the workers' table. */
export function statusText(status: GetStatusResponse, now: number): string {
  const lines = [
    `coordinator  ${enumWord(LifecycleState, status.state)}, strategy ${enumWord(AssignmentStrategy, status.strategy)}, lease ${span(status.leaseTtlMs)}`,
    `tasks        ${status.progress === undefined ? '0 tasks' : progressLine(status.progress)}`,
    `rate limit   ${status.rateLimit === undefined ? '-' : rateLine(status.rateLimit)}`,
    `costs        ${spendLine(status.costs?.global)}`,
    `workers      ${status.workers.length === 0 ? 'none connected' : status.workers.length}`,
  ];
  const text = `${lines.join('\n')}\n`;
  return status.workers.length === 0 ? text : `${text}\n${workersTable(status.workers, now)}`;
}
