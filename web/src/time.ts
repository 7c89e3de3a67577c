// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).

/** A google.protobuf.Timestamp as it arrives (seconds as bigint), or unset. */
export interface Stamp {
  readonly seconds: bigint;
  readonly nanos: number;
}

/** Milliseconds since the epoch; 0 when unset. */
export const ms = (stamp: Stamp | undefined): number =>
  stamp === undefined ? 0 : Number(stamp.seconds) * 1000 + Math.floor(stamp.nanos / 1e6);

/** "3 s ago", "in 12 s", "5 min ago": how far `at` is from `now`, for people. */
export function relative(at: number, now: number): string {
  if (at === 0) return '—';
  const delta = at - now;
  const abs = Math.abs(delta);
  if (abs < 1000) return 'just now';
  const text =
    abs < 60_000
      ? `${Math.round(abs / 1000)} s`
      : abs < 3_600_000
        ? `${Math.round(abs / 60_000)} min`
        : `${(abs / 3_600_000).toFixed(1)} h`;
  return delta >= 0 ? `in ${text}` : `${text} ago`;
}

/** A wall-clock time, HH:MM:SS in the browser's zone. */
export const clock = (at: number): string => (at === 0 ? '—' : new Date(at).toLocaleTimeString());

/** A duration between two instants, "1.2 s"; empty when either is unset. */
export function duration(from: number, to: number): string {
  if (from === 0 || to === 0) return '';
  const d = to - from;
  return d < 1000 ? `${d} ms` : d < 60_000 ? `${(d / 1000).toFixed(1)} s` : `${(d / 60_000).toFixed(1)} min`;
}
