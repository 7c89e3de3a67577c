// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import { useMemo } from 'preact/hooks';
import { type Counts, countTasks, throughput } from '../counts.js';
import { useNow } from '../hooks.js';
import { STATUS_COLOURS } from '../status.js';
import { useUi } from '../ui.js';
import { TaskTable } from './task-table.js';

const BAR_ORDER = ['complete', 'running', 'assigned', 'ready', 'pending', 'failed', 'cancelled'] as const;

/** Pending splits into ready (could run now) and waiting (for deps) so the bars add up to the total. */
const barValue = (counts: Counts, name: string): number =>
  name === 'pending' ? counts.pending! - counts.ready! : counts[name]!;

function ProgressCard({ counts }: { counts: Counts }) {
  const total = counts.total!;
  const pct = total === 0 ? 0 : (100 * counts.complete!) / total;
  return (
    <section class="card progress" aria-label="Progress">
      <header>
        <h2>Progress</h2>
        <span class="big" data-testid="percent-complete">
          {pct.toFixed(pct === 100 || pct === 0 ? 0 : 1)}%
        </span>
      </header>
      <div class="stacked" role="img" aria-label={`${counts.complete} of ${total} complete`}>
        {BAR_ORDER.map((name) => {
          const value = barValue(counts, name);
          return value === 0 ? null : (
            <span
              key={name}
              style={{ width: `${(100 * value) / total}%`, background: STATUS_COLOURS[name] }}
              title={`${name}: ${value}`}
            />
          );
        })}
      </div>
      <ul class="bars">
        {BAR_ORDER.map((name) => {
          const value = barValue(counts, name);
          return (
            <li key={name} data-status={name}>
              <span class="label">
                <i class="dot" style={{ background: STATUS_COLOURS[name] }} />
                {name === 'pending' ? 'waiting' : name}
              </span>
              <span class="track">
                <span
                  style={{
                    width: `${total === 0 ? 0 : (100 * value) / total}%`,
                    background: STATUS_COLOURS[name],
                  }}
                />
              </span>
              <span class="count" data-testid={`count-${name}`}>
                {value}
              </span>
            </li>
          );
        })}
      </ul>
      <p class="muted">
        {counts.complete} of {total} tasks complete
      </p>
    </section>
  );
}

const BINS = 30;
const BIN_MS = 20_000;

function ThroughputCard({ completions }: { completions: readonly number[] }) {
  const now = useNow(2000);
  const bins = throughput(completions, now, BINS, BIN_MS);
  const lastMinute = bins.slice(-3).reduce((a, b) => a + b, 0);
  const max = Math.max(1, ...bins);
  const w = 300;
  const h = 90;
  const bw = w / BINS;
  return (
    <section class="card throughput" aria-label="Throughput">
      <header>
        <h2>Throughput</h2>
        <span class="big" data-testid="per-minute">
          {lastMinute}
          <small> /min</small>
        </span>
      </header>
      <svg
        viewBox={`0 0 ${w} ${h + 14}`}
        class="chart"
        role="img"
        aria-label="tasks completed per 20 s, last 10 minutes"
      >
        <line x1={0} x2={w} y1={h} y2={h} class="axis" />
        {bins.map((n, i) => {
          const bh = (n / max) * (h - 6);
          return (
            <rect key={i} x={i * bw + 1} y={h - bh} width={bw - 2} height={bh} rx={1.5}>
              <title>{`${n} completed`}</title>
            </rect>
          );
        })}
        <text x={0} y={h + 12}>
          −10 min
        </text>
        <text x={w} y={h + 12} text-anchor="end">
          now
        </text>
        <text x={w} y={10} text-anchor="end">
          {max} / 20 s
        </text>
      </svg>
      <p class="muted">tasks completed per 20 s over the last 10 minutes</p>
    </section>
  );
}

function FleetCard({ counts }: { counts: Counts }) {
  const { model } = useUi();
  const status = model.status;
  const workers = status?.workers ?? [];
  const slots = workers.reduce((n, w) => n + w.maxConcurrency, 0);
  const busy = workers.reduce((n, w) => n + w.running, 0);
  const failed = counts.failed!;
  return (
    <section class="card fleet" aria-label="Fleet">
      <header>
        <h2>Fleet</h2>
        <span class="big">
          {busy}
          <small> / {slots} slots busy</small>
        </span>
      </header>
      <ul class="loads">
        {workers.slice(0, 6).map((w) => (
          <li key={w.workerId}>
            <span class="id">{w.workerId}</span>
            <span class="track">
              <span style={{ width: `${(100 * w.running) / Math.max(1, w.maxConcurrency)}%` }} />
            </span>
            <span class="count">
              {w.running}/{w.maxConcurrency}
            </span>
          </li>
        ))}
        {workers.length === 0 && <li class="muted">No worker connected.</li>}
        {workers.length > 6 && (
          <li class="muted">
            <a href="#/workers">and {workers.length - 6} more</a>
          </li>
        )}
      </ul>
      <dl class="facts">
        <dt>Ready to run</dt>
        <dd>{counts.ready}</dd>
        <dt>Failed</dt>
        <dd class={failed > 0 ? 'bad' : ''}>{failed}</dd>
        <dt>Spent</dt>
        <dd>${(status?.costs?.global?.spentUsd ?? 0).toFixed(2)}</dd>
      </dl>
    </section>
  );
}

export function Overview() {
  const { model } = useUi();
  const counts = useMemo(() => countTasks(model.tasks), [model.version]);
  return (
    <div class="overview">
      <div class="cards">
        <ProgressCard counts={counts} />
        <ThroughputCard completions={model.completions} />
        <FleetCard counts={counts} />
      </div>
      <TaskTable />
    </div>
  );
}
