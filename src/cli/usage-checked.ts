import type { Command } from 'commander';
import { EXIT } from './exit-codes.js';
import { UsageError } from './usage-error.js';

/**
 * Wraps a command's action so that a UsageError it throws is reported the way commander reports
 * its own parse errors (`baton: <message>`, a blank line, the command's help) with EXIT.usage.
 * Commander hands an action its arguments, then the options, then the command itself: the last.
 */
export function usageChecked(
  action: (command: Command, args: readonly unknown[]) => Promise<void>,
): (...args: unknown[]) => Promise<void> {
  return async (...args) => {
    const command = args[args.length - 1] as Command;
    try {
      await action(command, args.slice(0, -2));
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      command.error(error.message, { exitCode: EXIT.usage, code: 'baton.usage' });
    }
  };
}
