import type { Command } from 'commander';
import { isRole, ROLES } from '../../server/auth/policy.js';
import { authLine, createToken } from '../../server/auth/tokens.js';
import { usageChecked } from '../usage-checked.js';
import { UsageError } from '../usage-error.js';

interface TokenFlags {
  readonly role?: string;
  readonly worker?: string;
}

/**
 * `baton token create`: a new bearer token and the auth file line that admits it. The token is
 * printed once and never stored: the file keeps only its sha256.
 */
export function addTokenCommand(program: Command): void {
  const token = program.command('token').summary('make bearer tokens for --auth-file');
  token
    .command('create')
    .summary('print a new token and the auth file line for it')
    .description(
      'Prints a new bearer token (first line) and the line to add to the auth file given to\n' +
        "`baton serve --auth-file`. The file holds only the token's sha256: keep the token itself\n" +
        'where the client reads it (BATON_TOKEN, a secret store).',
    )
    .option('--role <role>', `${ROLES.join(' | ')}: what the token may do`)
    .option('--worker <id>', 'the worker id a worker token acts as (required with --role worker)')
    .action(
      usageChecked(async (command) => {
        const flags = command.opts<TokenFlags>();
        if (flags.role === undefined) throw new UsageError(`--role is required: ${ROLES.join(', ')}`);
        if (!isRole(flags.role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
        const secret = createToken();
        let line: string;
        try {
          line = authLine(secret, flags.role, flags.worker);
        } catch (error) {
          throw new UsageError((error as Error).message);
        }
        process.stdout.write(`${secret}\n# add this line to the auth file (--auth-file):\n${line}\n`);
      }),
    );
}
