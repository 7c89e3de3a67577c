import type { Command } from 'commander';
import type { AdminClient } from '../client/admin.js';
import { adminClientOf, type ClientFlags, urlsOf } from './client-options.js';
import { EXIT } from './exit-codes.js';
import { failureOf } from './failure-exit.js';
import { usageChecked } from './usage-checked.js';
import { UsageError } from './usage-error.js';

/** What a client command's action is handed. */
export interface ClientContext<Flags extends ClientFlags> {
  readonly client: AdminClient;
  readonly flags: Flags;
  /** The positional arguments, in order. */
  readonly args: readonly string[];
  /** Where the command looks, for messages: the URL, or every replica's, comma separated. */
  readonly url: string;
  /** Writes to stdout. */
  out(text: string): void;
}

/**
 * A client command's action: flags read (a UsageError becomes EXIT.usage with the help), the
 * admin client made, and a failed call printed as `baton: <message>` on stderr with the exit
 * status failureOf gives. The action returns its own status (EXIT.ok when it returns nothing).
 */
export function clientAction<Flags extends ClientFlags>(
  action: (context: ClientContext<Flags>) => Promise<number | undefined>,
  options: { readonly stream?: boolean } = {},
): (...args: unknown[]) => Promise<void> {
  return usageChecked(async (command: Command, args) => {
    const flags = command.opts<Flags>();
    const url = urlsOf(flags, process.env).join(', ');
    const client = adminClientOf(flags, process.env, options.stream === true);
    const out = (text: string): void => {
      process.stdout.write(text);
    };
    try {
      process.exitCode = (await action({ client, flags, args: args as string[], url, out })) ?? EXIT.ok;
    } catch (error) {
      if (error instanceof UsageError) throw error;
      const failure = failureOf(error, url);
      process.stderr.write(`baton: ${failure.message}\n`);
      process.exitCode = failure.exitCode;
    }
  });
}
