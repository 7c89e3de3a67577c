import type { Command } from 'commander';
import { addTasksAddCommand } from './tasks-add.js';
import { addTasksCancelCommand, addTasksRetryCommand } from './tasks-cascade.js';
import { addTasksListCommand } from './tasks-list.js';
import { addTasksShowCommand } from './tasks-show.js';

/** `baton tasks <add|list|show|cancel|retry>`. */
export function addTasksCommand(program: Command): void {
  const tasks = program
    .command('tasks')
    .summary('add, list, show, cancel and retry tasks')
    .description('The task graph: add tasks (from flags or a JSON/YAML file), list, show, cancel, retry.');
  addTasksAddCommand(tasks);
  addTasksListCommand(tasks);
  addTasksShowCommand(tasks);
  addTasksCancelCommand(tasks);
  addTasksRetryCommand(tasks);
}
