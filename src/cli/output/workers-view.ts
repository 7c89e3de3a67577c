import { WorkerState, type WorkerStatus } from '../../client/proto.js';
import { table } from './table.js';
import { ago, enumWord, millisOf, span } from './words.js';

/** One row per worker: state, load against its concurrency, capabilities, lease left. */
export function workersTable(workers: readonly WorkerStatus[], now: number): string {
  const rows = workers.map((w) => {
    const lease = millisOf(w.leaseExpiresAt);
    return [
      w.workerId,
      enumWord(WorkerState, w.state),
      `${w.running}/${w.maxConcurrency}`,
      w.capabilities.length === 0 ? '*' : w.capabilities.join(','),
      ago(w.joinedAt, now),
      lease === undefined ? '-' : lease > now ? `in ${span(lease - now)}` : 'lapsed',
    ];
  });
  return table(
    [
      { heading: 'WORKER' },
      { heading: 'STATE' },
      { heading: 'LOAD', align: 'right' },
      { heading: 'CAPABILITIES' },
      { heading: 'JOINED' },
      { heading: 'LEASE' },
    ],
    rows,
  );
}
