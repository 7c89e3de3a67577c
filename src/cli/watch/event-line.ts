import { eventKindName, taskStatusName } from '../../client/admin.js';
import { BudgetScope, type Event, LifecycleState } from '../../client/proto.js';
import { enumWord, isoTime, usd } from '../output/words.js';

/** What an event is about, as `key=value` words. */
function details(event: Event): string[] {
  const p = event.payload;
  switch (p.case) {
    case 'task': {
      const t = p.value;
      return [
        `task=${t.id}`,
        `status=${taskStatusName(t.status)}`,
        ...(t.workerId === '' ? [] : [`worker=${t.workerId}`]),
        ...(t.attempt === 0 ? [] : [`attempt=${t.attempt}/${t.maxAttempts}`]),
        ...(t.error === '' ? [] : [`error=${JSON.stringify(t.error)}`]),
      ];
    }
    case 'lifecycle':
      return [`state=${enumWord(LifecycleState, p.value.state)}`];
    case 'allComplete':
      return [`complete=${p.value.complete}`, `failed=${p.value.failed}`, `cancelled=${p.value.cancelled}`];
    case 'budget':
      return [
        `scope=${enumWord(BudgetScope, p.value.scope)}`,
        ...(p.value.workerId === '' ? [] : [`worker=${p.value.workerId}`]),
        `spent=${usd(p.value.spentUsd)}`,
        `budget=${usd(p.value.budgetUsd)}`,
      ];
    case 'workerJoined':
      return [
        `worker=${p.value.workerId}`,
        `capabilities=${p.value.capabilities.join(',') || '*'}`,
        `max=${p.value.maxConcurrency}`,
      ];
    case 'workerLeft':
      return [
        `worker=${p.value.workerId}`,
        ...(p.value.reason === '' ? [] : [`reason=${JSON.stringify(p.value.reason)}`]),
      ];
    case 'conflict':
      return [`branch=${p.value.branch}`, `other=${p.value.other}`, `paths=${p.value.paths.join(',')}`];
    case 'merge':
      return [
        `entry=${p.value.entryId}`,
        `branch=${p.value.branch}`,
        ...(p.value.head === '' ? [] : [`head=${p.value.head.slice(0, 12)}`]),
        ...(p.value.landedAs === '' ? [] : [`landed=${p.value.landedAs.slice(0, 12)}`]),
        ...(p.value.reason === '' ? [] : [`reason=${JSON.stringify(p.value.reason)}`]),
      ];
    default:
      return [];
  }
}

/** One event as a line: `2026-12-07T15:40:01.123Z  #42  coord:task-complete  task=a status=complete ...`. */
export function eventLine(event: Event): string {
  const words = details(event);
  const p = event.payload;
  const payloadWorker =
    p.case === 'workerJoined' || p.case === 'workerLeft' || p.case === 'task' || p.case === 'budget';
  if (event.workerId !== undefined && event.workerId !== '' && !payloadWorker)
    words.push(`worker=${event.workerId}`);
  if (event.reason !== undefined && event.reason !== '' && !words.some((w) => w.startsWith('reason=')))
    words.push(`reason=${JSON.stringify(event.reason)}`);
  return `${isoTime(event.time)}  #${event.sequence}  ${eventKindName(event.kind)}${words.length === 0 ? '' : `  ${words.join(' ')}`}`;
}
