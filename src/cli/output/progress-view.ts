import type { Progress } from '../../client/proto.js';

/** `12 tasks: 5 complete, 2 running, 3 pending (2 ready), 1 failed; 41.7% complete`, zeros left out. */
export function progressLine(p: Progress): string {
  if (p.total === 0) return '0 tasks';
  const parts = [
    [p.complete, 'complete'],
    [p.running, 'running'],
    [p.assigned, 'assigned'],
    [p.pending, p.ready > 0 ? `pending (${p.ready} ready)` : 'pending'],
    [p.failed, 'failed'],
    [p.cancelled, 'cancelled'],
  ] as const;
  const counts = parts.filter(([n]) => n > 0).map(([n, what]) => `${n} ${what}`);
  return `${p.total} task${p.total === 1 ? '' : 's'}: ${counts.join(', ')}; ${p.percentComplete.toFixed(1)}% complete`;
}

/** Tasks that will not change without an operator: complete, failed or cancelled. */
export const settledCount = (p: Progress): number => p.complete + p.failed + p.cancelled;
