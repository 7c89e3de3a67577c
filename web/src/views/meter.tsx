// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).

export interface MeterProps {
  /** 0 to 1 (clamped). */
  readonly share: number;
  /** Where the warning line goes, 0 to 1; none when undefined. */
  readonly mark?: number | undefined;
  /** `ok`, `warn` or `bad`: the bar's colour. */
  readonly tone: 'ok' | 'warn' | 'bad' | 'info';
  readonly label: string;
}

/** A horizontal bar with an optional warning line, for budgets and rate buckets. */
export function Meter({ share, mark, tone, label }: MeterProps) {
  const pct = Math.max(0, Math.min(1, share)) * 100;
  return (
    <span class={`meter ${tone}`} role="img" aria-label={`${label}: ${Math.round(pct)} %`}>
      <span class="fill" style={{ width: `${pct}%` }} />
      {mark !== undefined && (
        <span
          class="mark"
          style={{ left: `${mark * 100}%` }}
          title={`warning at ${Math.round(mark * 100)} %`}
        />
      )}
    </span>
  );
}
