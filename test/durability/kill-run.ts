// The kill test's workload and its verdict, shared by the one-server run (crash.test.ts) and the
// two-replica run on PostgreSQL (replica-kill.test.ts).
import { expect } from 'chai';
import { type AdminClient, type NewTask, TaskStatus } from '../../src/client/index.js';
import { type ReportTally, waitFor } from './harness.js';

export const TASKS = 5000;
export const WORKERS = 32;
export const CONCURRENCY = 4;
export const KILLS = 5;
export const COST_USD = 0.001;
export const SEED = Number(process.env.BATON_CRASH_SEED ?? 20240607);

/** A DAG: each task depends on up to two of the 400 tasks added before it. */
export function dag(random: () => number): NewTask[] {
  const tasks: NewTask[] = [];
  for (let i = 0; i < TASKS; i++) {
    const deps = new Set<string>();
    const n = i === 0 ? 0 : Math.floor(random() * 3);
    for (let d = 0; d < n; d++) deps.add(`t${Math.max(0, i - 1 - Math.floor(random() * 400))}`);
    tasks.push({ id: `t${i}`, deps: [...deps], metadata: { i } });
  }
  return tasks;
}

/** Completions after which to kill: one in each fifth of the run, at a seeded point inside it. */
export const killPoints = (random: () => number): number[] =>
  Array.from({ length: KILLS }, (_, i) => Math.floor(TASKS * (0.03 + (0.9 * (i + random())) / KILLS)));

/** Acknowledged completions so far, over every worker's tally. */
export const ackedCompletions = (tallies: readonly ReportTally[]): number =>
  tallies.reduce((n, t) => n + t.completions.size, 0);

/** Resolves once the coordinator (through whichever replica answers) has every task complete. */
export const everyTaskComplete = (admin: AdminClient): Promise<boolean> =>
  waitFor(
    'every task to complete',
    async () => (await admin.progress().catch(() => undefined))?.complete === TASKS,
    90_000,
    100,
  );

/**
 * The verdict on a finished run, whose workers have stopped gracefully (every receipt in): every
 * task complete, each with exactly one acknowledged completion, no refusal but stale reports
 * (ABORTED), and spend, global and per worker, equal to the acknowledged cost reports.
 */
export async function expectExactlyOnce(
  admin: AdminClient,
  tasks: readonly NewTask[],
  tallies: readonly ReportTally[],
  workerIds: readonly string[],
): Promise<{ readonly ackedMicros: number; readonly staleRefusals: number }> {
  const stored: string[] = [];
  for await (const t of admin.listAllTasks({ limit: 1000 })) {
    if (t.status !== TaskStatus.COMPLETE) stored.push(`${t.id}: ${TaskStatus[t.status]}`);
  }
  expect(stored, 'tasks not complete').to.deep.equal([]);

  const perTask = new Map<string, number>();
  for (const t of tallies) for (const [id, n] of t.completions) perTask.set(id, (perTask.get(id) ?? 0) + n);
  const wrong = tasks.map((t) => [t.id, perTask.get(t.id) ?? 0] as const).filter(([, n]) => n !== 1);
  expect(wrong, 'tasks without exactly one acked completion').to.deep.equal([]);
  expect(perTask.size).to.equal(tasks.length);
  for (const t of tallies) {
    for (const code of t.refusals.keys())
      expect(code, 'only stale reports may be refused').to.equal('ABORTED');
  }

  const costs = await admin.costs();
  const ackedMicros = tallies.reduce((sum, t) => sum + t.costMicros, 0);
  expect(Math.round((costs.global?.spentUsd ?? 0) * 1e6)).to.equal(ackedMicros);
  for (const [w, t] of tallies.entries()) {
    const row = costs.workers.find((r) => r.workerId === workerIds[w]);
    expect(Math.round((row?.spend?.spentUsd ?? 0) * 1e6), `spend of ${workerIds[w]}`).to.equal(t.costMicros);
  }
  expect(ackedMicros).to.be.at.least(tasks.length * COST_USD * 1e6);
  return { ackedMicros, staleRefusals: tallies.reduce((s, t) => s + (t.refusals.get('ABORTED') ?? 0), 0) };
}
