import { expect } from 'chai';
import fc from 'fast-check';
import { createManualClock } from '../../src/core/clock.js';
import { globsOverlap } from '../../src/core/path-glob.js';
import { createPathLocks } from '../../src/core/path-locks.js';
import type { TaskSnapshot } from '../../src/core/task.js';
import { createTaskQueue, type TaskQueue } from '../../src/core/task-queue.js';
import { expectRefused } from './expect-baton-error.js';

/** Retries at once: the model below knows no backoff (test/core/not-before.property.test.ts does). */
const queue = (): TaskQueue =>
  createTaskQueue({ now: createManualClock(0).now, defaultRetryBackoff: { initialMs: 0, maxMs: 0 } });
const holding = (t: TaskSnapshot): boolean => t.status === 'assigned' || t.status === 'running';
const clash = (a: TaskSnapshot, b: TaskSnapshot): boolean =>
  a.paths.some((p) => b.paths.some((q) => globsOverlap(p, q)));

describe('PathLocks', () => {
  it('finds the holder of an overlapping glob above, at or below the wanted one', () => {
    const locks = createPathLocks();
    locks.acquire('t1', ['src/core']);
    locks.acquire('t2', ['docs/*.md']);
    expect(locks.conflict(['src/core/a.ts'])?.holder).to.equal('t1');
    expect(locks.conflict(['src'])?.holder).to.equal('t1');
    expect(locks.conflict(['docs/api.md'])?.holder).to.equal('t2');
    expect(locks.conflict(['docs/a.txt'])).to.equal(undefined);
    expect(locks.conflict(['src/core/a.ts'], 't1')).to.equal(undefined);
    locks.release('t1');
    expect(locks.conflict(['src'])).to.equal(undefined);
    expect(locks.size).to.equal(1);
  });
});

describe('TaskQueue with paths', () => {
  it('does not start a task whose paths overlap a running task, and says why', () => {
    const q = queue();
    q.addMany([
      { id: 'a', paths: ['src/core'], priority: 2 },
      { id: 'b', paths: ['src/core/task.ts'], priority: 1 },
      { id: 'c', paths: ['docs'] },
    ]);
    q.assign(q.peekReady() as string, 'w1');
    expect(q.peekReady()).to.equal('c');
    const b = q.get('b') as TaskSnapshot;
    expect(b.waitingFor).to.equal('path src/core/task.ts overlaps src/core, held by task a');
    expectRefused(
      () => q.toJSON(),
      () => q.assign('b', 'w2'),
      'failed-precondition',
      'held by task a',
    );
  });

  it('lets the waiting task run once the holder completes, fails, is cancelled or loses its lease', () => {
    const endings: ((q: TaskQueue, fence: { workerId: string; attempt: number }) => unknown)[] = [
      (q, fence) => q.complete('a', null, fence),
      (q, fence) => q.fail('a', 'boom', fence),
      (q) => q.cancel('a'),
      (q, fence) => q.requeue('a', 'lease lapsed', fence),
    ];
    for (const end of endings) {
      const q = queue();
      q.addMany([
        { id: 'a', paths: ['x/**'], priority: 1 },
        { id: 'b', paths: ['x/y'] },
      ]);
      const fence = { workerId: 'w1', attempt: q.assign('a', 'w1').attempt };
      expect(q.peekReady()).to.equal(undefined);
      end(q, fence);
      expect(q.get('b')?.waitingFor).to.equal(null);
      const next = q.peekReady();
      expect(next === 'b' || next === 'a', String(next)).to.equal(true);
      q.assign('b', 'w2');
    }
  });

  it('holds the paths of running tasks again after a restore from its image', () => {
    const q = queue();
    q.addMany([
      { id: 'a', paths: ['lib'] },
      { id: 'b', paths: ['lib/x.js'] },
    ]);
    q.assign('a', 'w1');
    const image = q.toJSON();
    expect(image.tasks.every((t) => t.waitingFor === null)).to.equal(true);
    const restored = queue();
    restored.fromJSON(image);
    expect(restored.peekReady()).to.equal(undefined);
    expect(restored.get('b')?.paths).to.deep.equal(['lib/x.js']);
  });

  it('never runs two tasks with overlapping paths at once, and never leaves a runnable task waiting (against a model)', () => {
    const glob = fc
      .array(fc.constantFrom('a', 'b', 'c', '*', '**'), { minLength: 1, maxLength: 2 })
      .map((s) => s.join('/'));
    const task = fc.record({
      paths: fc.array(glob, { maxLength: 2 }),
      priority: fc.integer({ min: 0, max: 3 }),
    });
    const op = fc.oneof(
      fc.record({ kind: fc.constant('assign' as const) }),
      fc.record({
        kind: fc.constantFrom('complete' as const, 'fail' as const, 'cancel' as const),
        pick: fc.nat(),
      }),
    );
    fc.assert(
      fc.property(
        fc.array(task, { minLength: 1, maxLength: 12 }),
        fc.array(op, { maxLength: 40 }),
        (specs, ops) => {
          const q = queue();
          q.addMany(specs.map((s, i) => ({ id: `t${i}`, ...s })));
          for (const o of ops) {
            const all = q.getAll();
            const held = all.filter(holding);
            if (o.kind === 'assign') {
              const id = q.peekReady();
              const runnable = all.filter((t) => t.status === 'pending' && !held.some((h) => clash(t, h)));
              if (id === undefined) {
                expect(runnable, 'a runnable task was left waiting').to.deep.equal([]);
                continue;
              }
              const best = Math.max(...runnable.map((t) => t.priority));
              expect(q.get(id)?.priority).to.equal(best);
              q.assign(id, 'w');
            } else if (held.length > 0) {
              const victim = held[o.pick % held.length] as TaskSnapshot;
              const fence = { workerId: 'w', attempt: victim.attempt };
              if (o.kind === 'complete') q.complete(victim.id, null, fence);
              else if (o.kind === 'fail') q.fail(victim.id, 'x', fence, { retryable: true });
              else q.cancel(victim.id);
            }
            const now = q.getAll().filter(holding);
            for (const [i, x] of now.entries()) {
              for (const y of now.slice(i + 1))
                expect(clash(x, y), `${x.id} and ${y.id} both run`).to.equal(false);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
