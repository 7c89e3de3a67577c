import type { DescMessage } from '@bufbuild/protobuf';
import type { Command } from 'commander';
import { type AdminClient, type CascadeResult, taskStatusName } from '../../client/admin.js';
import { clientAction } from '../client-action.js';
import { type ClientFlags, withClientOptions } from '../client-options.js';
import { jsonOf, jsonText } from '../output/json-output.js';
import { CancelTaskResponseSchema, RetryTaskResponseSchema } from '../output/schemas.js';

interface CascadeFlags extends ClientFlags {
  readonly reason?: string;
}

interface CascadeCommand {
  readonly name: 'cancel' | 'retry';
  readonly summary: string;
  readonly description: string;
  readonly schema: DescMessage;
  readonly call: (client: AdminClient, id: string, flags: CascadeFlags) => Promise<CascadeResult>;
}

/** `cancelled a (now cancelled); cascaded to 2 dependents: b, c`. */
function cascadeText(verb: string, result: CascadeResult): string {
  const { task, cascadedIds } = result;
  const cascade =
    cascadedIds.length === 0
      ? ''
      : `; cascaded to ${cascadedIds.length} dependent${cascadedIds.length === 1 ? '' : 's'}: ${cascadedIds.join(', ')}`;
  return `${verb} ${task.id} (now ${taskStatusName(task.status)})${cascade}\n`;
}

function addCascadeCommand(tasks: Command, spec: CascadeCommand, more?: (c: Command) => Command): void {
  const command = tasks
    .command(spec.name)
    .argument('<id>', 'the task')
    .summary(spec.summary)
    .description(spec.description);
  withClientOptions(more === undefined ? command : more(command)).action(
    clientAction<CascadeFlags>(async ({ client, flags, args, out }) => {
      const result = await spec.call(client, args[0] as string, flags);
      out(
        flags.json === true
          ? jsonText(jsonOf(spec.schema, result))
          : cascadeText(spec.name === 'cancel' ? 'cancelled' : 'retried', result),
      );
      return undefined;
    }),
  );
}

/** `baton tasks cancel ID [--reason TEXT]`: the task and, by cascade, its unfinished dependents. */
export function addTasksCancelCommand(tasks: Command): void {
  addCascadeCommand(
    tasks,
    {
      name: 'cancel',
      summary: 'cancel a task and, by cascade, its unfinished dependents',
      description:
        'Cancels a task; its dependents that have not finished are cancelled with it. A worker holding it is told to stop.\n' +
        'Exits 3 when there is no such task, 1 when it has already finished.',
      schema: CancelTaskResponseSchema,
      call: (client, id, flags) => client.cancelTask(id, flags.reason),
    },
    (c) => c.option('--reason <text>', 'why, recorded with the task and passed to its worker'),
  );
}

/** `baton tasks retry ID`: a failed or cancelled task (and its cascade) back to pending. */
export function addTasksRetryCommand(tasks: Command): void {
  addCascadeCommand(tasks, {
    name: 'retry',
    summary: 'put a failed or cancelled task (and the dependents it took with it) back to pending',
    description:
      'Puts a failed or cancelled task back to pending, with the dependents cancelled because of it.\n' +
      'Exits 3 when there is no such task, 1 when it is not failed or cancelled.',
    schema: RetryTaskResponseSchema,
    call: (client, id) => client.retryTask(id),
  });
}
