import { UsageError } from './usage-error.js';

const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const AGO = /^(\d+(?:\.\d+)?)([smhd])$/;
const DATE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * A point in time a flag names: a span ago (`7d`, `12h`, `30m`, `90s`, by this machine's clock)
 * or a date or date-time (`2026-12-01` is midnight UTC; `2026-12-01T08:00:00Z`; a time without a
 * zone is local time, as JavaScript's Date.parse reads them).
 * In ms since the epoch; a UsageError naming `--name` otherwise.
 */
export function timeFlag(name: string, raw: string, now: number): number {
  const ago = AGO.exec(raw.trim());
  if (ago !== null) return now - Number(ago[1]) * (UNIT_MS[ago[2] as string] as number);
  const ms = DATE.test(raw.trim()) ? Date.parse(raw.trim()) : Number.NaN;
  if (!Number.isFinite(ms))
    throw new UsageError(
      `--${name} must be a span ago (7d, 12h, 30m, 90s) or a date-time (2026-12-01T08:00:00Z), got ${JSON.stringify(raw)}`,
    );
  return ms;
}
