import type { RateLimitStatus } from '../../client/proto.js';
import { table } from './table.js';

/** `590/600 requests, 999000/1000000 tokens free this minute; 0 waiting, 1 reserved`. */
export function rateLine(r: RateLimitStatus): string {
  return (
    `${r.availableRequests}/${r.maxRequestsPerMinute} requests, ` +
    `${r.availableTokens}/${r.maxTokensPerMinute} tokens free this minute; ` +
    `${r.queueLength} waiting, ${r.outstandingReservations} reserved`
  );
}

/** The buckets, the queue, and each worker's usage. */
export function rateLimitText(r: RateLimitStatus): string {
  const head =
    `requests  ${r.availableRequests} of ${r.maxRequestsPerMinute} per minute free\n` +
    `tokens    ${r.availableTokens} of ${r.maxTokensPerMinute} per minute free\n` +
    `waiting   ${r.queueLength}\n` +
    `reserved  ${r.outstandingReservations} (granted, not yet settled)\n`;
  if (r.workers.length === 0) return `${head}\nno worker has asked for rate yet\n`;
  const rows = r.workers.map((w) => [w.workerId, String(w.requests), String(w.tokens), String(w.denials)]);
  return `${head}\n${table(
    [
      { heading: 'WORKER' },
      { heading: 'REQUESTS', align: 'right' },
      { heading: 'TOKENS', align: 'right' },
      { heading: 'DENIALS', align: 'right' },
    ],
    rows,
  )}`;
}
