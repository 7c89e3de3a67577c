import type { DescMessage } from '@bufbuild/protobuf';
import type { Command } from 'commander';
import type { AdminClient } from '../../client/admin.js';
import { clientAction } from '../client-action.js';
import { type ClientFlags, withClientOptions } from '../client-options.js';
import { jsonOf, jsonText } from '../output/json-output.js';

/** A command that reads one answer and prints it: as text, or with --json as the REST API does. */
export interface SnapshotCommand<T> {
  readonly name: string;
  readonly summary: string;
  readonly description: string;
  readonly read: (client: AdminClient) => Promise<T>;
  readonly schema: DescMessage;
  readonly text: (answer: T, now: number) => string;
}

/** Adds a {@link SnapshotCommand} (status, costs, rate-limit) to the program. */
export function addSnapshotCommand<T>(program: Command, spec: SnapshotCommand<T>): void {
  withClientOptions(program.command(spec.name).summary(spec.summary).description(spec.description)).action(
    clientAction<ClientFlags>(async ({ client, flags, out }) => {
      const answer = await spec.read(client);
      out(flags.json === true ? jsonText(jsonOf(spec.schema, answer)) : spec.text(answer, Date.now()));
      return undefined;
    }),
  );
}
