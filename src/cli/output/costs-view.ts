import type { CostStatus, Spend } from '../../client/proto.js';
import { table } from './table.js';
import { percent, usd } from './words.js';

/** `$1.20 of $10.00 (12.0%), $8.80 left`, or `$1.20 (no budget)`, with the warning or the stop. */
export function spendLine(spend: Spend | undefined): string {
  if (spend === undefined) return usd(0);
  const flag = spend.exceeded ? ', EXCEEDED' : spend.warning ? ', warning' : '';
  if (spend.budgetUsd === undefined) return `${usd(spend.spentUsd)} (no budget)${flag}`;
  const share = spend.budgetUsd > 0 ? ` (${percent(spend.spentUsd / spend.budgetUsd)})` : '';
  const left = spend.remainingUsd === undefined ? '' : `, ${usd(spend.remainingUsd)} left`;
  return `${usd(spend.spentUsd)} of ${usd(spend.budgetUsd)}${share}${left}${flag}`;
}

/** The global spend, the budgets' rules, and one row per worker. */
export function costsText(costs: CostStatus): string {
  const perWorker =
    costs.perWorkerBudgetUsd === undefined
      ? 'no per-worker budget'
      : `${usd(costs.perWorkerBudgetUsd)} per worker`;
  const head =
    `global   ${spendLine(costs.global)}\n` +
    `budgets  ${perWorker}; warning at ${percent(costs.warningThreshold)}\n`;
  if (costs.workers.length === 0) return `${head}\nno spend reported by any worker\n`;
  const rows = costs.workers.map((w) => {
    const s = w.spend;
    return [
      w.workerId,
      usd(s?.spentUsd ?? 0),
      s?.budgetUsd === undefined ? '-' : usd(s.budgetUsd),
      s?.remainingUsd === undefined ? '-' : usd(s.remainingUsd),
      String(s?.inputTokens ?? 0n),
      String(s?.outputTokens ?? 0n),
      s?.exceeded ? 'exceeded' : s?.warning ? 'warning' : '',
    ];
  });
  return `${head}\n${table(
    [
      { heading: 'WORKER' },
      { heading: 'SPENT', align: 'right' },
      { heading: 'BUDGET', align: 'right' },
      { heading: 'LEFT', align: 'right' },
      { heading: 'IN TOKENS', align: 'right' },
      { heading: 'OUT TOKENS', align: 'right' },
      { heading: 'FLAG' },
    ],
    rows,
  )}`;
}
