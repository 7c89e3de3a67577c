import { expect } from 'chai';
import fc from 'fast-check';
import { freezeJson, type NormalizedSpec, normalizeSpec, orderBatch } from '../../src/core/task-spec.js';
import { expectBatonError } from './expect-baton-error.js';

const spec = (id: string, deps: string[] = []): NormalizedSpec => normalizeSpec({ id, deps }, 'task', 3);

describe('task specs', () => {
  describe('normalizeSpec', () => {
    it('fills in every default', () => {
      expect(normalizeSpec({ id: 'a' }, 'task', 4)).to.deep.equal({
        id: 'a',
        deps: [],
        priority: 0,
        category: '',
        metadata: {},
        maxAttempts: 4,
        paths: [],
        land: false,
        requireCapability: false,
      });
    });

    it('names the field at fault with the prefix it is given', () => {
      const error = expectBatonError(
        () => normalizeSpec({ id: 'a', priority: Number.NaN }, 'tasks[7]', 3),
        'invalid-argument',
        'a',
      );
      expect(error.field).to.equal('tasks[7].priority');
      expect(error.taskId).to.equal('a');
    });

    it('refuses a spec that is not an object', () => {
      expectBatonError(
        () => normalizeSpec(null as never, 'task', 3),
        'invalid-argument',
        'task must be an object',
      );
    });

    it('refuses ids that are too long, blank or unprintable, without echoing them', () => {
      for (const id of ['x'.repeat(257), '   ', 'a\u0000b', 'line\nbreak']) {
        const error = expectBatonError(
          () => normalizeSpec({ id }, 'tasks[2]', 3),
          'invalid-argument',
          'tasks[2].id',
        );
        expect(error.field).to.equal('tasks[2].id');
        expect(error.message).to.not.include(id);
        expect(error.taskId).to.equal(undefined);
      }
      expect(normalizeSpec({ id: 'x'.repeat(256) }, 'task', 3).id).to.have.length(256);
    });

    it('refuses a category that is too long or unprintable, naming the field', () => {
      for (const category of ['c'.repeat(257), 'tab\there']) {
        const error = expectBatonError(
          () => normalizeSpec({ id: 'a', category }, 'task', 3),
          'invalid-argument',
          'category',
        );
        expect(error.field).to.equal('task.category');
      }
    });

    it('refuses deps that are not an array of non-empty ids', () => {
      for (const deps of ['a', [''], [1]]) {
        expectBatonError(
          () => normalizeSpec({ id: 'x', deps } as never, 'task', 3),
          'invalid-argument',
          'x',
          'deps',
        );
      }
    });
  });

  describe('freezeJson', () => {
    it('returns a deep frozen copy of a JSON value, dropping undefined members', () => {
      const input = { a: [1, { b: 'c' }], d: null, e: undefined, f: true };
      const copy = freezeJson(input, 'v') as { a: [number, { b: string }] };
      expect(copy).to.deep.equal({ a: [1, { b: 'c' }], d: null, f: true });
      expect(copy).to.not.equal(input);
      expect(Object.isFrozen(copy)).to.equal(true);
      expect(Object.isFrozen(copy.a)).to.equal(true);
      expect(Object.isFrozen(copy.a[1])).to.equal(true);
    });

    it('refuses values that are not JSON, naming their path', () => {
      const cases: [unknown, string][] = [
        [Number.NaN, 'v'],
        [{ a: [0, () => 1] }, 'v.a[1]'],
        [{ m: new Map() }, 'v.m'],
        [Symbol('s'), 'v'],
        [10n, 'v'],
      ];
      for (const [value, path] of cases) {
        expect(expectBatonError(() => freezeJson(value, 'v'), 'invalid-argument').field).to.equal(path);
      }
    });

    it('keeps a __proto__ key that JSON.parse made an own property, as an own property', () => {
      const copy = freezeJson(JSON.parse('{"__proto__": {"x": 1}, "y": 2}'), 'v') as Record<string, unknown>;
      expect(Object.getPrototypeOf(copy)).to.equal(Object.prototype);
      expect(Object.keys(copy)).to.deep.equal(['__proto__', 'y']);
      expect(JSON.stringify(copy)).to.equal('{"__proto__":{"x":1},"y":2}');
      expect(copy.x).to.equal(undefined);
    });

    it('round-trips any JSON value unchanged', () => {
      fc.assert(
        fc.property(fc.jsonValue(), (value) => {
          expect(freezeJson(value, 'v')).to.deep.equal(value);
        }),
      );
    });
  });

  describe('orderBatch', () => {
    it('orders a batch so that every dep inside it comes first, ignoring deps outside it', () => {
      const result = orderBatch([spec('c', ['b', 'outside']), spec('b', ['a']), spec('a')]);
      expect('order' in result && result.order.map((s) => s.id)).to.deep.equal(['a', 'b', 'c']);
    });

    it('finds the cycle in any batch whose graph is cyclic, as a closed path in run order', () => {
      const batch = fc
        .array(fc.array(fc.nat(), { maxLength: 3 }), { minLength: 2, maxLength: 8 })
        .map((rows) =>
          rows.map((row, i) =>
            spec(
              `n${i}`,
              [...new Set(row.map((d) => `n${d % rows.length}`))].filter((d) => d !== `n${i}`),
            ),
          ),
        );
      fc.assert(
        fc.property(batch, (specs) => {
          const result = orderBatch(specs);
          if ('order' in result) {
            const at = new Map(result.order.map((s, i) => [s.id, i]));
            for (const s of specs)
              for (const d of s.deps) expect(at.get(d)).to.be.lessThan(at.get(s.id) as number);
            return;
          }
          const { cycle } = result;
          expect(cycle[0]).to.equal(cycle[cycle.length - 1]);
          expect(new Set(cycle).size).to.equal(cycle.length - 1);
          const depsOf = new Map(specs.map((s) => [s.id, s.deps]));
          for (let i = 0; i + 1 < cycle.length; i++)
            expect(depsOf.get(cycle[i + 1] as string)).to.include(cycle[i]);
          // It starts from its first task in the batch.
          const positions = cycle.slice(1).map((id) => specs.findIndex((s) => s.id === id));
          expect(specs.findIndex((s) => s.id === cycle[0])).to.equal(Math.min(...positions));
        }),
        { numRuns: 500 },
      );
    });
  });
});
