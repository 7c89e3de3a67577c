import { expect } from 'chai';
import fc from 'fast-check';
import { createCoordinator } from '../../src/core/coordinator.js';
import type { TaskSpec } from '../../src/core/task.js';
import { createTaskQueue } from '../../src/core/task-queue.js';
import {
  ASSIGNMENT_STRATEGIES,
  type Assignment,
  type AssignmentStrategy,
  noCapableWorker,
} from '../../src/core/work-assigner.js';
import type { WorkerJoin } from '../../src/core/worker-pool.js';
import { type AssignerSetup, pairs, setupAssigner } from './assigner-fixture.js';
import { expectBatonError } from './expect-baton-error.js';

const setup = (
  options: { strategy?: AssignmentStrategy; requireCapability?: boolean },
  workers: readonly WorkerJoin[],
  tasks: readonly TaskSpec[],
): AssignerSetup =>
  setupAssigner(options.strategy ?? 'capability', workers, tasks, options.requireCapability);

const fleet: WorkerJoin[] = [
  { id: 'llm-1', capabilities: ['llm'], maxConcurrency: 2 },
  { id: 'py-1', capabilities: ['python'], maxConcurrency: 2 },
];

describe('strict capability mode (requireCapability)', () => {
  it('is off by default: a category nobody lists still falls back to the least-loaded worker', () => {
    const s = setup({}, fleet, [{ id: 'f', category: 'flaky' }]);
    expect(s.assigner.requireCapability).to.equal(false);
    expect(pairs(s.assigner.assignAll())).to.deep.equal(['f@llm-1']);
  });

  for (const strategy of ASSIGNMENT_STRATEGIES) {
    it(`coordinator-wide, under ${strategy}: a task waits, saying why, until a worker lists its category`, () => {
      const s = setup({ strategy, requireCapability: true }, fleet, [
        { id: 'f', category: 'flaky', priority: 5 },
        { id: 'l', category: 'llm' },
        { id: 'p', category: 'python' },
        { id: 'any' },
      ]);
      const first = s.assigner.assignAll();
      expect(first.map((a) => a.task.id).sort()).to.deep.equal(['any', 'l', 'p']);
      for (const a of first) {
        const category = a.task.category;
        if (category !== '') expect(s.pool.get(a.workerId)?.capabilities.has(category)).to.equal(true);
      }
      const waiting = s.queue.get('f');
      expect(waiting?.status).to.equal('pending');
      expect(waiting?.waitingFor).to.equal(noCapableWorker('flaky'));
      expect(waiting?.waitingFor).to.contain('flaky').and.contain('requireCapability');

      s.pool.join({ id: 'flaky-1', capabilities: ['flaky'] }, 1);
      expect(pairs(s.assigner.assignAll())).to.deep.equal(['f@flaky-1']);
      expect(s.queue.get('f')?.waitingFor).to.equal(null);
    });
  }

  it('per task: only the strict tasks wait, every one saying why; a loose task of the same category still falls back', () => {
    const s = setup({}, fleet, [
      { id: 'strict', category: 'flaky', requireCapability: true, priority: 9 },
      { id: 'strict-2', category: 'flaky', requireCapability: true },
      { id: 'loose', category: 'flaky' },
    ]);
    expect(pairs(s.assigner.assignAll())).to.deep.equal(['loose@llm-1']);
    expect(s.queue.get('strict')?.requireCapability).to.equal(true);
    expect(s.queue.get('strict')?.waitingFor).to.equal(noCapableWorker('flaky'));
    expect(s.queue.get('strict-2')?.waitingFor).to.equal(noCapableWorker('flaky'));
    expect(s.queue.get('loose')?.requireCapability).to.equal(false);
  });

  it('a strict task whose capable workers are merely busy waits without a special reason', () => {
    const s = setup(
      { requireCapability: true },
      [{ id: 'llm-1', capabilities: ['llm'] }, fleet[1] as WorkerJoin],
      [
        { id: 'a', category: 'llm' },
        { id: 'b', category: 'llm' },
      ],
    );
    expect(pairs(s.assigner.assignAll())).to.deep.equal(['a@llm-1']);
    expect(s.queue.get('b')?.status).to.equal('pending');
    expect(s.queue.get('b')?.waitingFor).to.equal(null);
  });

  it('a task without a category runs anywhere, strict or not', () => {
    const s = setup({ requireCapability: true }, fleet, [{ id: 'x', requireCapability: true }]);
    expect(s.assigner.assignAll()).to.have.length(1);
  });

  it('a cancelled strict task no longer says it waits', () => {
    const s = setup({ requireCapability: true }, fleet, [{ id: 'f', category: 'flaky' }]);
    s.assigner.assignAll();
    s.queue.cancel('f');
    expect(s.queue.get('f')?.waitingFor).to.equal(null);
  });

  it('refuses a requireCapability that is not a boolean, naming the field, and adds nothing', () => {
    const queue = createTaskQueue({ now: () => 0 });
    const error = expectBatonError(
      () => queue.add({ id: 'a', requireCapability: 'yes' as unknown as boolean }),
      'invalid-argument',
      'requireCapability',
    );
    expect(error.field).to.equal('requireCapability');
    expect(queue.size).to.equal(0);
    const coordinatorError = expectBatonError(
      () => createCoordinator({ options: { now: () => 0, requireCapability: 1 as unknown as boolean } }),
      'invalid-argument',
    );
    expect(coordinatorError.field).to.equal('requireCapability');
  });

  it('the coordinator reports the mode in force', () => {
    expect(createCoordinator({ options: { now: () => 0 } }).status().requireCapability).to.equal(false);
    const strict = createCoordinator({ options: { now: () => 0, requireCapability: true } });
    expect(strict.status().requireCapability).to.equal(true);
  });

  it('property: a strict task only ever goes to a worker listing its category, and none is left that one could take', () => {
    const worker = fc.record({ caps: fc.subarray(['ts', 'py', 'go']), max: fc.integer({ min: 1, max: 3 }) });
    const task = fc.record({
      category: fc.constantFrom('', 'ts', 'py', 'go', 'rust'),
      priority: fc.integer({ min: 0, max: 2 }),
      strict: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.constantFrom(...ASSIGNMENT_STRATEGIES),
        fc.boolean(),
        fc.array(worker, { minLength: 1, maxLength: 4 }),
        fc.array(task, { minLength: 1, maxLength: 15 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (strategy, requireAll, workers, taskGens, finishes) => {
          const s = setup(
            { strategy, requireCapability: requireAll },
            workers.map((w, i) => ({ id: `w${i}`, capabilities: w.caps, maxConcurrency: w.max })),
            taskGens.map((t, i) => ({
              id: `t${i}`,
              category: t.category,
              priority: t.priority,
              requireCapability: t.strict,
            })),
          );
          const strictTask = (t: { category: string; requireCapability: boolean }) =>
            t.category !== '' && (requireAll || t.requireCapability);
          const check = (assignments: readonly Assignment[]): void => {
            for (const a of assignments) {
              if (!strictTask(a.task)) continue;
              expect(s.pool.get(a.workerId)?.capabilities.has(a.task.category), `${a.task.id}`).to.equal(
                true,
              );
            }
            // A strict task left ready has no free worker listing its category.
            const free = Array.from(s.pool.available());
            for (const t of s.queue.getReady()) {
              if (!strictTask(t)) continue;
              expect(
                free.some((w) => w.capabilities.has(t.category)),
                `${t.id} left ready`,
              ).to.equal(false);
            }
          };
          check(s.assigner.assignAll());
          for (const pick of finishes) {
            const held = s.queue.getAll({ status: 'assigned' });
            const target = held[pick % Math.max(1, held.length)];
            if (target === undefined) break;
            s.queue.complete(target.id, null, {
              workerId: target.workerId as string,
              attempt: target.attempt,
            });
            s.pool.release(target.workerId as string);
            check(s.assigner.assignAll());
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
