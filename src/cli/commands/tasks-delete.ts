import type { Command } from 'commander';
import { taskStatusName } from '../../client/admin.js';
import { clientAction } from '../client-action.js';
import { type ClientFlags, withClientOptions } from '../client-options.js';
import { jsonOf, jsonText } from '../output/json-output.js';
import { TaskSchema } from '../output/schemas.js';

/** `baton tasks delete ID`: one settled task out of the graph and the store, for good. */
export function addTasksDeleteCommand(tasks: Command): void {
  withClientOptions(
    tasks
      .command('delete')
      .argument('<id>', 'the task: complete, failed or cancelled, and no task depending on it')
      .summary('delete one settled task for good (DELETE /tasks/{id})')
      .description(
        'Deletes a complete, failed or cancelled task from the coordinator and its store, for good; ' +
          '--json prints the task as it was.\n' +
          'Exits 3 when there is no such task, 1 while it is unsettled or a task still depends on it ' +
          '(the message names them).',
      ),
  ).action(
    clientAction<ClientFlags>(async ({ client, flags, args, out }) => {
      const task = await client.deleteTask(args[0] as string);
      out(
        flags.json === true
          ? jsonText(jsonOf(TaskSchema, task))
          : `deleted ${task.id} (was ${taskStatusName(task.status)})\n`,
      );
      return undefined;
    }),
  );
}
