import type { Command } from 'commander';
import { addTasksAddCommand } from './tasks-add.js';
import { addTasksCancelCommand, addTasksRetryCommand } from './tasks-cascade.js';
import { addTasksDeleteCommand } from './tasks-delete.js';
import { addTasksListCommand } from './tasks-list.js';
import { addTasksPurgeCommand } from './tasks-purge.js';
import { addTasksShowCommand } from './tasks-show.js';

/** `baton tasks <add|list|show|cancel|retry|delete|purge>`. */
export function addTasksCommand(program: Command): void {
  const tasks = program
    .command('tasks')
    .summary('add, list, show, cancel, retry, delete and purge tasks')
    .description(
      'The task graph: add tasks (from flags or a JSON/YAML file), list, show, cancel, retry, and delete\n' +
        'settled ones for good, one by id or in bulk (purge).',
    );
  addTasksAddCommand(tasks);
  addTasksListCommand(tasks);
  addTasksShowCommand(tasks);
  addTasksCancelCommand(tasks);
  addTasksRetryCommand(tasks);
  addTasksDeleteCommand(tasks);
  addTasksPurgeCommand(tasks);
}
