import { expect } from 'chai';
import fc from 'fast-check';
import { createManualClock } from '../../src/core/clock.js';
import { createLeaseTable } from '../../src/core/lease.js';

const setup = (ttlMs = 100) => {
  const clock = createManualClock(1000);
  return { clock, leases: createLeaseTable({ ttlMs, now: clock.now }) };
};

describe('LeaseTable', () => {
  it('requires a positive, finite ttl', () => {
    for (const ttlMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => createLeaseTable({ ttlMs, now: () => 0 })).to.throw(RangeError, 'ttlMs');
    }
    expect(createLeaseTable({ ttlMs: 5, now: () => 0 }).ttlMs).to.equal(5);
  });

  it('grants a lease until now + ttl on the first touch', () => {
    const { leases } = setup();
    expect(leases.expiresAt('w1')).to.equal(undefined);
    expect(leases.touch('w1')).to.equal(1100);
    expect(leases.expiresAt('w1')).to.equal(1100);
    expect(leases.nextExpiry()).to.equal(1100);
  });

  it('renews the lease on every touch', () => {
    const { leases, clock } = setup();
    leases.touch('w1');
    clock.advance(60);
    expect(leases.touch('w1')).to.equal(1160);
    clock.advance(60);
    expect(leases.takeExpired()).to.deep.equal([]);
    expect(leases.expiresAt('w1')).to.equal(1160);
  });

  it('lapses a lease at its deadline, taking it out of the table', () => {
    const { leases, clock } = setup();
    leases.touch('w1');
    clock.advance(99);
    expect(leases.takeExpired()).to.deep.equal([]);
    clock.advance(1);
    expect(leases.takeExpired()).to.deep.equal(['w1']);
    expect(leases.expiresAt('w1')).to.equal(undefined);
    expect(leases.takeExpired()).to.deep.equal([]);
    expect(leases.nextExpiry()).to.equal(undefined);
  });

  it('returns lapsed workers earliest first, ties by worker id, and keeps the others', () => {
    const { leases, clock } = setup();
    leases.touch('late');
    clock.advance(10);
    leases.touch('b');
    leases.touch('a');
    clock.advance(10);
    leases.touch('keep');
    clock.advance(99);
    expect(leases.takeExpired()).to.deep.equal(['late', 'a', 'b']);
    expect(Array.from(leases.entries())).to.deep.equal([['keep', 1120]]);
  });

  it('releases a lease, and ignores releasing one it does not hold', () => {
    const { leases, clock } = setup();
    leases.touch('w1');
    leases.touch('w2');
    leases.release('w1');
    leases.release('ghost');
    clock.advance(1000);
    expect(leases.takeExpired()).to.deep.equal(['w2']);
  });

  it('restores a deadline as given, earlier or later than the current one', () => {
    const { leases, clock } = setup();
    leases.touch('w1');
    leases.touch('w2');
    leases.restore('w2', 1050);
    leases.restore('w3', 5000);
    expect(leases.nextExpiry()).to.equal(1050);
    leases.restore('w2', 2000);
    expect(leases.nextExpiry()).to.equal(1100);
    clock.advance(100);
    expect(leases.takeExpired()).to.deep.equal(['w1']);
  });

  it('refuses to restore a deadline that is not a finite number', () => {
    const { leases } = setup();
    leases.touch('w1');
    for (const at of [Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => leases.restore('w2', at)).to.throw(RangeError, 'expiresAt');
    }
    expect(Array.from(leases.entries())).to.deep.equal([['w1', 1100]]);
  });

  it('agrees with a naive table over random touches, releases, restores and sweeps', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('touch' as const), w: fc.nat({ max: 5 }) }),
      fc.record({ kind: fc.constant('release' as const), w: fc.nat({ max: 5 }) }),
      fc.record({
        kind: fc.constant('restore' as const),
        w: fc.nat({ max: 5 }),
        at: fc.integer({ min: 900, max: 1500 }),
      }),
      fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 60 }) }),
      fc.constant({ kind: 'sweep' as const }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const { leases, clock } = setup();
        const model = new Map<string, number>();
        for (const o of ops) {
          switch (o.kind) {
            case 'touch':
              model.set(`w${o.w}`, leases.touch(`w${o.w}`));
              break;
            case 'release':
              leases.release(`w${o.w}`);
              model.delete(`w${o.w}`);
              break;
            case 'restore':
              leases.restore(`w${o.w}`, o.at);
              model.set(`w${o.w}`, o.at);
              break;
            case 'advance':
              clock.advance(o.ms);
              break;
            case 'sweep': {
              const due = [...model]
                .filter(([, at]) => at <= clock.now())
                .sort(([a, x], [b, y]) => x - y || (a < b ? -1 : 1))
                .map(([id]) => id);
              expect(leases.takeExpired()).to.deep.equal(due);
              for (const id of due) model.delete(id);
              break;
            }
          }
          const deadlines = [...model.values()];
          expect(leases.nextExpiry()).to.equal(deadlines.length === 0 ? undefined : Math.min(...deadlines));
          expect(new Map(leases.entries())).to.deep.equal(model);
        }
      }),
      { numRuns: 300 },
    );
  });
});
