import { expect } from 'chai';
import fc from 'fast-check';
import { createManualClock } from '../../src/core/clock.js';
import { createCoordinator } from '../../src/core/coordinator.js';
import { createWorkerPool } from '../../src/core/worker-pool.js';

const START = 1_800_000_000_000;

type Step =
  | {
      readonly kind: 'add';
      readonly delay: number | null;
      readonly runAhead: number | null;
      readonly dep: number | null;
    }
  | { readonly kind: 'complete' | 'retryable' | 'fatal' | 'lapse'; readonly pick: number }
  | { readonly kind: 'advance'; readonly ms: number }
  | { readonly kind: 'retry'; readonly pick: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('add' as const),
    delay: fc.option(fc.integer({ min: 0, max: 3_000 }), { nil: null }),
    runAhead: fc.option(fc.integer({ min: -1_000, max: 3_000 }), { nil: null }),
    dep: fc.option(fc.nat(), { nil: null }),
  }),
  fc.record({ kind: fc.constantFrom('complete', 'retryable', 'fatal', 'lapse'), pick: fc.nat() }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 1_500 }) }),
  fc.record({ kind: fc.constant('retry' as const), pick: fc.nat() }),
);

/**
 * What the spec promises, checked from outside: the earliest time each task may be sent to a
 * worker (its runAt; after a retryable failure that used its n-th attempt, the failure time plus
 * half the ceiling min(max, initial × multiplier^(n-1))). Every `coord:proceed` is checked against it, and after
 * every step nothing that is due stays unassigned while a worker has room (the wake works).
 */
describe('not-before property', () => {
  it('no task is ever sent to a worker before its not-before time, and none due waits while a worker has room', () => {
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 5, maxLength: 60 }),
        fc.record({
          initialMs: fc.integer({ min: 0, max: 800 }),
          extra: fc.integer({ min: 0, max: 2_000 }),
          multiplier: fc.double({ min: 1, max: 4, noNaN: true }),
        }),
        (steps, b) => {
          const backoff = { initialMs: b.initialMs, maxMs: b.initialMs + b.extra, multiplier: b.multiplier };
          const clock = createManualClock(START);
          /** Task id → the earliest time the spec allows its next assignment. */
          const earliest = new Map<string, number>();
          const failures = new Map<string, number>();
          const runAtOf = new Map<string, number | null>();
          const violations: string[] = [];
          const pool = createWorkerPool({
            send: (_w, message) => {
              if (message.type !== 'coord:proceed') return;
              const { id } = message.task;
              const allowed = earliest.get(id) ?? Number.NEGATIVE_INFINITY;
              if (clock.now() < allowed)
                violations.push(`${id} sent at ${clock.now() - START}, not before ${allowed - START}`);
            },
          });
          const coordinator = createCoordinator({
            pool,
            options: {
              now: clock.now,
              scheduler: clock,
              leaseTtlMs: 3_600_000,
              retryBackoff: backoff,
              defaultMaxAttempts: 4,
            },
          });
          coordinator.start();
          coordinator.workerJoined({ id: 'w1', maxConcurrency: 3 });
          coordinator.workerJoined({ id: 'w2', maxConcurrency: 2 });
          let n = 0;
          const held = () => coordinator.taskQueue.getAll().filter((t) => t.status === 'assigned');

          for (const st of steps) {
            switch (st.kind) {
              case 'add': {
                const id = `t${n}`;
                const deps = st.dep === null || n === 0 ? [] : [`t${st.dep % n}`];
                n++;
                const spec =
                  st.delay !== null
                    ? { id, deps, delayMs: st.delay }
                    : st.runAhead !== null
                      ? { id, deps, runAt: clock.now() + st.runAhead }
                      : { id, deps };
                const runAt =
                  'delayMs' in spec ? clock.now() + spec.delayMs : 'runAt' in spec ? spec.runAt : null;
                runAtOf.set(id, runAt);
                earliest.set(id, runAt ?? Number.NEGATIVE_INFINITY);
                coordinator.addTask(spec);
                break;
              }
              case 'complete':
              case 'retryable':
              case 'fatal':
              case 'lapse': {
                const all = held();
                const target = all[st.pick % Math.max(1, all.length)];
                if (target === undefined) break;
                const workerId = target.workerId as string;
                if (st.kind === 'complete') coordinator.complete(workerId, target.id, target.attempt);
                else if (st.kind === 'lapse') {
                  coordinator.taskQueue.requeue(target.id, 'lapsed', { workerId, attempt: target.attempt });
                  coordinator.pool.release(workerId);
                  // A lapsed lease uses an attempt (the next backoff is longer) but waits none.
                  failures.set(target.id, (failures.get(target.id) ?? 0) + 1);
                  earliest.set(target.id, Number.NEGATIVE_INFINITY);
                  coordinator.dispatch();
                } else {
                  const k = (failures.get(target.id) ?? 0) + 1;
                  failures.set(target.id, k);
                  const ceiling = Math.min(backoff.maxMs, backoff.initialMs * backoff.multiplier ** (k - 1));
                  earliest.set(target.id, clock.now() + Math.floor(ceiling / 2));
                  coordinator.fail(workerId, target.id, target.attempt, 'x', st.kind === 'retryable');
                }
                break;
              }
              case 'retry': {
                const ended = coordinator.taskQueue
                  .getAll()
                  .filter(
                    (t) => t.status === 'failed' || (t.status === 'cancelled' && t.cancelledBy === null),
                  );
                const target = ended[st.pick % Math.max(1, ended.length)];
                if (target === undefined) break;
                try {
                  // A retry starts over, for the task and its cascade: no backoff, but a schedule holds.
                  for (const t of ended.concat(coordinator.taskQueue.getAll({ status: 'cancelled' }))) {
                    failures.delete(t.id);
                    earliest.set(t.id, runAtOf.get(t.id) ?? Number.NEGATIVE_INFINITY);
                  }
                  coordinator.retryTask(target.id);
                } catch {
                  // A dep of it failed too: nothing changed.
                }
                break;
              }
              case 'advance':
                clock.advance(st.ms);
                break;
            }
            expect(violations).to.deep.equal([]);
            // Liveness: a task that is due and ready is not left waiting while a worker has room.
            const room = coordinator.pool.list().some((w) => w.running < w.maxConcurrency);
            if (room) expect(coordinator.taskQueue.getReady().map((t) => t.id)).to.deep.equal([]);
          }
          // In the end everything runs or fails: advancing far enough leaves nothing pending.
          for (let i = 0; i < 200 && !coordinator.taskQueue.allTerminal(); i++) {
            for (const t of held()) coordinator.complete(t.workerId as string, t.id, t.attempt);
            clock.advance(1_000);
          }
          expect(violations).to.deep.equal([]);
          expect(coordinator.taskQueue.allTerminal() || coordinator.taskQueue.size === 0).to.equal(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
