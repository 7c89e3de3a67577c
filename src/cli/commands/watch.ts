import type { Command } from 'commander';
import type { EventKindName } from '../../client/admin.js';
import { eventKindName } from '../../client/admin.js';
import { type Event, EventKind } from '../../client/proto.js';
import { clientAction } from '../client-action.js';
import { type ClientFlags, withClientOptions } from '../client-options.js';
import { choiceFlag, collect, numberFlag, WHOLE_OR_ZERO } from '../flag-values.js';
import { jsonOf } from '../output/json-output.js';
import { EventSchema, ProgressSchema } from '../output/schemas.js';
import { createBarDisplay, createLineDisplay } from '../watch/watch-display.js';
import { runWatch } from '../watch/watch-run.js';

interface WatchFlags extends ClientFlags {
  readonly follow?: boolean;
  readonly task?: string;
  readonly kind?: readonly string[];
  readonly since?: string;
}

/** Every event kind by its `coord:*` name, the names --kind accepts. */
const KIND_NAMES = Object.values(EventKind)
  .filter((v): v is EventKind => typeof v === 'number' && v !== EventKind.UNSPECIFIED)
  .map((k) => eventKindName(k) as EventKindName);

/**
 * What a progress bar shows above itself by default: what an operator acts on, not the
 * assignments and completions the bar already counts.
 */
const NOTABLE = new Set<EventKind>([
  EventKind.STARTED,
  EventKind.STOPPED,
  EventKind.DRAINING,
  EventKind.DRAINED,
  EventKind.REOPENED,
  EventKind.TASK_FAILED,
  EventKind.TASK_CANCELLED,
  EventKind.TASK_REQUEUED,
  EventKind.BUDGET_WARNING,
  EventKind.BUDGET_EXCEEDED,
  EventKind.WORKER_JOINED,
  EventKind.WORKER_LEFT,
  EventKind.CONFLICT,
  EventKind.MERGE_REJECTED,
]);

/** `baton watch`: live events and a progress bar of the graph until every task is settled. */
export function addWatchCommand(program: Command): void {
  withClientOptions(
    program
      .command('watch')
      .summary('live events and a progress bar of the task graph until it settles')
      .description(
        'Follows the event stream. On a terminal: a progress bar of the task graph, with failures, ' +
          'workers and budget events above it. Otherwise (a pipe, a log): one line per event, and a ' +
          'progress line when the counts change; --json: one JSON object per line. ' +
          'Ends when every task is complete (exit 0) or settled with some failed or cancelled (exit 5).',
      )
      .option('--follow', 'keep going after the graph settles, until Ctrl-C')
      .option('--task <id>', "only this task's events; ends when it settles")
      .option(
        '--kind <kind>',
        `only show these events (repeat or comma-separate): ${KIND_NAMES.join(', ')}`,
        collect,
        [],
      )
      .option(
        '--since <sequence>',
        'replay the retained events after this sequence first (0: all retained; refused if no longer kept)',
      ),
  ).action(
    clientAction<WatchFlags>(
      async ({ client, flags, url }) => {
        const kinds = new Set(
          (flags.kind ?? []).map((k) =>
            choiceFlag('kind', k.startsWith('coord:') ? k : `coord:${k}`, KIND_NAMES),
          ),
        );
        const since = numberFlag('since', flags.since, WHOLE_OR_ZERO);
        const bar = process.stdout.isTTY === true && flags.json !== true;
        const shows = (event: Event): boolean =>
          kinds.size > 0
            ? kinds.has(eventKindName(event.kind) as EventKindName)
            : !bar || NOTABLE.has(event.kind);
        const display = bar
          ? createBarDisplay(process.stdout, { showEvents: true })
          : createLineDisplay(
              process.stdout,
              flags.json === true
                ? (kind, value) =>
                    kind === 'event'
                      ? { event: jsonOf(EventSchema, value) }
                      : { progress: jsonOf(ProgressSchema, value) }
                : undefined,
            );
        const interrupt = new AbortController();
        const onSignal = (): void => interrupt.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          return await runWatch({
            client,
            url,
            display,
            shows,
            follow: flags.follow === true,
            ...(flags.task === undefined ? {} : { taskId: flags.task }),
            ...(since === undefined ? {} : { sinceSequence: BigInt(since) }),
            signal: interrupt.signal,
            now: Date.now,
          });
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      },
      { stream: true },
    ),
  );
}
