import type { Command } from 'commander';
import { rateLimitText } from '../output/rate-limit-view.js';
import { RateLimitStatusSchema } from '../output/schemas.js';
import { addSnapshotCommand } from './snapshot-command.js';

/** `baton rate-limit`: the shared request and token buckets, who waits, who used what. */
export function addRateLimitCommand(program: Command): void {
  addSnapshotCommand(program, {
    name: 'rate-limit',
    summary: 'the shared request and token buckets, waiters and per-worker usage',
    description:
      'Shows the shared rate limiter: free requests and tokens this minute, waiters, usage per worker.',
    read: (client) => client.rateLimit(),
    schema: RateLimitStatusSchema,
    text: rateLimitText,
  });
}
