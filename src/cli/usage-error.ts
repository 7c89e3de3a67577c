/**
 * A command line or input file the CLI will not act on. Thrown by the flag readers; the action
 * wrapper prints it as `baton: <message>` with the command's help and exits with EXIT.usage.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
