import type { JsonObject } from '@bufbuild/protobuf';
import type { Command } from 'commander';
import type { NewTask } from '../../client/admin.js';
import { clientAction } from '../client-action.js';
import { type ClientFlags, withClientOptions } from '../client-options.js';
import { collect, INTEGER, numberFlag, WHOLE } from '../flag-values.js';
import { jsonListText } from '../output/json-output.js';
import { TaskSchema } from '../output/schemas.js';
import { tasksTable } from '../output/task-view.js';
import { readTaskFile } from '../task-file.js';
import { UsageError } from '../usage-error.js';

interface AddFlags extends ClientFlags {
  readonly file?: string;
  readonly dep?: readonly string[];
  readonly path?: readonly string[];
  readonly priority?: string;
  readonly category?: string;
  readonly metadata?: string;
  readonly maxAttempts?: string;
  readonly land?: boolean;
}

/** The flags that describe one task, refused alongside --file. */
const TASK_FLAGS = ['dep', 'path', 'priority', 'category', 'metadata', 'maxAttempts', 'land'] as const;
const flagName = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** `baton tasks add ID [flags]` or `baton tasks add --file tasks.yaml`: all or nothing. */
export function addTasksAddCommand(tasks: Command): void {
  withClientOptions(
    tasks
      .command('add')
      .argument('[id]', 'the new task (omit with --file)')
      .summary('add a task from flags, or a batch from a JSON/YAML file')
      .description(
        'Adds one task described by flags, or every task of a JSON or YAML file (a list of tasks, or ' +
          '{ tasks: [...] }; fields id, deps, priority, category, metadata, maxAttempts, paths, land). ' +
          'A batch is added atomically: deps may name tasks of the same file; one bad task adds none.',
      )
      .option('-f, --file <path>', 'a JSON or YAML file of tasks; - reads stdin')
      .option('--dep <id>', 'a task that must complete first (repeat or comma-separate)', collect)
      .option('--priority <n>', 'higher runs first among ready tasks (a whole number, default 0)')
      .option('--category <category>', 'matched against worker capabilities (default: any worker)')
      .option('--metadata <json>', 'a JSON object handed to the worker with the task')
      .option(
        '--max-attempts <n>',
        "assignments allowed before it fails for good (default: the coordinator's)",
      )
      .option(
        '--path <glob>',
        'a repository path the task will touch (repeat or comma-separate)',
        collect,
        [],
      )
      .option('--land', "queue the worker's branch for landing when the task completes"),
  ).action(
    clientAction<AddFlags>(async ({ client, flags, args, out }) => {
      const batch = tasksToAdd(args[0], flags);
      const added =
        batch.length === 1 ? [await client.addTask(batch[0] as NewTask)] : await client.addTasks(batch);
      if (flags.json === true) {
        out(jsonListText(TaskSchema, added));
      } else {
        out(`${tasksTable(added, Date.now())}\nadded ${added.length} task(s)\n`);
      }
      return undefined;
    }),
  );
}

/** The batch the command line asks for; a UsageError naming the flag otherwise. */
function tasksToAdd(id: string | undefined, flags: AddFlags): NewTask[] {
  if (flags.file !== undefined) {
    if (id !== undefined)
      throw new UsageError(`give a task id or --file, not both (got ${JSON.stringify(id)} and --file)`);
    const stray = TASK_FLAGS.find((key) => {
      const value = flags[key];
      return Array.isArray(value) ? value.length > 0 : value !== undefined;
    });
    if (stray !== undefined)
      throw new UsageError(`${flagName(stray)} describes one task: put it in the --file instead`);
    return readTaskFile(flags.file);
  }
  if (id === undefined || id === '')
    throw new UsageError('give the new task an id (baton tasks add ID), or --file');
  const task: Record<string, unknown> = { id };
  if (flags.dep !== undefined) task.deps = flags.dep;
  if (flags.path !== undefined) task.paths = flags.path;
  if (flags.category !== undefined) task.category = flags.category;
  if (flags.land === true) task.land = true;
  const priority = numberFlag('priority', flags.priority, INTEGER);
  if (priority !== undefined) task.priority = priority;
  const maxAttempts = numberFlag('max-attempts', flags.maxAttempts, WHOLE);
  if (maxAttempts !== undefined) task.maxAttempts = maxAttempts;
  if (flags.metadata !== undefined) task.metadata = metadataFlag(flags.metadata);
  return [task as unknown as NewTask];
}

function metadataFlag(raw: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw new UsageError(`--metadata must be a JSON object: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new UsageError(`--metadata must be a JSON object, got ${JSON.stringify(raw)}`);
  return value as JsonObject;
}
