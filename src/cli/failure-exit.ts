import { Code, ConnectError } from '@connectrpc/connect';
import { EXIT } from './exit-codes.js';

/** What the CLI prints and exits with for a failed call. */
export interface Failure {
  readonly message: string;
  readonly exitCode: number;
}

/**
 * A call's failure as the operator reads it: no answer at all (connection refused, unknown host,
 * a connection reset by a coordinator that died, the call timing out) is EXIT.unreachable and
 * says where it looked; a refusal by the coordinator carries its own message, NOT_FOUND as
 * EXIT.notFound and the rest as EXIT.refused.
 */
export function failureOf(error: unknown, url: string): Failure {
  const connectError = ConnectError.from(error);
  const cause = connectError.cause as { code?: unknown } | undefined;
  // connect-node reports a reset connection as ABORTED with the Node.js error as its cause.
  const noAnswer =
    connectError.code === Code.DeadlineExceeded ||
    ((connectError.code === Code.Unavailable || connectError.code === Code.Aborted) &&
      typeof cause?.code === 'string');
  if (noAnswer) {
    return {
      message: `no coordinator answered at ${url} (${connectError.rawMessage}); is \`baton serve\` running there? (--url, BATON_URL)`,
      exitCode: EXIT.unreachable,
    };
  }
  const hint =
    connectError.code === Code.Unauthenticated
      ? ' (give the token in BATON_TOKEN or --token: `baton token create` makes one)'
      : '';
  return {
    message: `${connectError.rawMessage}${hint}`,
    exitCode: connectError.code === Code.NotFound ? EXIT.notFound : EXIT.refused,
  };
}
