import type { Command } from 'commander';
import { clientAction } from '../client-action.js';
import { type ClientFlags, withClientOptions } from '../client-options.js';
import { jsonOf, jsonText } from '../output/json-output.js';
import { TaskSchema } from '../output/schemas.js';
import { taskDetail } from '../output/task-view.js';

/** `baton tasks show ID`: every field of one task; exit 3 when there is none. */
export function addTasksShowCommand(tasks: Command): void {
  withClientOptions(
    tasks
      .command('show')
      .argument('<id>', 'the task')
      .summary('every field of one task: deps, attempts, worker, error, result, metadata')
      .description('Shows one task. Exits 3 when the coordinator has no task with that id.'),
  ).action(
    clientAction<ClientFlags>(async ({ client, flags, args, out }) => {
      const task = await client.getTask(args[0] as string);
      out(flags.json === true ? jsonText(jsonOf(TaskSchema, task)) : taskDetail(task));
      return undefined;
    }),
  );
}
