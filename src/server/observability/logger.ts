// observability/: what operators read of a running server: Prometheus metrics, structured logs.
// Imports src/core; runtime/ and transport/ for types only (test/architecture/walls.test.ts).
import { type DestinationStream, type LevelWithSilent, type Logger, pino } from 'pino';
import pretty from 'pino-pretty';
import { LOG_LEVELS } from './log-levels.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** Default info. */
  readonly level?: LevelWithSilent;
  /**
   * `json`: one JSON object a line (for collectors); `pretty`: coloured lines for a person.
   * Default: pretty when the destination is stderr and stderr is a terminal, else json.
   */
  readonly format?: 'json' | 'pretty';
  /** Where lines go. Default stderr, so stdout stays free for what a command prints. */
  readonly destination?: DestinationStream;
}

export const isLogLevel = (value: string): value is LevelWithSilent =>
  (LOG_LEVELS as readonly string[]).includes(value);

/**
 * The server's logger: pino, JSON lines with `level`, `time`, `msg` and the fields of the event
 * (`workerId`, `taskId`, `err` with its stack). Created once by whoever composes the server (the
 * CLI, or startServer when it is given none) and handed down.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const format =
    options.format ?? (options.destination === undefined && process.stderr.isTTY ? 'pretty' : 'json');
  const destination =
    format === 'pretty'
      ? pretty({
          destination: options.destination ?? 2,
          colorize: true,
          translateTime: 'SYS:HH:MM:ss.l',
          ignore: 'pid,hostname',
        })
      : (options.destination ?? pino.destination({ dest: 2, sync: true }));
  return pino({ name: 'baton', level: options.level ?? 'info', base: { pid: process.pid } }, destination);
}
