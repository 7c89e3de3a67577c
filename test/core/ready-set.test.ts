import { expect } from 'chai';
import fc from 'fast-check';
import { createReadySet } from '../../src/core/ready-set.js';
import { EMPTY_METADATA, runsBefore, TaskRecord } from '../../src/core/task-record.js';

let nextSeq = 0;
const task = (id: string, priority = 0, category = ''): TaskRecord =>
  new TaskRecord(
    {
      id,
      deps: [],
      priority,
      category,
      metadata: EMPTY_METADATA,
      maxAttempts: 1,
      paths: [],
      land: false,
      requireCapability: false,
    },
    nextSeq++,
    0,
  );

const ids = (tasks: readonly TaskRecord[]): string[] => tasks.map((t) => t.id);

describe('ReadySet', () => {
  it('holds each task once, and says whether it holds one', () => {
    const ready = createReadySet();
    const a = task('a');
    ready.add(a);
    ready.add(a);
    expect(ready.size).to.equal(1);
    expect(ready.has(a)).to.equal(true);
    expect(ready.remove(a)).to.equal(true);
    expect(ready.remove(a)).to.equal(false);
    expect(ready.has(a)).to.equal(false);
    expect(ready.size).to.equal(0);
    expect(ready.remove(task('never'))).to.equal(false);
  });

  it('gives the best task across categories: highest priority, then first added', () => {
    const ready = createReadySet();
    const tasks = [task('x1', 1, 'x'), task('y2', 2, 'y'), task('x2', 2, 'x'), task('z0', 0, 'z')];
    for (const t of tasks) ready.add(t);
    expect(ready.best()?.id).to.equal('y2');
    expect(ready.bestOf('x')?.id).to.equal('x2');
    expect(ready.bestOf('nothing')).to.equal(undefined);
    expect(ready.categories()).to.deep.equal(['y', 'x', 'z']);
    expect(ids(ready.top(10))).to.deep.equal(['y2', 'x2', 'x1', 'z0']);
  });

  it('answers the best task among the categories a predicate allows', () => {
    const ready = createReadySet();
    for (const t of [task('x1', 1, 'x'), task('y2', 2, 'y'), task('z3', 3, 'z')]) ready.add(t);
    expect(ready.bestWhere((c) => c !== 'z')?.id).to.equal('y2');
    expect(ready.bestWhere((c) => c === 'x')?.id).to.equal('x1');
    expect(ready.bestWhere(() => false)).to.equal(undefined);
  });

  it('lists the top tasks without changing its contents', () => {
    const ready = createReadySet();
    const tasks = [task('a', 1), task('b', 3, 'k'), task('c', 2), task('d', 3)];
    for (const t of tasks) ready.add(t);
    expect(ids(ready.top(2))).to.deep.equal(['b', 'd']);
    expect(ids(ready.top(0))).to.deep.equal([]);
    expect(ready.size).to.equal(4);
    for (const t of tasks) expect(ready.has(t)).to.equal(true);
    expect(ids(ready.top(4))).to.deep.equal(['b', 'd', 'c', 'a']);
  });

  it('forgets everything on clear', () => {
    const ready = createReadySet();
    const a = task('a', 0, 'x');
    ready.add(a);
    ready.clear();
    expect(ready.size).to.equal(0);
    expect(ready.has(a)).to.equal(false);
    expect(ready.best()).to.equal(undefined);
    expect(ready.categories()).to.deep.equal([]);
    ready.add(a);
    expect(ready.best()).to.equal(a);
  });

  it('keeps its order through thousands of removals below the top and re-adds', () => {
    const ready = createReadySet();
    const all = Array.from({ length: 6000 }, (_, i) => task(`m${i}`, i % 5, i % 2 === 0 ? 'x' : 'y'));
    for (const t of all) ready.add(t);
    // The later half of every priority: each removal is below the top.
    const removed = all.filter((_, i) => i >= 3000);
    for (const t of removed) expect(ready.remove(t)).to.equal(true);
    for (const t of removed.slice(0, 1000)) ready.add(t);
    const expected = [...all.slice(0, 3000), ...removed.slice(0, 1000)].sort((a, b) =>
      runsBefore(a, b) ? -1 : 1,
    );
    expect(ready.size).to.equal(4000);
    expect(ids(ready.top(4000))).to.deep.equal(ids(expected));
    const drained: TaskRecord[] = [];
    for (let t = ready.best(); t !== undefined; t = ready.best()) {
      ready.remove(t);
      drained.push(t);
    }
    expect(ids(drained)).to.deep.equal(ids(expected));
    for (const t of all) expect(ready.has(t)).to.equal(false);
  });

  it('agrees with a sorted list through random adds and removes', () => {
    const op = fc.oneof(
      {
        weight: 3,
        arbitrary: fc.record({
          kind: fc.constant('add' as const),
          priority: fc.integer({ min: -2, max: 2 }),
          category: fc.constantFrom('', 'a', 'b', 'c'),
        }),
      },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('readd' as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('top' as const), k: fc.nat({ max: 6 }) }) },
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const ready = createReadySet();
        const all: TaskRecord[] = [];
        const model = new Set<TaskRecord>();
        const order = () => [...model].sort((a, b) => (runsBefore(a, b) ? -1 : 1));
        for (const o of ops) {
          if (o.kind === 'add') {
            const t = task(`t${all.length}`, o.priority, o.category);
            all.push(t);
            ready.add(t);
            model.add(t);
          } else if (o.kind === 'remove' || o.kind === 'readd') {
            const t = all[o.pick % Math.max(1, all.length)];
            if (t === undefined) continue;
            if (o.kind === 'remove') expect(ready.remove(t)).to.equal(model.delete(t));
            else {
              ready.add(t);
              model.add(t);
            }
          } else {
            expect(ids(ready.top(o.k))).to.deep.equal(ids(order().slice(0, o.k)));
          }
          const sorted = order();
          expect(ready.size).to.equal(sorted.length);
          expect(ready.best()).to.equal(sorted[0]);
          for (const c of ['', 'a', 'b', 'c']) {
            expect(ready.bestOf(c)).to.equal(sorted.find((t) => t.category === c));
            expect(ready.bestWhere((x) => x !== c)).to.equal(sorted.find((t) => t.category !== c));
          }
          const categories = [...new Set(sorted.map((t) => t.category))];
          expect(ready.categories()).to.deep.equal(categories);
          for (const t of all) expect(ready.has(t)).to.equal(model.has(t));
        }
        expect(ready.top(all.length)).to.deep.equal(order());
      }),
      { numRuns: 300 },
    );
  });
});
