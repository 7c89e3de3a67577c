import { expect } from 'chai';
import fc from 'fast-check';
import {
  type CostAggregator,
  type CostAggregatorOptions,
  createCostAggregator,
  WARNING_THRESHOLD,
} from '../../src/core/cost-aggregator.js';
import type { BatonError } from '../../src/core/errors.js';
import { createEventBus } from '../../src/core/event-bus.js';
import type { BudgetEvent, CoordEvents } from '../../src/core/events.js';
import { expectFieldError } from './expect-baton-error.js';

type Seen = { readonly kind: 'warning' | 'exceeded' } & BudgetEvent;

const setup = (
  options: Omit<CostAggregatorOptions, 'events'> = {},
): { costs: CostAggregator; seen: Seen[] } => {
  const events = createEventBus<CoordEvents>();
  const seen: Seen[] = [];
  events.on('coord:budget-warning', (e) => seen.push({ kind: 'warning', ...e }));
  events.on('coord:budget-exceeded', (e) => seen.push({ kind: 'exceeded', ...e }));
  return { costs: createCostAggregator({ ...options, events }), seen };
};

describe('CostAggregator', () => {
  it('exports WARNING_THRESHOLD = 0.8', () => {
    expect(WARNING_THRESHOLD).to.equal(0.8);
  });

  it('requires each budget, when given, to be a finite amount above zero', () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 1e-9]) {
      expectFieldError(
        () => createCostAggregator({ globalBudgetUsd: bad }),
        'invalid-argument',
        'globalBudgetUsd',
      );
      expectFieldError(
        () => createCostAggregator({ perWorkerBudgetUsd: bad }),
        'invalid-argument',
        'perWorkerBudgetUsd',
      );
    }
  });

  describe('record', () => {
    it('adds a cost to the worker and to the global total', () => {
      const { costs } = setup();
      costs.record('w1', { totalUsd: 1.5, inputTokens: 1000, outputTokens: 200 });
      costs.record('w2', { totalUsd: 2.25, inputTokens: 10, outputTokens: 20 });
      costs.record('w1', { totalUsd: 0.25 });
      expect(costs.status()).to.deep.include({ spentUsd: 4, inputTokens: 1010, outputTokens: 220 });
      expect(
        costs.status().workers.map(({ workerId, spentUsd, inputTokens, outputTokens }) => ({
          workerId,
          spentUsd,
          inputTokens,
          outputTokens,
        })),
      ).to.deep.equal([
        { workerId: 'w1', spentUsd: 1.75, inputTokens: 1000, outputTokens: 200 },
        { workerId: 'w2', spentUsd: 2.25, inputTokens: 10, outputTokens: 20 },
      ]);
    });

    it('sums money exactly, to the micro-dollar', () => {
      const { costs } = setup();
      costs.record('w1', { totalUsd: 0.1 });
      costs.record('w1', { totalUsd: 0.2 });
      expect(costs.status().spentUsd).to.equal(0.3);
      costs.record('w1', { totalUsd: 0.000_000_4 });
      expect(costs.status().spentUsd).to.equal(0.3);
    });

    it('returns the budget check after recording', () => {
      const { costs } = setup({ perWorkerBudgetUsd: 10 });
      expect(costs.record('w1', { totalUsd: 4 }).worker).to.deep.include({ spentUsd: 4, remainingUsd: 6 });
    });

    it('rejects a negative or non-finite amount, naming the field, and leaves state unchanged', () => {
      const { costs, seen } = setup({ globalBudgetUsd: 1 });
      costs.record('w1', { totalUsd: 0.5, inputTokens: 5, outputTokens: 5 });
      const before = costs.snapshot();
      for (const bad of [-0.01, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e12]) {
        expectFieldError(() => costs.record('w1', { totalUsd: bad }), 'invalid-argument', 'totalUsd');
      }
      for (const field of ['inputTokens', 'outputTokens'] as const) {
        for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
          expectFieldError(
            () => costs.record('w1', { totalUsd: 0.9, [field]: bad }),
            'invalid-argument',
            field,
          );
        }
      }
      expectFieldError(() => costs.record('', { totalUsd: 0.9 }), 'invalid-argument', 'workerId');
      expect(costs.snapshot()).to.deep.equal(before);
      expect(seen).to.deep.equal([]);
    });
  });

  describe('budget events', () => {
    it('warns once a worker reaches 80% of its budget', () => {
      const { costs, seen } = setup({ perWorkerBudgetUsd: 10 });
      costs.record('w1', { totalUsd: 7.99 });
      expect(seen).to.deep.equal([]);
      costs.record('w1', { totalUsd: 0.01 });
      expect(seen).to.deep.equal([
        { kind: 'warning', scope: 'worker', workerId: 'w1', spentUsd: 8, budgetUsd: 10 },
      ]);
    });

    it('reports a worker exceeded when spend reaches its budget exactly (≥, not >)', () => {
      const { costs, seen } = setup({ perWorkerBudgetUsd: 10 });
      costs.record('w1', { totalUsd: 9.99 });
      expect(seen.map((e) => e.kind)).to.deep.equal(['warning']);
      const check = costs.record('w1', { totalUsd: 0.01 });
      expect(seen[1]).to.deep.equal({
        kind: 'exceeded',
        scope: 'worker',
        workerId: 'w1',
        spentUsd: 10,
        budgetUsd: 10,
      });
      expect(check.allowed).to.equal(false);
      expect(check.worker).to.deep.include({ remainingUsd: 0, exceeded: true });
    });

    it('warns and reports exceeded for the global budget, without a workerId', () => {
      const { costs, seen } = setup({ globalBudgetUsd: 100 });
      costs.record('w1', { totalUsd: 50 });
      costs.record('w2', { totalUsd: 30 });
      expect(seen).to.deep.equal([{ kind: 'warning', scope: 'global', spentUsd: 80, budgetUsd: 100 }]);
      costs.record('w3', { totalUsd: 20 });
      expect(seen[1]).to.deep.equal({ kind: 'exceeded', scope: 'global', spentUsd: 100, budgetUsd: 100 });
    });

    it('emits each event only once per scope, and separately for each worker', () => {
      const { costs, seen } = setup({ perWorkerBudgetUsd: 1, globalBudgetUsd: 12 });
      for (let i = 0; i < 5; i++) {
        costs.record('w1', { totalUsd: 0.9 });
        costs.record('w2', { totalUsd: 0.9 });
      }
      const summary = seen.map((e) => `${e.kind}:${e.scope}:${e.workerId ?? '-'}`);
      expect(summary).to.deep.equal([
        'warning:worker:w1',
        'warning:worker:w2',
        'exceeded:worker:w1',
        'exceeded:worker:w2',
      ]);
      for (let i = 0; i < 5; i++) costs.record('w3', { totalUsd: 0.5 });
      expect(seen.slice(4).map((e) => `${e.kind}:${e.scope}:${e.workerId ?? '-'}`)).to.deep.equal([
        'warning:worker:w3',
        'exceeded:worker:w3',
        'warning:global:-',
      ]);
    });

    it('emits warning then exceeded, worker scope first, when one record crosses everything', () => {
      const { costs, seen } = setup({ perWorkerBudgetUsd: 1, globalBudgetUsd: 2 });
      costs.record('w1', { totalUsd: 5 });
      expect(seen.map((e) => `${e.kind}:${e.scope}`)).to.deep.equal([
        'warning:worker',
        'exceeded:worker',
        'warning:global',
        'exceeded:global',
      ]);
    });

    it('works without an event bus', () => {
      const costs = createCostAggregator({ globalBudgetUsd: 1 });
      expect(costs.record('w1', { totalUsd: 2 }).allowed).to.equal(false);
    });
  });

  describe('checkBudget', () => {
    it('reports spend, budget, remaining and flags for the worker and globally', () => {
      const { costs } = setup({ perWorkerBudgetUsd: 10, globalBudgetUsd: 100 });
      costs.record('w1', { totalUsd: 8.5 });
      expect(costs.checkBudget('w1')).to.deep.equal({
        allowed: true,
        worker: { spentUsd: 8.5, budgetUsd: 10, remainingUsd: 1.5, warning: true, exceeded: false },
        global: { spentUsd: 8.5, budgetUsd: 100, remainingUsd: 91.5, warning: false, exceeded: false },
      });
    });

    it('disallows every worker once the global budget is exceeded', () => {
      const { costs } = setup({ perWorkerBudgetUsd: 100, globalBudgetUsd: 10 });
      costs.record('w1', { totalUsd: 11 });
      const check = costs.checkBudget('fresh');
      expect(check.allowed).to.equal(false);
      expect(check.worker).to.deep.include({ spentUsd: 0, exceeded: false });
      expect(check.global).to.deep.include({ remainingUsd: 0, exceeded: true });
    });

    it('always allows when budgets are unlimited', () => {
      const { costs, seen } = setup();
      costs.record('w1', { totalUsd: 1e6 });
      expect(costs.checkBudget('w1')).to.deep.equal({
        allowed: true,
        worker: { spentUsd: 1e6, budgetUsd: null, remainingUsd: null, warning: false, exceeded: false },
        global: { spentUsd: 1e6, budgetUsd: null, remainingUsd: null, warning: false, exceeded: false },
      });
      expect(seen).to.deep.equal([]);
    });

    it('rejects an empty workerId', () => {
      expectFieldError(() => setup().costs.checkBudget(''), 'invalid-argument', 'workerId');
    });
  });

  describe('status', () => {
    it('reports totals, budgets, and each worker with its spend, tokens and budget state', () => {
      const { costs } = setup({ perWorkerBudgetUsd: 2, globalBudgetUsd: 50 });
      costs.record('w1', { totalUsd: 1.6, inputTokens: 3, outputTokens: 4 });
      expect(costs.status()).to.deep.equal({
        spentUsd: 1.6,
        inputTokens: 3,
        outputTokens: 4,
        budgets: { globalUsd: 50, perWorkerUsd: 2 },
        global: { spentUsd: 1.6, budgetUsd: 50, remainingUsd: 48.4, warning: false, exceeded: false },
        workers: [
          {
            workerId: 'w1',
            spentUsd: 1.6,
            inputTokens: 3,
            outputTokens: 4,
            budget: { spentUsd: 1.6, budgetUsd: 2, remainingUsd: 0.4, warning: true, exceeded: false },
          },
        ],
      });
    });
  });

  describe('reset', () => {
    it('forgets all spend and re-arms the warnings', () => {
      const { costs, seen } = setup({ perWorkerBudgetUsd: 1 });
      costs.record('w1', { totalUsd: 1 });
      costs.reset();
      expect(costs.status()).to.deep.include({ spentUsd: 0, inputTokens: 0, outputTokens: 0, workers: [] });
      expect(costs.checkBudget('w1').allowed).to.equal(true);
      costs.record('w1', { totalUsd: 1 });
      expect(seen.map((e) => e.kind)).to.deep.equal(['warning', 'exceeded', 'warning', 'exceeded']);
    });
  });

  describe('snapshot and restore', () => {
    it('round-trips through JSON without resetting budgets or re-emitting warnings', () => {
      const { costs } = setup({ perWorkerBudgetUsd: 1, globalBudgetUsd: 10 });
      costs.record('w1', { totalUsd: 0.85, inputTokens: 7, outputTokens: 8 });
      costs.record('w2', { totalUsd: 7.5 });
      const snapshot = JSON.parse(JSON.stringify(costs.snapshot()));
      const restored = setup({ perWorkerBudgetUsd: 1, globalBudgetUsd: 10, initial: snapshot });
      expect(restored.costs.snapshot()).to.deep.equal(costs.snapshot());
      expect(restored.costs.status()).to.deep.equal(costs.status());
      restored.costs.record('w1', { totalUsd: 0.01 });
      restored.costs.record('w2', { totalUsd: 0.01 });
      expect(restored.seen).to.deep.equal([]);
      restored.costs.record('w1', { totalUsd: 0.14 });
      expect(restored.seen.map((e) => `${e.kind}:${e.scope}:${e.workerId ?? '-'}`)).to.deep.equal([
        'exceeded:worker:w1',
      ]);
    });

    it('re-arms a flag when the restored spend is below a raised budget', () => {
      const { costs } = setup({ perWorkerBudgetUsd: 1 });
      costs.record('w1', { totalUsd: 0.9 });
      const raised = setup({ perWorkerBudgetUsd: 2 });
      raised.costs.restore(costs.snapshot());
      raised.costs.record('w1', { totalUsd: 0.7 });
      expect(raised.seen.map((e) => e.kind)).to.deep.equal(['warning']);
    });

    it('refuses a snapshot of another version', () => {
      expectFieldError(() => setup().costs.restore({ version: 9 } as never), 'invalid-argument', 'snapshot');
    });
  });

  describe('properties', () => {
    const entry = fc.record({
      worker: fc.nat(4),
      // Whole micro-dollars, or something invalid that must be refused.
      amount: fc.oneof(
        { arbitrary: fc.integer({ min: 0, max: 5_000_000_000 }), weight: 9 },
        { arbitrary: fc.constantFrom(-1, Number.NaN, Number.POSITIVE_INFINITY), weight: 1 },
      ),
      inputTokens: fc.nat(100_000),
      outputTokens: fc.nat(100_000),
    });

    it('keeps totals equal to the exact sum of accepted records, globally and per worker', () => {
      fc.assert(
        fc.property(fc.array(entry, { maxLength: 40 }), (entries) => {
          const { costs } = setup();
          const expected = new Map<string, { micros: number; input: number; output: number }>();
          for (const e of entries) {
            const workerId = `w${e.worker}`;
            try {
              costs.record(workerId, {
                totalUsd: e.amount / 1e6,
                inputTokens: e.inputTokens,
                outputTokens: e.outputTokens,
              });
            } catch (error) {
              expect((error as BatonError).field).to.equal('totalUsd');
              continue;
            }
            const sum = expected.get(workerId) ?? { micros: 0, input: 0, output: 0 };
            expected.set(workerId, {
              micros: sum.micros + e.amount,
              input: sum.input + e.inputTokens,
              output: sum.output + e.outputTokens,
            });
          }
          const status = costs.status();
          let micros = 0;
          let input = 0;
          let output = 0;
          for (const [workerId, sum] of expected) {
            const worker = status.workers.find((w) => w.workerId === workerId);
            expect(worker).to.deep.include({
              spentUsd: sum.micros / 1e6,
              inputTokens: sum.input,
              outputTokens: sum.output,
            });
            micros += sum.micros;
            input += sum.input;
            output += sum.output;
          }
          expect(status).to.deep.include({
            spentUsd: micros / 1e6,
            inputTokens: input,
            outputTokens: output,
          });
        }),
        { numRuns: 1000 },
      );
    });

    it('emits each budget event at most once per scope, exactly when spend reaches the threshold', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 1_000_000_000 }),
          fc.integer({ min: 1, max: 5_000_000_000 }),
          fc.array(fc.record({ worker: fc.nat(3), amount: fc.nat(600_000_000) }), { maxLength: 30 }),
          (workerMicros, globalMicros, entries) => {
            const { costs, seen } = setup({
              perWorkerBudgetUsd: workerMicros / 1e6,
              globalBudgetUsd: globalMicros / 1e6,
            });
            for (const e of entries) costs.record(`w${e.worker}`, { totalUsd: e.amount / 1e6 });
            const count = (kind: Seen['kind'], workerId?: string): number =>
              seen.filter((e) => e.kind === kind && e.workerId === workerId).length;
            const micros = (usd: number): number => Math.round(usd * 1e6);
            const status = costs.status();
            const scopes = [
              { workerId: undefined, budget: globalMicros, state: status.global },
              ...status.workers.map((w) => ({ workerId: w.workerId, budget: workerMicros, state: w.budget })),
            ];
            for (const { workerId, budget, state } of scopes) {
              const spent = micros(state.spentUsd);
              expect(count('warning', workerId)).to.equal(
                spent >= Math.round(budget * WARNING_THRESHOLD) ? 1 : 0,
              );
              expect(count('exceeded', workerId)).to.equal(spent >= budget ? 1 : 0);
            }
          },
        ),
        { numRuns: 1000 },
      );
    });
  });
});
