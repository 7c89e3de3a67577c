// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import type { Spend } from '../proto.js';
import { useUi } from '../ui.js';
import { Meter } from './meter.js';

const usd = (n: number): string => `$${n.toFixed(n >= 100 ? 0 : 2)}`;

function Budget({
  name,
  spend,
  cap,
  warnAt,
}: {
  name: string;
  spend: Spend;
  cap: number | undefined;
  warnAt: number;
}) {
  const tone = spend.exceeded ? 'bad' : spend.warning ? 'warn' : 'ok';
  return (
    <div class="budget" data-budget={name}>
      <span class="label id">{name}</span>
      {cap === undefined ? (
        <span class="muted">no cap</span>
      ) : (
        <Meter share={spend.spentUsd / cap} mark={warnAt} tone={tone} label={`${name} budget`} />
      )}
      <span class="count">
        {usd(spend.spentUsd)}
        {cap === undefined ? '' : ` / ${usd(cap)}`}
      </span>
      <span class={`flag ${tone}`}>{spend.exceeded ? 'exceeded' : spend.warning ? 'warning' : ''}</span>
    </div>
  );
}

/** Spend against the global and per-worker budgets, with the warning threshold drawn on each bar. */
export function Costs() {
  const { model } = useUi();
  const costs = model.status?.costs;
  if (costs?.global === undefined) return <section class="card">Loading costs…</section>;
  const warnAt = costs.warningThreshold || 0.8;
  const tokens = costs.global.inputTokens + costs.global.outputTokens;
  return (
    <section class="card costs" aria-label="Costs">
      <header>
        <h2>Costs</h2>
        <span class="muted">
          {tokens.toLocaleString()} tokens · warning at {Math.round(warnAt * 100)} %
        </span>
      </header>
      <Budget name="all workers" spend={costs.global} cap={costs.global.budgetUsd} warnAt={warnAt} />
      {costs.workers.length === 0 && <p class="muted">No worker has reported a cost yet.</p>}
      {costs.workers.map(
        (w) =>
          w.spend !== undefined && (
            <Budget
              key={w.workerId}
              name={w.workerId}
              spend={w.spend}
              cap={costs.perWorkerBudgetUsd}
              warnAt={warnAt}
            />
          ),
      )}
    </section>
  );
}
