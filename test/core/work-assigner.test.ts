import { expect } from 'chai';
import fc from 'fast-check';
import type { TaskSpec } from '../../src/core/task.js';
import { createTaskQueue } from '../../src/core/task-queue.js';
import {
  ASSIGNMENT_STRATEGIES,
  type Assignment,
  type AssignmentStrategy,
  createWorkAssigner,
} from '../../src/core/work-assigner.js';
import { createWorkerPool, type WorkerJoin } from '../../src/core/worker-pool.js';
import { finish, pairs, setupAssigner as setup } from './assigner-fixture.js';
import { expectBatonError } from './expect-baton-error.js';

const tasks = (n: number, spec: Partial<TaskSpec> = {}): TaskSpec[] =>
  Array.from({ length: n }, (_, i) => ({ ...spec, id: `t${i}` }));

describe('WorkAssigner', () => {
  describe('options', () => {
    it('exports the three strategies', () => {
      expect(ASSIGNMENT_STRATEGIES).to.deep.equal(['round-robin', 'capability', 'work-stealing']);
    });

    it('uses the capability strategy by default', () => {
      const pool = createWorkerPool();
      const assigner = createWorkAssigner({ pool, taskQueue: createTaskQueue({ now: () => 0 }) });
      expect(assigner.strategy).to.equal('capability');
    });

    it('refuses an unknown strategy, naming the field and the choices', () => {
      const pool = createWorkerPool();
      const error = expectBatonError(
        () =>
          createWorkAssigner({
            strategy: 'random' as AssignmentStrategy,
            pool,
            taskQueue: createTaskQueue({ now: () => 0 }),
          }),
        'invalid-argument',
        'strategy',
        ...ASSIGNMENT_STRATEGIES,
      );
      expect(error.field).to.equal('strategy');
    });

    it('works without an event bus', () => {
      const pool = createWorkerPool();
      pool.join({ id: 'w1' }, 0);
      const queue = createTaskQueue({ now: () => 0 });
      queue.add({ id: 'a' });
      expect(createWorkAssigner({ pool, taskQueue: queue }).assignNext()?.workerId).to.equal('w1');
    });
  });

  describe('assignNext', () => {
    it('returns nothing when there is no ready task or no worker with a free slot', () => {
      for (const strategy of ASSIGNMENT_STRATEGIES) {
        expect(setup(strategy, [{ id: 'w1' }]).assigner.assignNext()).to.equal(undefined);
        const noWorkers = setup(strategy, [], tasks(1));
        expect(noWorkers.assigner.assignNext()).to.equal(undefined);
        expect(noWorkers.queue.get('t0')?.status).to.equal('pending');
      }
    });

    it('assigns the best ready task first: highest priority, then first added', () => {
      for (const strategy of ASSIGNMENT_STRATEGIES) {
        const s = setup(
          strategy,
          [{ id: 'w1', maxConcurrency: 3 }],
          [{ id: 'low', priority: -1 }, { id: 'a' }, { id: 'high', priority: 5 }],
        );
        expect(pairs(s.assigner.assignAll()).map((p) => p.split('@')[0])).to.deep.equal(['high', 'a', 'low']);
      }
    });

    it('marks the task assigned in the queue and occupies the worker’s slot', () => {
      const s = setup('round-robin', [{ id: 'w1', maxConcurrency: 2 }], tasks(1));
      const assignment = s.assigner.assignNext() as Assignment;
      expect(assignment.task).to.include({ id: 't0', status: 'assigned', workerId: 'w1', attempt: 1 });
      expect(s.pool.get('w1')?.running).to.equal(1);
      expect(s.queue.countByWorker('w1')).to.equal(1);
    });
  });

  describe('round-robin', () => {
    it('cycles through the workers in turn', () => {
      const s = setup(
        'round-robin',
        ['a', 'b', 'c'].map((id) => ({ id, maxConcurrency: 3 })),
        tasks(7),
      );
      expect(s.assigner.assignAll().map((a) => a.workerId)).to.deep.equal([
        'a',
        'b',
        'c',
        'a',
        'b',
        'c',
        'a',
      ]);
    });

    it('skips a worker whose slots are full', () => {
      const s = setup(
        'round-robin',
        [
          { id: 'a', maxConcurrency: 1 },
          { id: 'b', maxConcurrency: 3 },
        ],
        tasks(3),
      );
      expect(s.assigner.assignAll().map((a) => a.workerId)).to.deep.equal(['a', 'b', 'b']);
    });

    it('ignores draining, stopped and offline workers', () => {
      const s = setup(
        'round-robin',
        ['a', 'b', 'c', 'd'].map((id) => ({ id })),
        tasks(4),
      );
      s.pool.setStatus('a', 'draining');
      s.pool.setStatus('b', 'stopped');
      s.pool.leave('c');
      expect(pairs(s.assigner.assignAll())).to.deep.equal(['t0@d']);
    });
  });

  describe('capability', () => {
    const workers: WorkerJoin[] = [
      { id: 'tsw', capabilities: ['ts'], maxConcurrency: 2 },
      { id: 'pyw', capabilities: ['py'], maxConcurrency: 2 },
    ];

    it('gives a task to a worker listing its category', () => {
      const s = setup('capability', workers, [
        { id: 'p', category: 'py' },
        { id: 't', category: 'ts' },
      ]);
      expect(pairs(s.assigner.assignAll())).to.deep.equal(['p@pyw', 't@tsw']);
    });

    it('picks the least loaded of the capable workers', () => {
      const s = setup(
        'capability',
        [
          { id: 'x', capabilities: ['ts'], maxConcurrency: 3 },
          { id: 'y', capabilities: ['ts'], maxConcurrency: 3 },
        ],
        tasks(3, { category: 'ts' }),
      );
      s.pool.occupy('x');
      expect(s.assigner.assignAll().map((a) => a.workerId)).to.deep.equal(['y', 'x', 'y']);
    });

    it('falls back to the least loaded worker when no worker has the capability', () => {
      const s = setup('capability', workers, [{ id: 'g', category: 'go' }]);
      s.pool.occupy('tsw');
      expect(pairs(s.assigner.assignAll())).to.deep.equal(['g@pyw']);
    });

    it('gives a task without a category to any worker', () => {
      const s = setup('capability', workers, tasks(3));
      expect(s.assigner.assignAll()).to.have.length(3);
    });

    it('leaves a task waiting while its capable workers are full, still assigning other categories', () => {
      const s = setup(
        'capability',
        [
          { id: 'tsw', capabilities: ['ts'], maxConcurrency: 1 },
          { id: 'pyw', capabilities: ['py'], maxConcurrency: 2 },
        ],
        [
          { id: 't1', category: 'ts', priority: 9 },
          { id: 't2', category: 'ts', priority: 9 },
          { id: 'p1', category: 'py' },
          { id: 'p2', category: 'py' },
        ],
      );
      expect(pairs(s.assigner.assignAll())).to.deep.equal(['t1@tsw', 'p1@pyw', 'p2@pyw']);
      expect(s.queue.get('t2')?.status).to.equal('pending');
      finish(s, 't1');
      expect(pairs(s.assigner.assignAll())).to.deep.equal(['t2@tsw']);
    });

    it('does not count a draining worker as capable: its category falls back', () => {
      const s = setup('capability', workers, [{ id: 'p', category: 'py' }]);
      s.pool.setStatus('pyw', 'draining');
      expect(pairs(s.assigner.assignAll())).to.deep.equal(['p@tsw']);
    });

    it('uses registered capabilities in place of the ones workers report', () => {
      const s = setup('capability', workers, [
        { id: 'r', category: 'rust' },
        { id: 't', category: 'ts' },
      ]);
      s.assigner.registerCapabilities('pyw', ['rust', 'ts']);
      s.assigner.registerCapabilities('tsw', ['go']);
      expect(pairs(s.assigner.assignAll())).to.deep.equal(['r@pyw', 't@pyw']);
    });

    it('replaces earlier registrations of the same worker', () => {
      const s = setup('capability', workers, [{ id: 'r', category: 'rust' }]);
      s.assigner.registerCapabilities('pyw', ['rust']);
      s.assigner.registerCapabilities('pyw', ['ts']);
      // Nobody may run rust any more: the fallback applies.
      s.pool.occupy('pyw');
      expect(pairs(s.assigner.assignAll())).to.deep.equal(['r@tsw']);
    });

    it('falls back when the only registered holder of a capability has left', () => {
      const s = setup('capability', workers, [{ id: 'r', category: 'rust' }]);
      s.assigner.registerCapabilities('gone', ['rust']);
      expect(pairs(s.assigner.assignAll())).to.deep.equal(['r@tsw']);
    });

    it('falls back when the only worker reporting a capability was registered without it', () => {
      const s = setup('capability', workers, [{ id: 'p', category: 'py' }]);
      s.assigner.registerCapabilities('pyw', ['rust']);
      s.pool.occupy('pyw');
      expect(pairs(s.assigner.assignAll())).to.deep.equal(['p@tsw']);
    });
  });

  describe('work-stealing', () => {
    it('prefers an idle worker, then the least loaded', () => {
      const s = setup(
        'work-stealing',
        ['a', 'b', 'c'].map((id) => ({ id, maxConcurrency: 4 })),
        tasks(5),
      );
      s.pool.occupy('a');
      s.pool.occupy('a');
      s.pool.occupy('b');
      // c is idle; then b (1) beats a (2); then b and c tie at 2... the longest waiting goes first.
      const order = s.assigner.assignAll(3).map((a) => a.workerId);
      expect(order[0]).to.equal('c');
      expect(order.slice(1)).to.have.members(['b', 'c']);
      expect(s.pool.list().map((w) => w.running)).to.deep.equal([2, 2, 2]);
    });

    it('spreads tasks so no worker is two tasks ahead of another with room', () => {
      const s = setup(
        'work-stealing',
        ['a', 'b', 'c'].map((id) => ({ id, maxConcurrency: 10 })),
        tasks(9),
      );
      s.assigner.assignAll();
      expect(s.pool.list().map((w) => w.running)).to.deep.equal([3, 3, 3]);
    });
  });

  describe('assignAll', () => {
    it('assigns only tasks whose deps are complete, and more as deps complete', () => {
      for (const strategy of ASSIGNMENT_STRATEGIES) {
        const s = setup(
          strategy,
          [{ id: 'w1', maxConcurrency: 5 }],
          [{ id: 'a' }, { id: 'b', deps: ['a'] }, { id: 'c', deps: ['a'] }, { id: 'd', deps: ['b', 'c'] }],
        );
        expect(pairs(s.assigner.assignAll())).to.deep.equal(['a@w1']);
        expect(s.assigner.assignAll()).to.deep.equal([]);
        finish(s, 'a');
        expect(pairs(s.assigner.assignAll())).to.deep.equal(['b@w1', 'c@w1']);
        finish(s, 'b');
        expect(s.assigner.assignAll()).to.deep.equal([]);
        finish(s, 'c');
        expect(pairs(s.assigner.assignAll())).to.deep.equal(['d@w1']);
      }
    });

    it('never gives a worker more than its max concurrency', () => {
      for (const strategy of ASSIGNMENT_STRATEGIES) {
        const s = setup(
          strategy,
          [
            { id: 'a', maxConcurrency: 1 },
            { id: 'b', maxConcurrency: 2 },
          ],
          tasks(10),
        );
        expect(s.assigner.assignAll()).to.have.length(3);
        expect(s.queue.countByWorker('a')).to.equal(1);
        expect(s.queue.countByWorker('b')).to.equal(2);
        expect(s.queue.readyCount()).to.equal(7);
      }
    });

    it('stops at the limit it is given', () => {
      const s = setup('round-robin', [{ id: 'w1', maxConcurrency: 5 }], tasks(5));
      expect(s.assigner.assignAll(2)).to.have.length(2);
      expect(s.assigner.assignAll(0)).to.deep.equal([]);
    });

    it('announces each assignment with coord:assigned, carrying the task and the worker', () => {
      const s = setup('round-robin', [{ id: 'a' }, { id: 'b' }], tasks(3));
      const assignments = s.assigner.assignAll();
      expect(s.assigned).to.deep.equal(assignments);
      expect(s.assigned.map((e) => `${e.task.id}@${e.workerId}:${e.task.status}`)).to.deep.equal([
        't0@a:assigned',
        't1@b:assigned',
      ]);
    });
  });

  describe('properties', () => {
    it('never exceeds max concurrency, assigns only ready tasks, and leaves nothing it could place', () => {
      const worker = fc.record({
        caps: fc.subarray(['ts', 'py', 'go']),
        max: fc.integer({ min: 1, max: 3 }),
      });
      const task = fc.record({
        category: fc.constantFrom('', 'ts', 'py', 'go', 'rust'),
        priority: fc.integer({ min: 0, max: 2 }),
        dep: fc.option(fc.nat(), { nil: undefined }),
      });
      const action = fc.oneof(
        fc.constant({ kind: 'assign' as const }),
        fc.record({ kind: fc.constant('finish' as const), pick: fc.nat() }),
        fc.record({ kind: fc.constant('drain' as const), pick: fc.nat() }),
      );
      fc.assert(
        fc.property(
          fc.constantFrom(...ASSIGNMENT_STRATEGIES),
          fc.array(worker, { minLength: 1, maxLength: 4 }),
          fc.array(task, { minLength: 1, maxLength: 15 }),
          fc.array(action, { maxLength: 20 }),
          (strategy, workers, taskGens, actions) => {
            const specs = taskGens.map((t, i) => ({
              id: `t${i}`,
              category: t.category,
              priority: t.priority,
              deps: t.dep === undefined || i === 0 ? [] : [`t${t.dep % i}`],
            }));
            const s = setup(
              strategy,
              workers.map((w, i) => ({ id: `w${i}`, capabilities: w.caps, maxConcurrency: w.max })),
              specs,
            );
            for (const act of actions) {
              if (act.kind === 'finish') {
                const held = s.queue.getAll().filter((t) => t.status === 'assigned');
                const target = held[act.pick % Math.max(1, held.length)];
                if (target !== undefined) finish(s, target.id);
                continue;
              }
              if (act.kind === 'drain') {
                s.pool.setStatus(`w${act.pick % workers.length}`, 'draining');
                continue;
              }
              const readyBefore = new Set(s.queue.getReady().map((t) => t.id));
              const assignments = s.assigner.assignAll();
              for (const a of assignments) expect(readyBefore.has(a.task.id), a.task.id).to.equal(true);
              for (const w of s.pool.list()) {
                expect(w.running).to.be.at.most(w.maxConcurrency);
                expect(w.running).to.equal(s.queue.countByWorker(w.id));
              }
              // Whatever is still ready must have no taker: no free worker at all, or (capability
              // only) capable workers that exist but are all full.
              const free = Array.from(s.pool.available());
              for (const t of s.queue.getReady()) {
                if (free.length === 0) break;
                expect(strategy, `${t.id} left ready`).to.equal('capability');
                expect(t.category).to.not.equal('');
                expect(free.some((w) => w.capabilities.has(t.category))).to.equal(false);
                const capable = s.pool
                  .list()
                  .filter(
                    (w) => (w.status === 'idle' || w.status === 'busy') && w.capabilities.has(t.category),
                  );
                expect(capable.length, `${t.id} has capable workers`).to.be.greaterThan(0);
              }
            }
          },
        ),
        { numRuns: 300 },
      );
    });
  });
});
