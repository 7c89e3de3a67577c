import { Command, CommanderError } from 'commander';
import { addCostsCommand } from './commands/costs.js';
import { addRateLimitCommand } from './commands/rate-limit.js';
import { addServeCommand } from './commands/serve.js';
import { addStatusCommand } from './commands/status.js';
import { addTasksCommand } from './commands/tasks.js';
import { addTokenCommand } from './commands/token.js';
import { addWatchCommand } from './commands/watch.js';
import { EXIT } from './exit-codes.js';
import { EXIT_STATUS_HELP } from './exit-status-help.js';

/**
 * The `baton` command and its subcommands, one file each under commands/. Every parse error is
 * printed as `baton: <message>` followed by the command's help, and exits with EXIT.usage.
 */
export function createProgram(): Command {
  const program = new Command('baton')
    .description('Baton: one task graph, rate budget and cost budget for a fleet of workers.')
    .configureOutput({ outputError: (text, write) => write(`baton: ${text.replace(/^error: /, '')}`) })
    .showHelpAfterError(true)
    .addHelpText('after', EXIT_STATUS_HELP)
    .exitOverride();
  addServeCommand(program);
  addStatusCommand(program);
  addTasksCommand(program);
  addWatchCommand(program);
  addCostsCommand(program);
  addRateLimitCommand(program);
  addTokenCommand(program);
  return program;
}

/** The exit status for a CommanderError: help asked for is success, any other parse error usage. */
export function exitCodeOf(error: CommanderError): number {
  if (error.exitCode === 0) return EXIT.ok;
  return error.code.startsWith('commander.') ? EXIT.usage : error.exitCode;
}

/** Runs the program on `argv` (process.argv's shape), setting process.exitCode on a parse error. */
export async function runProgram(program: Command, argv: readonly string[]): Promise<void> {
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    process.exitCode = exitCodeOf(error);
  }
}
