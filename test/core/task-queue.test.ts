import { expect } from 'chai';
import { createManualClock, type ManualClock } from '../../src/core/clock.js';
import type { TaskSnapshot, TaskSpec } from '../../src/core/task.js';
import { createTaskQueue, type TaskQueue, type TaskQueueJson } from '../../src/core/task-queue.js';
import { expectBatonError, expectRefused } from './expect-baton-error.js';

interface Setup {
  readonly clock: ManualClock;
  readonly queue: TaskQueue;
}

const setup = (defaultMaxAttempts?: number): Setup => {
  const clock = createManualClock(1000);
  const queue = createTaskQueue({
    now: clock.now,
    ...(defaultMaxAttempts === undefined ? {} : { defaultMaxAttempts }),
  });
  return { clock, queue };
};

const ids = (tasks: readonly TaskSnapshot[]): string[] => tasks.map((t) => t.id);
const statusOf = (queue: TaskQueue, id: string): string | undefined => queue.get(id)?.status;

/** Assigns, starts and completes a task in one go. */
const run = (queue: TaskQueue, id: string, workerId = 'w1', result?: unknown): TaskSnapshot => {
  const { attempt } = queue.assign(id, workerId);
  queue.start(id, { workerId, attempt });
  return queue.complete(id, result, { workerId, attempt });
};

/** Assigns and fails a task for good. */
const failTask = (queue: TaskQueue, id: string, workerId = 'w1'): void => {
  const { attempt } = queue.assign(id, workerId);
  queue.fail(id, 'boom', { workerId, attempt });
};

