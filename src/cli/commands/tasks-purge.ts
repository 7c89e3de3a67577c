import type { Command } from 'commander';
import { SETTLED_STATUSES } from '../../core/task-purge.js';
import { clientAction } from '../client-action.js';
import { type ClientFlags, withClientOptions } from '../client-options.js';
import { choiceFlag, collect } from '../flag-values.js';
import { jsonOf, jsonText } from '../output/json-output.js';
import { PurgeTasksResponseSchema } from '../output/schemas.js';
import { timeFlag } from '../time-flag.js';
import { UsageError } from '../usage-error.js';

interface PurgeFlags extends ClientFlags {
  readonly status?: readonly string[];
  readonly before?: string;
  readonly all?: boolean;
}

/** Later than any task can have finished: "whenever it settled", whatever the two clocks say. */
const ANY_TIME = Date.UTC(9999, 11, 31, 23, 59, 59);

/** `baton tasks purge [--status S]... [--before TIME] | --all`: settled tasks in bulk, for good. */
export function addTasksPurgeCommand(tasks: Command): void {
  withClientOptions(
    tasks
      .command('purge')
      .summary('delete settled tasks in bulk, for good (POST /tasks/purge)')
      .description(
        'Deletes every settled task the filter matches, from the coordinator and its store, for good, ' +
          'keeping those that remaining tasks depend on (counted as kept). Give --status, --before ' +
          'or both; --all alone purges every settled task. Needs an admin token with --auth-file.',
      )
      .option(
        '--status <status>',
        `only these settled statuses: ${SETTLED_STATUSES.join(', ')} (repeat or comma-separate)`,
        collect,
        [],
      )
      .option(
        '--before <time>',
        'only tasks that settled before this: a span ago (7d, 12h, 30m, 90s) or a date-time (2026-12-01T08:00:00Z)',
      )
      .option('--all', 'every settled task, whenever it finished (instead of --status and --before)'),
  ).action(
    clientAction<PurgeFlags>(async ({ client, flags, out }) => {
      const status = (flags.status ?? []).map((s) => choiceFlag('status', s, SETTLED_STATUSES));
      const filtered = status.length > 0 || flags.before !== undefined;
      if (flags.all === true && filtered)
        throw new UsageError(
          '--all purges every settled task: give it alone, or --status/--before without it',
        );
      if (flags.all !== true && !filtered)
        throw new UsageError('say what to purge: --status, --before, or --all for every settled task');
      const finishedBefore =
        flags.before === undefined ? ANY_TIME : timeFlag('before', flags.before, Date.now());
      const result = await client.purgeTasks({ finishedBefore, status });
      out(
        flags.json === true
          ? jsonText(jsonOf(PurgeTasksResponseSchema, result))
          : `purged ${result.purged} task(s)` +
              (result.kept === 0 ? '' : `; kept ${result.kept} that remaining tasks depend on`) +
              '\n',
      );
      return undefined;
    }),
  );
}
