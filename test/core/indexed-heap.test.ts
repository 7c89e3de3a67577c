import { expect } from 'chai';
import fc from 'fast-check';
import { createIndexedHeap } from '../../src/core/indexed-heap.js';

interface Item {
  readonly id: number;
  key: number;
  index: number;
}

const before = (a: Item, b: Item): boolean => a.key < b.key || (a.key === b.key && a.id < b.id);

const makeHeap = () =>
  createIndexedHeap<Item>({
    before,
    getIndex: (item) => item.index,
    setIndex: (item, index) => {
      item.index = index;
    },
  });

const drain = (heap: ReturnType<typeof makeHeap>): number[] => {
  const out: number[] = [];
  for (let item = heap.pop(); item !== undefined; item = heap.pop()) out.push(item.id);
  return out;
};

describe('IndexedHeap', () => {
  it('pops items in order and reports its size', () => {
    const heap = makeHeap();
    const items = [5, 1, 4, 1, 3].map((key, id) => ({ id, key, index: -1 }));
    for (const item of items) heap.push(item);
    expect(heap.size).to.equal(5);
    expect(heap.peek()?.id).to.equal(1);
    expect(drain(heap)).to.deep.equal([1, 3, 4, 2, 0]);
    expect(heap.size).to.equal(0);
    expect(heap.pop()).to.equal(undefined);
    expect(heap.peek()).to.equal(undefined);
  });

  it('removes an arbitrary item, marking it out of the heap', () => {
    const heap = makeHeap();
    const items = [3, 1, 2].map((key, id) => ({ id, key, index: -1 }));
    for (const item of items) heap.push(item);
    const [a, b] = items as [Item, Item, Item];
    expect(heap.remove(b)).to.equal(true);
    expect(b.index).to.equal(-1);
    expect(heap.has(b)).to.equal(false);
    expect(heap.remove(b)).to.equal(false);
    expect(heap.has(a)).to.equal(true);
    expect(drain(heap)).to.deep.equal([2, 0]);
  });

  it('does not mistake an item of another heap for one of its own', () => {
    const one = makeHeap();
    const other = makeHeap();
    const mine = { id: 0, key: 0, index: -1 };
    const theirs = { id: 1, key: 0, index: -1 };
    one.push(mine);
    other.push(theirs);
    expect(one.has(theirs)).to.equal(false);
    expect(one.remove(theirs)).to.equal(false);
    expect(one.size).to.equal(1);
  });

  it('clears every item, marking them all out', () => {
    const heap = makeHeap();
    const items = [1, 2].map((key, id) => ({ id, key, index: -1 }));
    for (const item of items) heap.push(item);
    heap.clear();
    expect(heap.size).to.equal(0);
    expect(items.map((i) => i.index)).to.deep.equal([-1, -1]);
  });

  it('keeps heap order through random pushes, pops, removals and key updates', () => {
    const op = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({ kind: fc.constant('push' as const), key: fc.integer({ min: 0, max: 20 }) }),
      },
      { weight: 2, arbitrary: fc.constant({ kind: 'pop' as const }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }) },
      {
        weight: 3,
        arbitrary: fc.record({
          kind: fc.constant('update' as const),
          pick: fc.nat(),
          key: fc.integer({ min: 0, max: 20 }),
        }),
      },
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const heap = makeHeap();
        const all: Item[] = [];
        const model = new Set<Item>();
        const sorted = () => [...model].sort((a, b) => (before(a, b) ? -1 : 1));
        for (const o of ops) {
          switch (o.kind) {
            case 'push': {
              const item = { id: all.length, key: o.key, index: -1 };
              all.push(item);
              heap.push(item);
              model.add(item);
              break;
            }
            case 'pop': {
              const expected = sorted()[0];
              expect(heap.pop()).to.equal(expected);
              if (expected !== undefined) model.delete(expected);
              break;
            }
            case 'remove': {
              // Sometimes an item that already left: remove must say so and change nothing.
              const item = all[o.pick % Math.max(1, all.length)];
              if (item === undefined) break;
              expect(heap.remove(item)).to.equal(model.delete(item));
              break;
            }
            case 'update': {
              const item = all[o.pick % Math.max(1, all.length)];
              if (item === undefined) break;
              item.key = o.key;
              heap.update(item);
              break;
            }
          }
          expect(heap.size).to.equal(model.size);
          expect(heap.peek()).to.equal(sorted()[0]);
          for (const item of all) expect(heap.has(item)).to.equal(model.has(item));
        }
        expect(drain(heap)).to.deep.equal(sorted().map((i) => i.id));
      }),
      { numRuns: 400 },
    );
  });
});
