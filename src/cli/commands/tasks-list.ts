import type { Command } from 'commander';
import type { Task } from '../../client/proto.js';
import { TASK_STATUSES as STATUSES } from '../../core/task.js';
import { clientAction } from '../client-action.js';
import { type ClientFlags, withClientOptions } from '../client-options.js';
import { choiceFlag, collect, numberFlag, WHOLE } from '../flag-values.js';
import { jsonListText } from '../output/json-output.js';
import { TaskSchema } from '../output/schemas.js';
import { tasksTable } from '../output/task-view.js';

interface ListFlags extends ClientFlags {
  readonly status?: readonly string[];
  readonly category?: string;
  readonly worker?: string;
  readonly limit?: string;
}

/** `baton tasks list [--status S,...] [--category C] [--worker W] [--limit N]`. */
export function addTasksListCommand(tasks: Command): void {
  withClientOptions(
    tasks
      .command('list')
      .summary('the tasks, in the order they were added, with filters')
      .description(
        'Lists tasks in the order they were added, every page of them. Status and worker are ' +
          'filtered by the coordinator, category here.',
      )
      .option(
        '--status <status>',
        `only these statuses: ${STATUSES.join(', ')} (repeat or comma-separate)`,
        collect,
        [],
      )
      .option('--category <category>', 'only tasks of this category')
      .option('--worker <id>', 'only tasks held (or last held) by this worker')
      .option('--limit <n>', 'at most this many tasks'),
  ).action(
    clientAction<ListFlags>(async ({ client, flags, out }) => {
      const status = (flags.status ?? []).map((s) => choiceFlag('status', s, STATUSES));
      const limit = numberFlag('limit', flags.limit, WHOLE);
      const found: Task[] = [];
      const filter = { status, ...(flags.worker === undefined ? {} : { workerId: flags.worker }) };
      for await (const task of client.listAllTasks(filter)) {
        if (flags.category !== undefined && task.category !== flags.category) continue;
        found.push(task);
        if (limit !== undefined && found.length >= limit) break;
      }
      if (flags.json === true) {
        out(jsonListText(TaskSchema, found));
      } else {
        out(
          found.length === 0
            ? 'no tasks match\n'
            : `${tasksTable(found, Date.now())}\n${found.length} task(s)\n`,
        );
      }
      return undefined;
    }),
  );
}
