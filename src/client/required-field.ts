import { Code, ConnectError } from '@connectrpc/connect';

/** A message field the coordinator always sets; its absence is a broken answer, not a refusal. */
export function required<T>(value: T | undefined, field: string): T {
  if (value === undefined) {
    throw new ConnectError(`the coordinator's answer has no ${field}`, Code.Internal);
  }
  return value;
}
