/**
 * What `baton`'s exit status means, the same for every command, so scripts can branch on it
 * without reading the text. docs/operations.md lists them.
 */
export const EXIT = {
  /** Done as asked. */
  ok: 0,
  /** The coordinator refused the request (its message is printed), or `serve` could not start. */
  refused: 1,
  /** Bad command line or input file: nothing was sent. The message names the flag or field. */
  usage: 2,
  /** The coordinator answered that the task (or other thing named) does not exist. */
  notFound: 3,
  /** No coordinator answered at the URL: connection refused, unknown host, timeout. */
  unreachable: 4,
  /** `watch` saw the graph settle with tasks that did not complete (failed or cancelled). */
  incomplete: 5,
  /** Interrupted (Ctrl-C) while waiting. */
  interrupted: 130,
} as const;
