// observability/: what operators read of a running server: Prometheus metrics, structured logs.
// The level names alone, without pino, so that `baton serve --help` can list them without loading
// the logger (test/architecture/cli-start.test.ts).
import type { LevelWithSilent } from 'pino';

export const LOG_LEVELS: readonly LevelWithSilent[] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
];
