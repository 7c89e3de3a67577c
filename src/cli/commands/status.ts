import type { Command } from 'commander';
import { GetStatusResponseSchema } from '../output/schemas.js';
import { statusText } from '../output/status-view.js';
import { addSnapshotCommand } from './snapshot-command.js';

/** `baton status`: lifecycle, progress, rate limit, costs and workers at a glance. */
export function addStatusCommand(program: Command): void {
  addSnapshotCommand(program, {
    name: 'status',
    summary: 'lifecycle state, task progress, rate limit, costs and workers',
    description: 'Shows the coordinator at a glance (one GetStatus call).',
    read: (client) => client.status(),
    schema: GetStatusResponseSchema,
    text: statusText,
  });
}
