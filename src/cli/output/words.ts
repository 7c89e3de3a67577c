import type { Timestamp } from '@bufbuild/protobuf/wkt';

/** A protobuf timestamp as milliseconds since the epoch (undefined when unset). */
export const millisOf = (t: Timestamp | undefined): number | undefined =>
  t === undefined ? undefined : Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6);

/** An ISO time, or '-' when unset. */
export const isoTime = (t: Timestamp | undefined): string => {
  const ms = millisOf(t);
  return ms === undefined ? '-' : new Date(ms).toISOString();
};

/** How long ago, in the largest unit that fits: `4s`, `12m`, `3h`, `2d`; '-' when unset. */
export function ago(t: Timestamp | undefined, now: number): string {
  const ms = millisOf(t);
  if (ms === undefined) return '-';
  return span(Math.max(0, now - ms));
}

/** A duration in the largest unit that fits: `850ms`, `4s`, `12m`, `3h`, `2d`. */
export function span(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${Math.floor(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** Dollars with cents, more digits for small amounts (`$0.0042`). */
export function usd(amount: number): string {
  if (amount !== 0 && Math.abs(amount) < 0.01) return `$${amount.toPrecision(2)}`;
  return `$${amount.toFixed(2)}`;
}

/** A percentage with one decimal. */
export const percent = (fraction: number): string => `${(fraction * 100).toFixed(1)}%`;

/** A value or '-' for an empty one. */
export const orDash = (value: string | undefined): string =>
  value === undefined || value === '' ? '-' : value;

/**
 * An enum value as the REST API's word: its name lower case, `_` as `-`, without the enum's
 * prefix (`WORKER_STATE_BUSY` is `busy`, `ASSIGNMENT_STRATEGY_ROUND_ROBIN` is `round-robin`).
 */
export function enumWord(names: Readonly<Record<number, string>>, value: number): string {
  const name = names[value];
  return name === undefined ? `unknown-${value}` : name.toLowerCase().replaceAll('_', '-');
}
