import type { Command } from 'commander';
import { costsText } from '../output/costs-view.js';
import { CostStatusSchema } from '../output/schemas.js';
import { addSnapshotCommand } from './snapshot-command.js';

/** `baton costs`: spend against the global and per-worker budgets. */
export function addCostsCommand(program: Command): void {
  addSnapshotCommand(program, {
    name: 'costs',
    summary: 'spend against the global and per-worker budgets',
    description:
      'Shows what the fleet spent, globally and per worker, against the budgets `baton serve` was given.',
    read: (client) => client.costs(),
    schema: CostStatusSchema,
    text: costsText,
  });
}