describe('TaskQueue', () => {
  describe('add', () => {
    it('adds a pending task with defaults for every optional field', () => {
      const { queue } = setup();
      const task = queue.add({ id: 'a' });
      expect(task).to.deep.equal({
        id: 'a',
        deps: [],
        priority: 0,
        category: '',
        metadata: {},
        status: 'pending',
        workerId: null,
        attempt: 0,
        maxAttempts: 3,
        result: null,
        error: null,
        cancelledBy: null,
        createdAt: 1000,
        updatedAt: 1000,
        assignedAt: null,
        startedAt: null,
        finishedAt: null,
        paths: [],
        land: false,
        requireCapability: false,
        waitingFor: null,
      });
      expect(queue.size).to.equal(1);
      expect(queue.has('a')).to.equal(true);
    });

    it('keeps deps, priority, category, metadata and maxAttempts as given', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      const task = queue.add({
        id: 'b',
        deps: ['a'],
        priority: 5,
        category: 'build',
        metadata: { repo: 'x', n: [1, 2] },
        maxAttempts: 7,
      });
      expect(task).to.include({ priority: 5, category: 'build', maxAttempts: 7 });
      expect(task.deps).to.deep.equal(['a']);
      expect(task.metadata).to.deep.equal({ repo: 'x', n: [1, 2] });
    });

    it('takes its default maxAttempts from the queue options', () => {
      const { queue } = setup(5);
      expect(queue.add({ id: 'a' }).maxAttempts).to.equal(5);
    });

    it('copies the spec: later changes to the caller’s deps or metadata do not reach the queue', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      const deps = ['a'];
      const metadata = { nested: { k: 1 } };
      queue.add({ id: 'b', deps, metadata });
      deps.push('zzz');
      metadata.nested.k = 2;
      expect(queue.get('b')?.deps).to.deep.equal(['a']);
      expect(queue.get('b')?.metadata).to.deep.equal({ nested: { k: 1 } });
    });

    it('makes a task with no deps ready, and a task with an incomplete dep not ready', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      queue.add({ id: 'b', deps: ['a'] });
      expect(ids(queue.getReady())).to.deep.equal(['a']);
    });

    it('makes a task whose deps are all complete ready at once', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      run(queue, 'a');
      queue.add({ id: 'b', deps: ['a'] });
      expect(ids(queue.getReady())).to.deep.equal(['b']);
    });

    it('rejects a duplicate id with already-exists naming the task, changing nothing', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      const error = expectRefused(
        queue.toJSON,
        () => queue.add({ id: 'a', priority: 9 }),
        'already-exists',
        'a',
      );
      expect(error.taskId).to.equal('a');
    });

    it('rejects unknown deps, naming the task and every unknown dep', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      const error = expectRefused(
        queue.toJSON,
        () => queue.add({ id: 'b', deps: ['a', 'x', 'y'] }),
        'invalid-argument',
        'b',
        'x',
        'y',
      );
      expect(error.data).to.deep.equal({ unknownDeps: ['x', 'y'] });
      expect(error.field).to.equal('deps');
    });

    it('rejects a task that depends on itself', () => {
      const { queue } = setup();
      const error = expectRefused(
        queue.toJSON,
        () => queue.add({ id: 'a', deps: ['a'] }),
        'invalid-argument',
        'a',
      );
      expect(error.message).to.include('itself');
      expect(error.field).to.equal('deps');
    });

    it('rejects a dep listed twice', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      expectRefused(
        queue.toJSON,
        () => queue.add({ id: 'b', deps: ['a', 'a'] }),
        'invalid-argument',
        'b',
        'a',
      );
    });

    for (const priority of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      it(`rejects a priority of ${priority}, naming the task and the field`, () => {
        const { queue } = setup();
        const error = expectRefused(
          queue.toJSON,
          () => queue.add({ id: 'a', priority }),
          'invalid-argument',
          'a',
          'priority',
        );
        expect(error.field).to.equal('priority');
        expect(error.taskId).to.equal('a');
      });
    }

    it('rejects a missing, empty, non-string or overlong id, naming the field', () => {
      const { queue } = setup();
      for (const id of [undefined, '', 42, 'x'.repeat(257)]) {
        const error = expectRefused(
          queue.toJSON,
          () => queue.add({ id } as unknown as TaskSpec),
          'invalid-argument',
          'id',
        );
        expect(error.field).to.equal('id');
      }
    });

    it('rejects a non-string category and non-integer maxAttempts, naming the field', () => {
      const { queue } = setup();
      expectRefused(
        queue.toJSON,
        () => queue.add({ id: 'a', category: 3 } as unknown as TaskSpec),
        'invalid-argument',
        'a',
        'category',
      );
      for (const maxAttempts of [0, 1.5, -1]) {
        expectRefused(
          queue.toJSON,
          () => queue.add({ id: 'a', maxAttempts }),
          'invalid-argument',
          'a',
          'maxAttempts',
        );
      }
    });

    it('rejects metadata that is not JSON, naming the path at fault', () => {
      const { queue } = setup();
      expectRefused(
        queue.toJSON,
        () => queue.add({ id: 'a', metadata: { f: () => 1 } }),
        'invalid-argument',
        'metadata.f',
      );
      expectRefused(
        queue.toJSON,
        () => queue.add({ id: 'a', metadata: { deep: [1, Number.NaN] } }),
        'invalid-argument',
        'metadata.deep[1]',
      );
      expectRefused(
        queue.toJSON,
        () => queue.add({ id: 'a', metadata: new Date() as unknown as Record<string, unknown> }),
        'invalid-argument',
        'metadata',
      );
      expectRefused(
        queue.toJSON,
        () => queue.add({ id: 'a', metadata: [] as unknown as Record<string, unknown> }),
        'invalid-argument',
        'metadata',
      );
    });
  });

  describe('addMany', () => {
    it('adds a batch whose deps point forward, backward or anywhere inside it', () => {
      const { queue } = setup();
      const added = queue.addMany([
        { id: 'c', deps: ['b', 'a'] },
        { id: 'a' },
        { id: 'd', deps: ['c'] },
        { id: 'b', deps: ['a'] },
      ]);
      expect(ids(added)).to.deep.equal(['c', 'a', 'd', 'b']);
      expect(queue.size).to.equal(4);
      expect(ids(queue.getReady())).to.deep.equal(['a']);
    });

    it('orders ready tasks of one priority by their position in the batch, not by dep order', () => {
      const { queue } = setup();
      queue.addMany([{ id: 'z', deps: ['y'] }, { id: 'x' }, { id: 'y' }, { id: 'w' }]);
      expect(ids(queue.getReady())).to.deep.equal(['x', 'y', 'w']);
    });

    it('lets a batch depend on tasks already in the queue', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      queue.addMany([
        { id: 'b', deps: ['a'] },
        { id: 'c', deps: ['a', 'b'] },
      ]);
      expect(queue.get('c')?.deps).to.deep.equal(['a', 'b']);
    });

    it('accepts an empty batch', () => {
      const { queue } = setup();
      expect(queue.addMany([])).to.deep.equal([]);
      expect(queue.size).to.equal(0);
    });

    const badBatches: {
      name: string;
      batch: TaskSpec[];
      code: 'invalid-argument' | 'already-exists';
      names: string[];
    }[] = [
      {
        name: 'an id already in the queue',
        batch: [{ id: 'n1' }, { id: 'a' }],
        code: 'already-exists',
        names: ['a'],
      },
      {
        name: 'an id twice in the batch',
        batch: [{ id: 'n1' }, { id: 'n1' }],
        code: 'already-exists',
        names: ['n1'],
      },
      {
        name: 'an unknown dep',
        batch: [{ id: 'n1' }, { id: 'n2', deps: ['n1', 'ghost'] }],
        code: 'invalid-argument',
        names: ['n2', 'ghost'],
      },
      {
        name: 'a cycle',
        batch: [
          { id: 'n1', deps: ['n2'] },
          { id: 'n2', deps: ['n1'] },
        ],
        code: 'invalid-argument',
        names: ['n1', 'n2'],
      },
      {
        name: 'a self-dependency',
        batch: [{ id: 'n1' }, { id: 'n2', deps: ['n2'] }],
        code: 'invalid-argument',
        names: ['n2'],
      },
      {
        name: 'a non-finite priority',
        batch: [{ id: 'n1' }, { id: 'n2', priority: Number.NaN }],
        code: 'invalid-argument',
        names: ['n2', 'priority'],
      },
    ];
    for (const { name, batch, code, names } of badBatches) {
      it(`rejects a whole batch with ${name}, leaving the queue exactly as before`, () => {
        const { queue } = setup();
        queue.addMany([{ id: 'a' }, { id: 'b', deps: ['a'] }]);
        queue.assign('a', 'w1');
        expectRefused(queue.toJSON, () => queue.addMany(batch), code, ...names);
        expect(queue.has('n1')).to.equal(false);
        // Nothing leaked into the sequence numbers either: the next task still comes after b.
        queue.add({ id: 'later' });
        expect(queue.toJSON().nextSeq).to.equal(3);
      });
    }

    it('rejects a batch that is not an array', () => {
      const { queue } = setup();
      expectRefused(
        queue.toJSON,
        () => queue.addMany({} as unknown as TaskSpec[]),
        'invalid-argument',
        'tasks',
      );
    });

    it('names the position of the bad task in the field', () => {
      const { queue } = setup();
      const error = expectBatonError(
        () => queue.addMany([{ id: 'a' }, { id: 'b' }, { id: 'c', priority: Number.NaN }]),
        'invalid-argument',
      );
      expect(error.field).to.equal('tasks[2].priority');
    });
  });

  describe('cycle detection', () => {
    it('reports the exact path of a two-task cycle', () => {
      const { queue } = setup();
      const error = expectBatonError(
        () =>
          queue.addMany([
            { id: 'a', deps: ['b'] },
            { id: 'b', deps: ['a'] },
          ]),
        'invalid-argument',
        'cycle',
      );
      expect(error.data).to.deep.equal({ cycle: ['a', 'b', 'a'] });
    });

    it('reports a cycle in run order, starting from its first task in the batch', () => {
      const { queue } = setup();
      // b needs a, c needs b, a needs c: a → b → c → a.
      const error = expectBatonError(
        () =>
          queue.addMany([
            { id: 'a', deps: ['c'] },
            { id: 'b', deps: ['a'] },
            { id: 'c', deps: ['b'] },
          ]),
        'invalid-argument',
        'a → b → c → a',
      );
      expect(error.data).to.deep.equal({ cycle: ['a', 'b', 'c', 'a'] });
    });

    it('reports only the cycle, not the tasks that lead into it', () => {
      const { queue } = setup();
      const error = expectBatonError(
        () =>
          queue.addMany([
            { id: 'top', deps: ['x'] },
            { id: 'x', deps: ['y'] },
            { id: 'y', deps: ['x'] },
            { id: 'free' },
          ]),
        'invalid-argument',
      );
      expect(error.data).to.deep.equal({ cycle: ['x', 'y', 'x'] });
    });

    it('finds a cycle through tasks that also depend on existing ones', () => {
      const { queue } = setup();
      queue.add({ id: 'base' });
      expectRefused(
        queue.toJSON,
        () =>
          queue.addMany([
            { id: 'p', deps: ['base', 'q'] },
            { id: 'q', deps: ['base', 'p'] },
          ]),
        'invalid-argument',
        'cycle',
      );
    });
  });

  describe('remove (delete a settled task)', () => {
    it('deletes a settled task from every index and returns its last snapshot', () => {
      const clock = createManualClock(1000);
      const changed: string[] = [];
      const queue = createTaskQueue({ now: clock.now, onChange: (id) => changed.push(id) });
      queue.addMany([{ id: 'a', priority: 2, category: 'llm' }, { id: 'b' }]);
      run(queue, 'a', 'w1', { ok: true });
      changed.length = 0;
      const removed = queue.remove('a');
      expect(removed).to.include({ id: 'a', priority: 2, status: 'complete', workerId: 'w1' });
      expect(removed.result).to.deep.equal({ ok: true });
      expect(changed, 'the store is told, to delete its row').to.deep.equal(['a']);
      expect(queue.get('a')).to.equal(undefined);
      expect(queue.peek('a')).to.equal(undefined);
      expect(queue.has('a')).to.equal(false);
      expect(queue.size).to.equal(1);
      expect(ids(queue.getAll())).to.deep.equal(['b']);
      expect(queue.toJSON().tasks.map((t) => t.id)).to.deep.equal(['b']);
      expect(queue.rowOf('a')).to.equal(undefined);
      expect(queue.getProgress()).to.include({ total: 1, complete: 0, pending: 1, percent: 0 });
      expect(queue.getDependencyGraph().nodes.map((n) => n.id)).to.deep.equal(['b']);
    });

    it('refuses a pending, assigned or running task, naming it and its status, and changes nothing', () => {
      const { queue } = setup();
      queue.addMany([{ id: 'p' }, { id: 'a' }, { id: 'r' }]);
      queue.assign('a', 'w1');
      const { attempt } = queue.assign('r', 'w2');
      queue.start('r', { workerId: 'w2', attempt });
      for (const [id, status] of [
        ['p', 'pending'],
        ['a', 'assigned'],
        ['r', 'running'],
      ] as const) {
        const error = expectRefused(queue.toJSON, () => queue.remove(id), 'failed-precondition', id, status);
        expect(error.taskId).to.equal(id);
        expect(error.message).to.include('cancel it first');
      }
      expect(queue.countByWorker('w2')).to.equal(1);
    });

    it('refuses a task that any task depends on, settled or not, naming each with its status', () => {
      const { queue } = setup();
      queue.addMany([{ id: 'a' }, { id: 'b', deps: ['a'] }, { id: 'c', deps: ['a'] }]);
      run(queue, 'a');
      run(queue, 'b');
      const error = expectRefused(
        queue.toJSON,
        () => queue.remove('a'),
        'failed-precondition',
        'a',
        'b (complete)',
        'c (pending)',
      );
      expect(error.data).to.deep.equal({ dependents: ['b', 'c'] });
    });

    it('allows deleting a dep once its dependents are gone, and a retry after a delete still works', () => {
      const { queue } = setup();
      queue.addMany([{ id: 'a' }, { id: 'b', deps: ['a'] }, { id: 'c', deps: ['a'] }]);
      failTask(queue, 'a');
      expect(statusOf(queue, 'b')).to.equal('cancelled');
      queue.remove('b');
      // a's dependents no longer hold b: its retry brings back c alone.
      expect(queue.retry('a').sort()).to.deep.equal(['a', 'c']);
      run(queue, 'a');
      run(queue, 'c');
      queue.remove('c');
      queue.remove('a');
      expect(queue.size).to.equal(0);
      expect(queue.getProgress()).to.include({ total: 0, complete: 0 });
    });

    it('refuses an unknown task with not-found', () => {
      const { queue } = setup();
      const error = expectBatonError(() => queue.remove('nope'), 'not-found', 'nope');
      expect(error.taskId).to.equal('nope');
    });

    it('lets the id be used again, with nothing of the old task left', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      queue.cancel('a');
      queue.remove('a');
      const again = queue.add({ id: 'a', priority: 1 });
      expect(again).to.include({ priority: 1, status: 'pending', attempt: 0, cancelledBy: null });
      expect(ids(queue.getReady())).to.deep.equal(['a']);
    });

    it('refuses a new task that names a deleted one as a dep', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      run(queue, 'a');
      queue.remove('a');
      expectRefused(
        queue.toJSON,
        () => queue.add({ id: 'b', deps: ['a'] }),
        'invalid-argument',
        'unknown',
        'a',
      );
    });
  });

  describe('purge', () => {
    /** a finishes at 1001, b at 1002, c at 1003 (a → b → c), d at 1004 (alone), e stays pending. */
    const settledChain = (): Setup => {
      const s = setup();
      s.queue.addMany([
        { id: 'a' },
        { id: 'b', deps: ['a'] },
        { id: 'c', deps: ['b'] },
        { id: 'd' },
        { id: 'e' },
      ]);
      for (const id of ['a', 'b', 'c']) {
        s.clock.advance(1);
        run(s.queue, id);
      }
      s.clock.advance(1);
      failTask(s.queue, 'd');
      return s;
    };

    it('deletes the settled tasks that finished before the cutoff, not at it, nor anything unsettled', () => {
      const { queue } = settledChain();
      expect(queue.purge({ finishedBefore: 1004 })).to.deep.equal({ purged: 3, kept: 0 });
      expect(ids(queue.getAll())).to.deep.equal(['d', 'e']);
      expect(queue.purge({ finishedBefore: 1e15 })).to.deep.equal({ purged: 1, kept: 0 });
      expect(ids(queue.getAll())).to.deep.equal(['e']);
      expect(queue.getProgress()).to.include({ total: 1, pending: 1, complete: 0, failed: 0 });
    });

    it('keeps a matched task that a task staying behind depends on, directly or through others', () => {
      const { queue } = settledChain();
      // a and b match; c (finished at 1003) stays, so b stays, so a stays.
      expect(queue.purge({ finishedBefore: 1003 })).to.deep.equal({ purged: 0, kept: 2 });
      expect(ids(queue.getAll())).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
      // A pending dependent keeps its complete dep, and that one's deps.
      queue.add({ id: 'f', deps: ['c'] });
      expect(queue.purge({ finishedBefore: 1e15 })).to.deep.equal({ purged: 1, kept: 3 });
      expect(ids(queue.getAll())).to.deep.equal(['a', 'b', 'c', 'e', 'f']);
    });

    it('deletes only the statuses asked for', () => {
      const { queue } = settledChain();
      expect(queue.purge({ finishedBefore: 1e15, status: ['failed'] })).to.deep.equal({ purged: 1, kept: 0 });
      expect(ids(queue.getAll())).to.deep.equal(['a', 'b', 'c', 'e']);
    });

    it('refuses a cutoff that is not a time, or a status that is not settled, naming the field, changing nothing', () => {
      const { queue } = settledChain();
      const bad = [
        [{ finishedBefore: Number.NaN }, 'finishedBefore'],
        [{ finishedBefore: '1000' as unknown as number }, 'finishedBefore'],
        [{ finishedBefore: 1e15, status: ['running' as 'failed'] }, 'status'],
      ] as const;
      for (const [filter, field] of bad) {
        const error = expectRefused(queue.toJSON, () => queue.purge(filter), 'invalid-argument', field);
        expect(error.field).to.equal(field);
      }
    });

    it('leaves a graph that restores whole and keeps running', () => {
      const { queue } = settledChain();
      queue.add({ id: 'f', deps: ['c'] });
      queue.purge({ finishedBefore: 1e15 });
      const restored = createTaskQueue({ now: () => 2000 });
      restored.fromJSON(queue.toJSON());
      expect(ids(restored.getAll())).to.deep.equal(['a', 'b', 'c', 'e', 'f']);
      expect(ids(restored.getReady()).sort()).to.deep.equal(['e', 'f']);
    });
  });

  describe('get and getAll', () => {
    it('returns undefined for an unknown task', () => {
      const { queue } = setup();
      expect(queue.get('nope')).to.equal(undefined);
    });

    it('returns copies: changing a returned task does not change the queue', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      const snapshot = queue.get('a') as TaskSnapshot & { status: string; priority: number };
      snapshot.status = 'complete';
      snapshot.priority = 99;
      const [fromAll] = queue.getAll() as (TaskSnapshot & { status: string })[];
      (fromAll as { status: string }).status = 'failed';
      expect(queue.get('a')).to.include({ status: 'pending', priority: 0 });
      expect(ids(queue.getReady())).to.deep.equal(['a']);
    });

    it('freezes deps and metadata, to any depth, so writes throw', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      queue.add({ id: 'b', deps: ['a'], metadata: { nested: { k: 1 }, list: [1] } });
      for (const task of [queue.get('b') as TaskSnapshot, ...queue.getAll()]) {
        expect(() => (task.deps as string[]).push('x')).to.throw(TypeError);
        expect(Object.isFrozen(task.deps)).to.equal(true);
        expect(() => {
          (task.metadata as Record<string, unknown>).added = 1;
        }).to.throw(TypeError);
      }
      const metadata = (queue.get('b') as TaskSnapshot).metadata as { nested: { k: number }; list: number[] };
      expect(() => {
        metadata.nested.k = 2;
      }).to.throw(TypeError);
      expect(() => metadata.list.push(2)).to.throw(TypeError);
      expect(queue.get('b')?.deps).to.deep.equal(['a']);
      expect(queue.get('b')?.metadata).to.deep.equal({ nested: { k: 1 }, list: [1] });
      expect(Object.isFrozen(queue.get('a')?.metadata)).to.equal(true);
    });

    it('freezes results', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      const input = { files: ['x.ts'] };
      run(queue, 'a', 'w1', input);
      input.files.push('y.ts');
      const result = queue.get('a')?.result as { files: string[] };
      expect(result).to.deep.equal({ files: ['x.ts'] });
      expect(() => result.files.push('z.ts')).to.throw(TypeError);
    });

    it('returns every task in insertion order, or those of one status', () => {
      const { queue } = setup();
      queue.addMany([{ id: 'a' }, { id: 'b' }, { id: 'c', deps: ['a'] }]);
      queue.assign('b', 'w1');
      expect(ids(queue.getAll())).to.deep.equal(['a', 'b', 'c']);
      expect(ids(queue.getAll({ status: 'pending' }))).to.deep.equal(['a', 'c']);
      expect(ids(queue.getAll({ status: 'assigned' }))).to.deep.equal(['b']);
      expect(queue.getAll({ status: 'complete' })).to.deep.equal([]);
    });
  });

  describe('status transitions', () => {
    it('moves a task through assigned, running and complete, recording worker, attempt and times', () => {
      const { queue, clock } = setup();
      queue.add({ id: 'a' });
      clock.advance(10);
      const assigned = queue.assign('a', 'w1');
      expect(assigned).to.include({
        status: 'assigned',
        workerId: 'w1',
        attempt: 1,
        assignedAt: 1010,
        updatedAt: 1010,
      });
      clock.advance(10);
      const running = queue.start('a', { workerId: 'w1', attempt: 1 });
      expect(running).to.include({ status: 'running', startedAt: 1020, updatedAt: 1020 });
      clock.advance(10);
      const done = queue.complete('a', { ok: true }, { workerId: 'w1', attempt: 1 });
      expect(done).to.include({ status: 'complete', finishedAt: 1030, updatedAt: 1030, workerId: 'w1' });
      expect(done.result).to.deep.equal({ ok: true });
      expect(queue.getByWorker('w1')).to.deep.equal([]);
    });

    it('completes with a null result when none is given', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      expect(run(queue, 'a').result).to.equal(null);
    });

    it('allows completing an assigned task that never reported starting', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      queue.assign('a', 'w1');
      expect(queue.complete('a', 1, { workerId: 'w1', attempt: 1 }).status).to.equal('complete');
    });

    it('treats a repeated start by the holder as a no-op', () => {
      const { queue, clock } = setup();
      queue.add({ id: 'a' });
      queue.assign('a', 'w1');
      queue.start('a', { workerId: 'w1', attempt: 1 });
      clock.advance(5);
      expect(queue.start('a', { workerId: 'w1', attempt: 1 })).to.include({
        status: 'running',
        startedAt: 1000,
      });
    });

    it('fails a task for good with its error, and frees the worker', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      queue.assign('a', 'w1');
      const outcome = queue.fail('a', 'compile error', { workerId: 'w1', attempt: 1 });
      expect(outcome.requeued).to.equal(false);
      expect(outcome.task).to.include({ status: 'failed', error: 'compile error' });
      expect(queue.countByWorker('w1')).to.equal(0);
    });

    it('makes a dependent ready only once all of its deps are complete', () => {
      const { queue } = setup();
      queue.addMany([{ id: 'a' }, { id: 'b' }, { id: 'c', deps: ['a', 'b'] }]);
      run(queue, 'a');
      expect(ids(queue.getReady())).to.deep.equal(['b']);
      run(queue, 'b');
      expect(ids(queue.getReady())).to.deep.equal(['c']);
    });

    it('refuses to assign a task whose deps are not complete, naming it, and changes nothing', () => {
      const { queue } = setup();
      queue.addMany([{ id: 'a' }, { id: 'b', deps: ['a'] }]);
      expectRefused(queue.toJSON, () => queue.assign('b', 'w1'), 'failed-precondition', 'b');
    });

    it('refuses to assign a task that is not pending', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      queue.assign('a', 'w1');
      expectRefused(queue.toJSON, () => queue.assign('a', 'w2'), 'failed-precondition', 'a', 'assigned');
      queue.add({ id: 'b' });
      run(queue, 'b');
      expectRefused(queue.toJSON, () => queue.assign('b', 'w2'), 'failed-precondition', 'b', 'complete');
    });

    it('refuses an empty worker id', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      expectRefused(queue.toJSON, () => queue.assign('a', ''), 'invalid-argument', 'workerId');
    });

    it('refuses to start, complete, fail or requeue a task nobody holds', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      expectRefused(queue.toJSON, () => queue.start('a'), 'failed-precondition', 'a', 'pending');
      expectRefused(queue.toJSON, () => queue.complete('a'), 'failed-precondition', 'a');
      expectRefused(queue.toJSON, () => queue.fail('a', 'x'), 'failed-precondition', 'a');
      expectRefused(queue.toJSON, () => queue.requeue('a', 'x'), 'failed-precondition', 'a');
      run(queue, 'a');
      expectRefused(queue.toJSON, () => queue.complete('a', 2), 'failed-precondition', 'a', 'complete');
    });

    it('refuses a result that is not JSON, naming the field, and changes nothing', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      queue.assign('a', 'w1');
      expectRefused(
        queue.toJSON,
        () => queue.complete('a', { n: Number.POSITIVE_INFINITY }, { workerId: 'w1', attempt: 1 }),
        'invalid-argument',
        'result.n',
      );
      expectRefused(
        queue.toJSON,
        () => queue.fail('a', 42 as unknown as string, { workerId: 'w1', attempt: 1 }),
        'invalid-argument',
        'error',
      );
    });

    it('refuses every operation on an unknown task with not-found naming it', () => {
      const { queue } = setup();
      const fence = { workerId: 'w1', attempt: 1 };
      const calls: (() => unknown)[] = [
        () => queue.assign('ghost', 'w1'),
        () => queue.start('ghost', fence),
        () => queue.complete('ghost', null, fence),
        () => queue.fail('ghost', 'x', fence),
        () => queue.requeue('ghost', 'x', fence),
        () => queue.cancel('ghost'),
        () => queue.retry('ghost'),
        () => queue.remove('ghost'),
      ];
      for (const call of calls) expect(expectBatonError(call, 'not-found', 'ghost').taskId).to.equal('ghost');
    });
  });

  describe('fencing', () => {
    const held = (): Setup => {
      const s = setup();
      s.queue.add({ id: 'a' });
      s.queue.assign('a', 'w1');
      return s;
    };

    it('accepts reports naming the current attempt of the current holder', () => {
      const { queue } = held();
      expect(queue.start('a', { workerId: 'w1', attempt: 1 }).status).to.equal('running');
      expect(queue.complete('a', 'ok', { workerId: 'w1', attempt: 1 }).status).to.equal('complete');
    });

    it('rejects a report for an old attempt with aborted, naming the task and attempts, and changes nothing', () => {
      const { queue } = held();
      queue.requeue('a', 'lease expired', { workerId: 'w1', attempt: 1 });
      queue.assign('a', 'w2');
      for (const report of [
        () => queue.start('a', { workerId: 'w1', attempt: 1 }),
        () => queue.complete('a', 'late', { workerId: 'w1', attempt: 1 }),
        () => queue.fail('a', 'late', { workerId: 'w1', attempt: 1 }),
        () => queue.requeue('a', 'late', { workerId: 'w1', attempt: 1 }),
      ]) {
        const error = expectRefused(queue.toJSON, report, 'aborted', 'a', 'attempt 1', 'attempt 2');
        expect(error.taskId).to.equal('a');
        expect(error.field).to.equal('attempt');
      }
      expect(queue.get('a')).to.include({ status: 'assigned', workerId: 'w2', attempt: 2 });
    });

    it('rejects a report from a worker that does not hold the task as not its to make', () => {
      const { queue } = held();
      expectRefused(
        queue.toJSON,
        () => queue.complete('a', 1, { workerId: 'w2', attempt: 1 }),
        'permission-denied',
        'w2',
        'held by another worker',
      );
    });

    it('rejects a report whose lease lapsed, even before the task is assigned again', () => {
      const { queue } = held();
      queue.requeue('a', 'lease expired', { workerId: 'w1', attempt: 1 });
      expectRefused(
        queue.toJSON,
        () => queue.complete('a', 1, { workerId: 'w1', attempt: 1 }),
        'aborted',
        'pending',
      );
    });

    it('rejects a report for a task cancelled meanwhile', () => {
      const { queue } = held();
      queue.cancel('a');
      expectRefused(
        queue.toJSON,
        () => queue.complete('a', 1, { workerId: 'w1', attempt: 1 }),
        'aborted',
        'cancelled',
      );
    });

    it('rejects a second completion by the same attempt', () => {
      const { queue } = held();
      queue.complete('a', 1, { workerId: 'w1', attempt: 1 });
      expectRefused(
        queue.toJSON,
        () => queue.complete('a', 2, { workerId: 'w1', attempt: 1 }),
        'aborted',
        'complete',
      );
    });
  });

  describe('requeue and maxAttempts', () => {
    it('returns a lapsed task to pending and ready, keeping the reason, freeing the worker', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      queue.assign('a', 'w1');
      const outcome = queue.requeue('a', 'lease expired', { workerId: 'w1', attempt: 1 });
      expect(outcome.requeued).to.equal(true);
      expect(outcome.cancelled).to.deep.equal([]);
      expect(outcome.task).to.include({ status: 'pending', error: 'lease expired', attempt: 1 });
      expect(ids(queue.getReady())).to.deep.equal(['a']);
      expect(queue.countByWorker('w1')).to.equal(0);
    });

    it('requeues a retryable failure while attempts remain', () => {
      const { queue } = setup();
      queue.add({ id: 'a', maxAttempts: 2 });
      queue.assign('a', 'w1');
      const outcome = queue.fail('a', 'flaky', { workerId: 'w1', attempt: 1 }, { retryable: true });
      expect(outcome.requeued).to.equal(true);
      expect(outcome.task.status).to.equal('pending');
    });

    it('fails a task for good once maxAttempts assignments were used, cascading to its dependents', () => {
      const { queue } = setup();
      queue.addMany([
        { id: 'a', maxAttempts: 2 },
        { id: 'b', deps: ['a'] },
      ]);
      queue.assign('a', 'w1');
      expect(queue.requeue('a', 'lapsed', { workerId: 'w1', attempt: 1 }).requeued).to.equal(true);
      queue.assign('a', 'w2');
      const outcome = queue.fail('a', 'flaky', { workerId: 'w2', attempt: 2 }, { retryable: true });
      expect(outcome.requeued).to.equal(false);
      expect(outcome.task).to.include({ status: 'failed', error: 'flaky', attempt: 2 });
      expect(outcome.cancelled).to.deep.equal(['b']);
      expect(queue.get('b')).to.include({ status: 'cancelled', cancelledBy: 'a' });
    });

    it('fails a non-retryable failure at once, whatever attempts remain', () => {
      const { queue } = setup();
      queue.add({ id: 'a', maxAttempts: 5 });
      queue.assign('a', 'w1');
      expect(queue.fail('a', 'bad input', { workerId: 'w1', attempt: 1 }).requeued).to.equal(false);
    });

    it('gives a retried task a fresh attempt budget, keeping attempts counting up', () => {
      const { queue } = setup();
      queue.add({ id: 'a', maxAttempts: 1 });
      queue.assign('a', 'w1');
      expect(queue.requeue('a', 'lapsed', { workerId: 'w1', attempt: 1 }).requeued).to.equal(false);
      queue.retry('a');
      expect(queue.assign('a', 'w1').attempt).to.equal(2);
      expect(queue.requeue('a', 'lapsed', { workerId: 'w1', attempt: 2 }).requeued).to.equal(false);
    });
  });

  describe('cancel', () => {
    it('cancels a pending task and returns its id', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      expect(queue.cancel('a')).to.deep.equal(['a']);
      expect(queue.get('a')).to.include({ status: 'cancelled', cancelledBy: null, finishedAt: 1000 });
      expect(queue.getReady()).to.deep.equal([]);
    });

    it('cascades to every non-terminal transitive dependent, marking the root as the cause', () => {
      const { queue } = setup();
      queue.addMany([
        { id: 'a' },
        { id: 'b', deps: ['a'] },
        { id: 'c', deps: ['a'] },
        { id: 'd', deps: ['b', 'c'] },
        { id: 'e', deps: ['d'] },
        { id: 'other' },
      ]);
      expect(queue.cancel('a').sort()).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
      for (const id of ['b', 'c', 'd', 'e'])
        expect(queue.get(id)).to.include({ status: 'cancelled', cancelledBy: 'a' });
      expect(statusOf(queue, 'other')).to.equal('pending');
    });

    it('cancels dependents of a failed task, and the failed root stays failed', () => {
      const { queue } = setup();
      queue.addMany([{ id: 'a' }, { id: 'b', deps: ['a'] }, { id: 'c', deps: ['b'] }]);
      failTask(queue, 'a');
      expect(queue.get('b')).to.include({ status: 'cancelled', cancelledBy: 'a' });
      expect(queue.cancel('a')).to.deep.equal([]);
      expect(statusOf(queue, 'a')).to.equal('failed');
      expect(queue.get('c')).to.include({ status: 'cancelled', cancelledBy: 'a' });
    });

    it('cancels a held task and frees its worker', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      queue.assign('a', 'w1');
      queue.start('a', { workerId: 'w1', attempt: 1 });
      expect(queue.cancel('a')).to.deep.equal(['a']);
      expect(queue.getByWorker('w1')).to.deep.equal([]);
      expect(queue.getProgress()).to.include({ running: 0, cancelled: 1 });
    });

    it('leaves tasks that are already cancelled alone, keeping their cause', () => {
      const { queue } = setup();
      queue.addMany([{ id: 'a' }, { id: 'b', deps: ['a'] }, { id: 'c', deps: ['b'] }]);
      queue.cancel('b');
      expect(queue.cancel('a')).to.deep.equal(['a']);
      expect(queue.get('b')).to.include({ cancelledBy: null });
      expect(queue.get('c')).to.include({ cancelledBy: 'b' });
      expect(queue.cancel('a')).to.deep.equal([]);
    });

    it('refuses to cancel a complete task and changes nothing', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      run(queue, 'a');
      expectRefused(queue.toJSON, () => queue.cancel('a'), 'failed-precondition', 'a', 'complete');
    });

    it('adds new dependents of a failed task as cancelled, in its cascade, and retrying the root restores them', () => {
      const { queue } = setup();
      queue.addMany([{ id: 'a' }, { id: 'b', deps: ['a'] }]);
      failTask(queue, 'a');
      const [c, d] = queue.addMany([
        { id: 'c', deps: ['a'] },
        { id: 'd', deps: ['b'] },
      ]) as [TaskSnapshot, TaskSnapshot];
      expect(c).to.include({ status: 'cancelled', cancelledBy: 'a' });
      expect(d).to.include({ status: 'cancelled', cancelledBy: 'a' });
      expect(queue.getReady()).to.deep.equal([]);
      expect(queue.retry('a').sort()).to.deep.equal(['a', 'b', 'c', 'd']);
      for (const id of ['a', 'b', 'c', 'd']) expect(statusOf(queue, id)).to.equal('pending');
      expect(ids(queue.getReady())).to.deep.equal(['a']);
    });

    it('adds new dependents of a cancelled task as cancelled, in its cascade', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      queue.cancel('a');
      expect(queue.add({ id: 'b', deps: ['a'] })).to.include({ status: 'cancelled', cancelledBy: 'a' });
      expect(queue.retry('a')).to.deep.equal(['a', 'b']);
    });
  });

  describe('retry', () => {
    it('returns a failed task to pending and ready, clearing its error', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      failTask(queue, 'a');
      expect(queue.retry('a')).to.deep.equal(['a']);
      expect(queue.get('a')).to.include({
        status: 'pending',
        error: null,
        finishedAt: null,
        cancelledBy: null,
      });
      expect(ids(queue.getReady())).to.deep.equal(['a']);
    });

    it('returns a cancelled task to pending', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      queue.cancel('a');
      expect(queue.retry('a')).to.deep.equal(['a']);
      expect(statusOf(queue, 'a')).to.equal('pending');
    });

    it('restores the dependents its cascade cancelled, and only those', () => {
      const { queue } = setup();
      queue.addMany([
        { id: 'a' },
        { id: 'b', deps: ['a'] },
        { id: 'c', deps: ['b'] },
        { id: 's' },
        { id: 't', deps: ['s'] },
      ]);
      queue.cancel('s');
      failTask(queue, 'a');
      expect(queue.retry('a').sort()).to.deep.equal(['a', 'b', 'c']);
      expect(statusOf(queue, 's')).to.equal('cancelled');
      expect(statusOf(queue, 't')).to.equal('cancelled');
    });

    it('does not restore a dependent still blocked by another failed or cancelled dep', () => {
      const { queue } = setup();
      queue.addMany([{ id: 'a' }, { id: 'x' }, { id: 'b', deps: ['a', 'x'] }, { id: 'c', deps: ['b'] }]);
      failTask(queue, 'a');
      queue.cancel('x');
      expect(queue.get('b')).to.include({ status: 'cancelled', cancelledBy: 'a' });
      expect(queue.retry('a')).to.deep.equal(['a']);
      expect(statusOf(queue, 'b')).to.equal('cancelled');
      expect(statusOf(queue, 'c')).to.equal('cancelled');
      // b and c now wait on x: retrying x brings them back.
      expect(queue.retry('x').sort()).to.deep.equal(['b', 'c', 'x']);
      expect(statusOf(queue, 'b')).to.equal('pending');
      expect(statusOf(queue, 'c')).to.equal('pending');
    });

    it('restores a dependent reached along two paths of the cascade once its deps are back', () => {
      const { queue } = setup();
      queue.addMany([
        { id: 'a' },
        { id: 'b1', deps: ['a'] },
        { id: 'b2', deps: ['a'] },
        { id: 'c', deps: ['b1', 'b2'] },
      ]);
      failTask(queue, 'a');
      expect(queue.retry('a').sort()).to.deep.equal(['a', 'b1', 'b2', 'c']);
    });

    it('refuses while a dep is failed or cancelled, naming the dep, and changes nothing', () => {
      const { queue } = setup();
      queue.addMany([{ id: 'a' }, { id: 'b', deps: ['a'] }]);
      failTask(queue, 'a');
      const error = expectRefused(queue.toJSON, () => queue.retry('b'), 'failed-precondition', 'b', 'a');
      expect(error.data).to.deep.equal({ blockedBy: ['a'] });
    });

    it('refuses a task that is pending, held or complete', () => {
      const { queue } = setup();
      queue.addMany([{ id: 'p' }, { id: 'h' }, { id: 'c' }]);
      queue.assign('h', 'w1');
      run(queue, 'c');
      for (const [id, status] of [
        ['p', 'pending'],
        ['h', 'assigned'],
        ['c', 'complete'],
      ] as const) {
        expectRefused(queue.toJSON, () => queue.retry(id), 'failed-precondition', id, status);
      }
    });

    it('lets a retried task with complete deps run again', () => {
      const { queue } = setup();
      queue.addMany([{ id: 'a' }, { id: 'b', deps: ['a'] }]);
      run(queue, 'a');
      failTask(queue, 'b');
      queue.retry('b');
      expect(ids(queue.getReady())).to.deep.equal(['b']);
      expect(run(queue, 'b').status).to.equal('complete');
    });
  });

  describe('getReady', () => {
    it('returns the highest priority first and the first added first within a priority', () => {
      const { queue } = setup();
      queue.addMany([
        { id: 'low', priority: -1 },
        { id: 'mid1', priority: 0 },
        { id: 'high1', priority: 10 },
        { id: 'mid2' },
        { id: 'high2', priority: 10 },
        { id: 'five', priority: 5 },
      ]);
      queue.add({ id: 'mid3' });
      expect(ids(queue.getReady())).to.deep.equal(['high1', 'high2', 'five', 'mid1', 'mid2', 'mid3', 'low']);
    });

    it('keeps FIFO order for a task that became ready late', () => {
      const { queue } = setup();
      queue.addMany([{ id: 'dep' }, { id: 'first', deps: ['dep'] }, { id: 'second' }]);
      run(queue, 'dep');
      expect(ids(queue.getReady())).to.deep.equal(['first', 'second']);
    });

    it('returns only pending tasks whose deps are all complete', () => {
      const { queue } = setup();
      queue.addMany([{ id: 'a' }, { id: 'b' }, { id: 'c', deps: ['a'] }, { id: 'd' }]);
      queue.assign('b', 'w1');
      queue.cancel('d');
      expect(ids(queue.getReady())).to.deep.equal(['a']);
      expect(queue.readyCount()).to.equal(1);
    });

    it('returns a prefix of that order when given a limit', () => {
      const { queue } = setup();
      queue.addMany([
        { id: 'a', priority: 1 },
        { id: 'b', priority: 3 },
        { id: 'c', priority: 2 },
      ]);
      expect(ids(queue.getReady(2))).to.deep.equal(['b', 'c']);
      expect(ids(queue.getReady(0))).to.deep.equal([]);
      expect(ids(queue.getReady(10))).to.deep.equal(['b', 'c', 'a']);
    });

    it('changes nothing: asking twice gives the same answer', () => {
      const { queue } = setup();
      queue.addMany([
        { id: 'a', priority: 1 },
        { id: 'b', priority: 1 },
        { id: 'c', priority: 2 },
      ]);
      const first = queue.getReady(2);
      expect(queue.getReady()).to.deep.equal(queue.getReady());
      expect(ids(queue.getReady(2))).to.deep.equal(ids(first));
      expect(queue.peekReady()).to.equal('c');
    });

    it('refuses a negative or fractional limit', () => {
      const { queue } = setup();
      expectBatonError(() => queue.getReady(-1), 'invalid-argument', 'limit');
      expectBatonError(() => queue.getReady(1.5), 'invalid-argument', 'limit');
    });

    it('answers per category: the best ready task among some categories, and the categories best first', () => {
      const { queue } = setup();
      queue.addMany([
        { id: 'a', category: 'x', priority: 1 },
        { id: 'b', category: 'y', priority: 2 },
        { id: 'c', category: 'x', priority: 3 },
        { id: 'd', category: 'z' },
      ]);
      expect(queue.peekReady(['x', 'z'])).to.equal('c');
      expect(queue.peekReady(['y', 'z'])).to.equal('b');
      expect(queue.peekReady(['nothing'])).to.equal(undefined);
      expect(queue.readyCategories()).to.deep.equal(['x', 'y', 'z']);
    });
  });

  describe('getByWorker', () => {
    it('lists the assigned and running tasks of a worker, and counts them', () => {
      const { queue } = setup();
      queue.addMany([{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'd' }]);
      queue.assign('a', 'w1');
      queue.assign('b', 'w1');
      queue.start('b', { workerId: 'w1', attempt: 1 });
      queue.assign('c', 'w2');
      run(queue, 'd', 'w1');
      expect(ids(queue.getByWorker('w1')).sort()).to.deep.equal(['a', 'b']);
      expect(queue.countByWorker('w1')).to.equal(2);
      expect(ids(queue.getByWorker('w2'))).to.deep.equal(['c']);
      expect(Array.from(queue.holders()).sort()).to.deep.equal(['w1', 'w2']);
    });

    it('returns nothing for a worker that holds nothing', () => {
      const { queue } = setup();
      expect(queue.getByWorker('nobody')).to.deep.equal([]);
      expect(queue.countByWorker('nobody')).to.equal(0);
    });

    it('drops tasks that complete, fail, requeue or are cancelled', () => {
      const { queue } = setup();
      queue.addMany([{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'd' }]);
      for (const id of ['a', 'b', 'c', 'd']) queue.assign(id, 'w1');
      queue.complete('a', null, { workerId: 'w1', attempt: 1 });
      queue.fail('b', 'x', { workerId: 'w1', attempt: 1 });
      queue.requeue('c', 'x', { workerId: 'w1', attempt: 1 });
      expect(ids(queue.getByWorker('w1'))).to.deep.equal(['d']);
      queue.cancel('d');
      expect(queue.countByWorker('w1')).to.equal(0);
      expect(Array.from(queue.holders())).to.deep.equal([]);
    });
  });

  describe('topologicalSort', () => {
    it('puts every task after all of its deps and contains every task once', () => {
      const { queue } = setup();
      queue.addMany([
        { id: 'd', deps: ['b', 'c'] },
        { id: 'c', deps: ['a'] },
        { id: 'b', deps: ['a'] },
        { id: 'a' },
        { id: 'e' },
      ]);
      const order = queue.topologicalSort();
      expect([...order].sort()).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
      const at = (id: string) => order.indexOf(id);
      for (const task of queue.getAll())
        for (const dep of task.deps) expect(at(dep)).to.be.lessThan(at(task.id));
    });

    it('keeps insertion order among independent tasks', () => {
      const { queue } = setup();
      queue.addMany([{ id: 'x' }, { id: 'y' }, { id: 'z' }]);
      expect(queue.topologicalSort()).to.deep.equal(['x', 'y', 'z']);
    });

    it('returns nothing for an empty queue', () => {
      expect(setup().queue.topologicalSort()).to.deep.equal([]);
    });
  });

  describe('getLevels', () => {
    it('groups tasks by the length of their longest dep chain', () => {
      const { queue } = setup();
      queue.addMany([
        { id: 'a' },
        { id: 'b' },
        { id: 'c', deps: ['a'] },
        { id: 'd', deps: ['a', 'c'] },
        { id: 'e', deps: ['b'] },
      ]);
      expect(queue.getLevels()).to.deep.equal([['a', 'b'], ['c', 'e'], ['d']]);
    });

    it('returns no levels for an empty queue', () => {
      expect(setup().queue.getLevels()).to.deep.equal([]);
    });
  });

  describe('validate', () => {
    it('finds the current graph valid', () => {
      const { queue } = setup();
      queue.addMany([{ id: 'a' }, { id: 'b', deps: ['a'] }]);
      expect(queue.validate()).to.deep.equal({ valid: true, errors: [] });
    });

    it('checks a proposed batch against the queue without applying it', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      const before = queue.toJSON();
      expect(
        queue.validate([
          { id: 'c', deps: ['b'] },
          { id: 'b', deps: ['a'] },
        ]),
      ).to.deep.equal({
        valid: true,
        errors: [],
      });
      expect(queue.toJSON()).to.deep.equal(before);
    });

    it('lists the unknown deps of a proposed batch', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      const result = queue.validate([{ id: 'b', deps: ['a', 'x', 'y'] }]);
      expect(result.valid).to.equal(false);
      expect(result.errors).to.have.length(1);
      expect(result.errors[0]).to.deep.include({ unknownDeps: ['x', 'y'] });
      expect(result.errors[0]?.message).to.include('b');
      expect(queue.has('b')).to.equal(false);
    });

    it('reports the exact cycle path of a proposed batch', () => {
      const { queue } = setup();
      const result = queue.validate([
        { id: 'a', deps: ['c'] },
        { id: 'b', deps: ['a'] },
        { id: 'c', deps: ['b'] },
      ]);
      expect(result.valid).to.equal(false);
      expect(result.errors[0]).to.deep.include({ cycle: ['a', 'b', 'c', 'a'] });
      expect(queue.size).to.equal(0);
    });

    it('lists every problem of a proposed batch: bad fields, duplicates, each unknown dep and the cycle', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      const result = queue.validate([
        { id: 'v1', deps: ['v3'] },
        { id: 'v2', deps: ['v1'] },
        { id: 'v3', deps: ['v2'] },
        { id: 'v4', deps: ['nope'] },
        { id: 'v5', deps: ['a', 'nope2'] },
        { id: 'a' },
        { id: 'v6', priority: Number.POSITIVE_INFINITY },
      ]);
      expect(result.valid).to.equal(false);
      expect(result.errors.map((e) => e.field)).to.deep.equal([
        'tasks[6].priority',
        'tasks[5].id',
        'tasks[3].deps',
        'tasks[4].deps',
        'deps',
      ]);
      expect(result.errors[2]).to.deep.include({ taskId: 'v4', unknownDeps: ['nope'] });
      expect(result.errors[3]).to.deep.include({ taskId: 'v5', unknownDeps: ['nope2'] });
      expect(result.errors[4]).to.deep.include({ cycle: ['v1', 'v2', 'v3', 'v1'] });
      expect(queue.size).to.equal(1);
    });

    it('reports a duplicate id and a bad field of a proposed batch', () => {
      const { queue } = setup();
      queue.add({ id: 'a' });
      expect(queue.validate([{ id: 'a' }]).errors[0]?.message).to.include('a already exists');
      expect(queue.validate([{ id: 'b', priority: Number.NaN }]).errors[0]?.message).to.include('priority');
    });
  });

  describe('getDependencyGraph', () => {
    it('lists every task as a node and every dep as an edge from dep to dependent', () => {
      const { queue } = setup();
      queue.addMany([
        { id: 'a', priority: 2, category: 'x' },
        { id: 'b', deps: ['a'] },
        { id: 'c', deps: ['a', 'b'] },
      ]);
      queue.assign('a', 'w1');
      expect(queue.getDependencyGraph()).to.deep.equal({
        nodes: [
          { id: 'a', status: 'assigned', priority: 2, category: 'x' },
          { id: 'b', status: 'pending', priority: 0, category: '' },
          { id: 'c', status: 'pending', priority: 0, category: '' },
        ],
        edges: [
          { from: 'a', to: 'b' },
          { from: 'a', to: 'c' },
          { from: 'b', to: 'c' },
        ],
      });
    });
  });

  describe('getProgress', () => {
    it('counts tasks by status, with the ready count and the share complete', () => {
      const { queue } = setup();
      queue.addMany([
        { id: 'a' },
        { id: 'b' },
        { id: 'c' },
        { id: 'd' },
        { id: 'e', deps: ['d'] },
        { id: 'f' },
        { id: 'g' },
      ]);
      run(queue, 'a');
      failTask(queue, 'd');
      queue.assign('b', 'w1');
      queue.assign('c', 'w1');
      queue.start('c', { workerId: 'w1', attempt: 1 });
      expect(queue.getProgress()).to.deep.equal({
        pending: 2,
        assigned: 1,
        running: 1,
        complete: 1,
        failed: 1,
        cancelled: 1,
        total: 7,
        ready: 2,
        percent: 14.29,
      });
    });

    it('reports zero percent for an empty queue', () => {
      expect(setup().queue.getProgress()).to.include({ total: 0, percent: 0 });
    });

    it('knows when every task has reached an end', () => {
      const { queue } = setup();
      expect(queue.allTerminal()).to.equal(false);
      queue.addMany([{ id: 'a' }, { id: 'b' }]);
      run(queue, 'a');
      expect(queue.allTerminal()).to.equal(false);
      queue.cancel('b');
      expect(queue.allTerminal()).to.equal(true);
    });
  });

  describe('toJSON and fromJSON', () => {
    it('restores an image that lists tasks out of order in the order they were added', () => {
      const { queue } = setup();
      queue.addMany([{ id: 'a' }, { id: 'b' }, { id: 'c', deps: ['a'] }]);
      const image = queue.toJSON();
      const restored = createTaskQueue({ now: () => 0 });
      restored.fromJSON({ ...image, tasks: [...image.tasks].reverse() });
      expect(Array.from(restored.iterate(), (t) => [t.id, t.seq])).to.deep.equal([
        ['a', 0],
        ['b', 1],
        ['c', 2],
      ]);
    });

    const busy = (): Setup => {
      const s = setup();
      const { queue, clock } = s;
      queue.addMany([
        { id: 'a', priority: 1, metadata: { k: [1, { x: 'y' }] } },
        { id: 'b', deps: ['a'], category: 'build' },
        { id: 'c', deps: ['b'], maxAttempts: 1 },
        { id: 'd' },
        { id: 'e', priority: 2 },
        { id: 'f' },
        { id: 'g', deps: ['f'] },
      ]);
      clock.advance(5);
      run(queue, 'a', 'w1', { out: 'ok' });
      queue.assign('b', 'w2');
      queue.start('b', { workerId: 'w2', attempt: 1 });
      queue.assign('d', 'w1');
      queue.requeue('d', 'lapsed', { workerId: 'w1', attempt: 1 });
      failTask(queue, 'f');
      return s;
    };

    it('round-trips exactly through a fresh queue', () => {
      const { queue } = busy();
      const image = queue.toJSON();
      const restored = setup().queue;
      restored.fromJSON(image);
      expect(restored.toJSON()).to.deep.equal(image);
      expect(restored.getReady()).to.deep.equal(queue.getReady());
      expect(restored.getProgress()).to.deep.equal(queue.getProgress());
      expect(restored.getByWorker('w2')).to.deep.equal(queue.getByWorker('w2'));
      expect(restored.getLevels()).to.deep.equal(queue.getLevels());
    });

    it('survives a trip through JSON text', () => {
      const { queue } = busy();
      const restored = setup().queue;
      restored.fromJSON(JSON.parse(JSON.stringify(queue.toJSON())) as TaskQueueJson);
      expect(restored.toJSON()).to.deep.equal(queue.toJSON());
    });

    it('keeps fencing, FIFO order and cascades working after a restore', () => {
      const { queue } = busy();
      const restored = setup().queue;
      restored.fromJSON(queue.toJSON());
      expectBatonError(() => restored.complete('b', 1, { workerId: 'w2', attempt: 2 }), 'aborted');
      restored.complete('b', 1, { workerId: 'w2', attempt: 1 });
      restored.add({ id: 'h' });
      expect(ids(restored.getReady())).to.deep.equal(['e', 'c', 'd', 'h']);
      expect(restored.retry('f')).to.deep.equal(['f', 'g']);
    });

    it('round-trips metadata and results with a __proto__ key', () => {
      const { queue } = setup();
      queue.add({ id: 'a', metadata: JSON.parse('{"__proto__": {"x": 1}}') as Record<string, unknown> });
      run(queue, 'a', 'w1', JSON.parse('{"__proto__": [1]}'));
      const restored = setup().queue;
      restored.fromJSON(queue.toJSON());
      expect(restored.toJSON()).to.deep.equal(queue.toJSON());
      expect(JSON.stringify(restored.get('a')?.metadata)).to.equal('{"__proto__":{"x":1}}');
      expect(JSON.stringify(restored.get('a')?.result)).to.equal('{"__proto__":[1]}');
    });

    it('replaces whatever the queue held before', () => {
      const { queue } = busy();
      const other = setup().queue;
      other.addMany([{ id: 'zzz' }, { id: 'a' }]);
      other.fromJSON(queue.toJSON());
      expect(other.has('zzz')).to.equal(false);
      expect(other.toJSON()).to.deep.equal(queue.toJSON());
    });

    type Mutable = { -readonly [K in keyof TaskQueueJson]: unknown } & { tasks: Record<string, unknown>[] };
    const corrupt = (image: TaskQueueJson, change: (json: Mutable) => void): TaskQueueJson => {
      const copy = JSON.parse(JSON.stringify(image)) as Mutable;
      change(copy);
      return copy as unknown as TaskQueueJson;
    };
    const taskAt = (json: Mutable, id: string): Record<string, unknown> =>
      json.tasks.find((t) => t.id === id) as Record<string, unknown>;

    const badImages: {
      name: string;
      change: (json: Mutable) => void;
      code: 'invalid-argument' | 'already-exists';
    }[] = [
      {
        name: 'a wrong version',
        change: (j) => {
          j.version = 2;
        },
        code: 'invalid-argument',
      },
      {
        name: 'no tasks array',
        change: (j) => {
          j.tasks = null as unknown as [];
        },
        code: 'invalid-argument',
      },
      {
        name: 'a bad nextSeq',
        change: (j) => {
          j.nextSeq = -1;
        },
        code: 'invalid-argument',
      },
      {
        name: 'a task twice',
        change: (j) => {
          j.tasks.push({ ...taskAt(j, 'a') });
        },
        code: 'already-exists',
      },
      {
        name: 'an unknown dep',
        change: (j) => {
          taskAt(j, 'd').deps = ['ghost'];
        },
        code: 'invalid-argument',
      },
      {
        name: 'a cycle',
        change: (j) => {
          taskAt(j, 'd').deps = ['e'];
          taskAt(j, 'e').deps = ['d'];
        },
        code: 'invalid-argument',
      },
      {
        name: 'an unknown status',
        change: (j) => {
          taskAt(j, 'd').status = 'sleeping';
        },
        code: 'invalid-argument',
      },
      {
        name: 'a seq at or above nextSeq',
        change: (j) => {
          taskAt(j, 'd').seq = j.nextSeq;
        },
        code: 'invalid-argument',
      },
      {
        name: 'two tasks with one seq',
        change: (j) => {
          taskAt(j, 'd').seq = taskAt(j, 'e').seq;
        },
        code: 'invalid-argument',
      },
      {
        name: 'attemptFloor above attempt',
        change: (j) => {
          taskAt(j, 'd').attemptFloor = 5;
        },
        code: 'invalid-argument',
      },
      {
        name: 'a running task without a worker',
        change: (j) => {
          taskAt(j, 'b').workerId = null;
        },
        code: 'invalid-argument',
      },
      {
        name: 'an error that is not a string',
        change: (j) => {
          taskAt(j, 'f').error = { message: 'boom' };
        },
        code: 'invalid-argument',
      },
      {
        name: 'a bad time',
        change: (j) => {
          taskAt(j, 'd').createdAt = 'yesterday';
        },
        code: 'invalid-argument',
      },
      {
        name: 'a bad priority',
        change: (j) => {
          taskAt(j, 'd').priority = 'high';
        },
        code: 'invalid-argument',
      },
      {
        name: 'a complete task whose dep is not complete',
        change: (j) => {
          taskAt(j, 'c').status = 'complete';
        },
        code: 'invalid-argument',
      },
      {
        name: 'a pending task whose dep failed',
        change: (j) => {
          taskAt(j, 'g').status = 'pending';
        },
        code: 'invalid-argument',
      },
    ];
    for (const { name, change, code } of badImages) {
      it(`rejects an image with ${name} and leaves the queue as it was`, () => {
        const { queue } = busy();
        const target = setup().queue;
        target.addMany([{ id: 'keep' }, { id: 'me', deps: ['keep'] }]);
        expectRefused(target.toJSON, () => target.fromJSON(corrupt(queue.toJSON(), change)), code);
        expect(ids(target.getReady())).to.deep.equal(['keep']);
      });
    }

    it('rejects something that is not an image at all', () => {
      const { queue } = setup();
      for (const bad of [null, 42, 'queue', []]) {
        expectRefused(
          queue.toJSON,
          () => queue.fromJSON(bad as unknown as TaskQueueJson),
          'invalid-argument',
        );
      }
    });
  });

  describe('clear', () => {
    it('removes every task and every index, and restarts the insertion order', () => {
      const { queue } = setup();
      queue.addMany([{ id: 'a' }, { id: 'b', deps: ['a'] }, { id: 'c' }]);
      queue.assign('c', 'w1');
      queue.clear();
      expect(queue.size).to.equal(0);
      expect(queue.getAll()).to.deep.equal([]);
      expect(queue.getReady()).to.deep.equal([]);
      expect(queue.getByWorker('w1')).to.deep.equal([]);
      expect(queue.getProgress()).to.deep.include({ total: 0, pending: 0, assigned: 0, ready: 0 });
      expect(queue.toJSON()).to.deep.equal({ version: 1, nextSeq: 0, tasks: [] });
      queue.add({ id: 'a' });
      expect(ids(queue.getReady())).to.deep.equal(['a']);
    });
  });

  describe('onChange', () => {
    it('names every task that changed, including removed and cascaded ones', () => {
      const clock = createManualClock();
      const seen: string[] = [];
      const queue = createTaskQueue({ now: clock.now, onChange: (id) => seen.push(id) });
      queue.addMany([{ id: 'a' }, { id: 'b', deps: ['a'] }]);
      expect(seen.sort()).to.deep.equal(['a', 'b']);
      seen.length = 0;
      queue.cancel('a');
      expect(seen.sort()).to.deep.equal(['a', 'b']);
      seen.length = 0;
      queue.remove('b');
      expect(seen).to.deep.equal(['b']);
    });
  });
});
