import { expect } from 'chai';
import { createManualClock, type ManualClock } from '../../src/core/clock.js';
import { type Coordinator, createCoordinator } from '../../src/core/coordinator.js';
import { backoffDelay, DEFAULT_RETRY_BACKOFF } from '../../src/core/retry-backoff.js';
import type { TaskSpec } from '../../src/core/task.js';
import { createTaskQueue, type TaskQueue, type TaskQueueOptions } from '../../src/core/task-queue.js';
import { createWorkerPool } from '../../src/core/worker-pool.js';
import { expectFieldError, expectRefused } from './expect-baton-error.js';

const START = 1_800_000_000_000;

interface Setup {
  readonly clock: ManualClock;
  readonly queue: TaskQueue;
}

const setup = (options: Partial<TaskQueueOptions> = {}): Setup => {
  const clock = createManualClock(START);
  return { clock, queue: createTaskQueue({ now: clock.now, ...options }) };
};

const readyIds = (queue: TaskQueue): string[] => queue.getReady().map((t) => t.id);

/** Assigns the task and fails it retryably: what a worker whose call was rate limited reports. */
const failRetryably = (queue: TaskQueue, id: string): void => {
  const { attempt } = queue.assign(id, 'w1');
  queue.fail(id, 'rate limited', { workerId: 'w1', attempt }, { retryable: true });
};

describe('not-before times: retry backoff and scheduled tasks', () => {
  describe('retry backoff', () => {
    it('a retryable failure waits its backoff (by default 0.5–1 s), saying until when, then is ready by itself', () => {
      const { clock, queue } = setup();
      queue.add({ id: 'a' });
      failRetryably(queue, 'a');
      const waiting = queue.get('a');
      const notBefore = waiting?.notBefore as number;
      expect(notBefore - START)
        .to.be.at.least(500)
        .and.below(1_000);
      expect(waiting?.status).to.equal('pending');
      expect(waiting?.waitingFor).to.equal(
        `retry backoff after 1 failed attempt: not before ${new Date(notBefore).toISOString()}`,
      );
      expect(readyIds(queue)).to.deep.equal([]);
      expect(queue.readyCount()).to.equal(0);
      expect(queue.nextDueAt()).to.equal(notBefore);

      clock.advance(notBefore - START - 1);
      expect(queue.peekReady()).to.equal(undefined);
      clock.advance(1);
      expect(readyIds(queue)).to.deep.equal(['a']);
      expect(queue.get('a')?.waitingFor).to.equal(null);
      expect(queue.nextDueAt()).to.equal(undefined);
      expect(queue.assign('a', 'w1').notBefore).to.equal(null);
    });

    it('grows by the multiplier up to the maximum, each wait within [ceiling / 2, ceiling)', () => {
      const { clock, queue } = setup();
      queue.add({ id: 'a', maxAttempts: 6, retryBackoff: { initialMs: 100, maxMs: 350, multiplier: 2 } });
      const ceilings = [100, 200, 350, 350, 350];
      for (const ceiling of ceilings) {
        const failedAt = clock.now();
        failRetryably(queue, 'a');
        const wait = (queue.get('a')?.notBefore as number) - failedAt;
        expect(wait, `ceiling ${ceiling}`)
          .to.be.at.least(ceiling / 2)
          .and.below(ceiling);
        clock.advance(wait);
      }
      failRetryably(queue, 'a');
      expect(queue.get('a')?.status).to.equal('failed');
    });

    it('the jitter is a hash of task and attempt: the same wait on a replay, different waits across tasks', () => {
      const waits = Array.from({ length: 50 }, (_, i) => backoffDelay(DEFAULT_RETRY_BACKOFF, 1, `t${i}`, 1));
      expect(new Set(waits).size).to.be.greaterThan(40);
      expect(backoffDelay(DEFAULT_RETRY_BACKOFF, 1, 't7', 1)).to.equal(waits[7]);
      for (const w of waits) expect(w).to.be.at.least(500).and.below(1_000);
    });

    it('initialMs 0 retries at once; a lapsed lease requeues at once whatever the backoff', () => {
      const { queue } = setup();
      queue.addMany([{ id: 'now', retryBackoff: { initialMs: 0 } }, { id: 'lapsed' }]);
      failRetryably(queue, 'now');
      expect(queue.get('now')?.notBefore).to.equal(null);
      const { attempt } = queue.assign('lapsed', 'w1');
      queue.requeue('lapsed', 'lease expired', { workerId: 'w1', attempt });
      expect(readyIds(queue)).to.deep.equal(['now', 'lapsed']);
    });

    it('an operator retry starts over without a backoff; the coordinator default applies to tasks that set none', () => {
      const { queue } = setup({ defaultRetryBackoff: { initialMs: 10_000, maxMs: 10_000 } });
      queue.add({ id: 'a', maxAttempts: 1 });
      expect(queue.get('a')?.retryBackoff).to.deep.equal({ initialMs: 10_000, maxMs: 10_000, multiplier: 2 });
      const { attempt } = queue.assign('a', 'w1');
      queue.fail('a', 'boom', { workerId: 'w1', attempt }, { retryable: true });
      expect(queue.get('a')?.status).to.equal('failed');
      queue.retry('a');
      expect(readyIds(queue)).to.deep.equal(['a']);
    });
  });

  describe('scheduled tasks', () => {
    it('runAt holds a ready task until then; delayMs counts from when it is added; a past runAt changes nothing', () => {
      const { clock, queue } = setup();
      queue.addMany([
        { id: 'at', runAt: START + 5_000 },
        { id: 'later', delayMs: 2_000 },
        { id: 'past', runAt: START - 1 },
      ]);
      expect(queue.get('later')).to.include({ runAt: START + 2_000, notBefore: START + 2_000 });
      expect(queue.get('at')?.waitingFor).to.equal(
        `scheduled: not before ${new Date(START + 5_000).toISOString()}`,
      );
      expect(readyIds(queue)).to.deep.equal(['past']);
      clock.advance(2_000);
      expect(readyIds(queue)).to.deep.equal(['later', 'past']);
      clock.advance(3_000);
      expect(readyIds(queue)).to.deep.equal(['at', 'later', 'past']);
    });

    it('a task whose deps complete before its runAt still waits for it', () => {
      const { clock, queue } = setup();
      queue.addMany([{ id: 'dep' }, { id: 'b', deps: ['dep'], runAt: START + 1_000 }]);
      const { attempt } = queue.assign('dep', 'w1');
      queue.complete('dep', null, { workerId: 'w1', attempt });
      expect(readyIds(queue)).to.deep.equal([]);
      expect(queue.get('b')?.waitingFor).to.contain('scheduled');
      clock.advance(1_000);
      expect(readyIds(queue)).to.deep.equal(['b']);
    });

    it('a scheduled task that is cancelled or removed leaves the timer heap; a retried one is scheduled again', () => {
      const { clock, queue } = setup();
      queue.addMany([
        { id: 'gone', runAt: START + 100 },
        { id: 'kept', runAt: START + 200 },
      ]);
      queue.cancel('gone');
      queue.remove('gone');
      expect(queue.nextDueAt()).to.equal(START + 200);
      queue.cancel('kept');
      expect(queue.nextDueAt()).to.equal(undefined);
      expect(queue.get('kept')?.waitingFor).to.equal(null);
      queue.retry('kept');
      expect(queue.nextDueAt()).to.equal(START + 200);
      clock.advance(200);
      expect(readyIds(queue)).to.deep.equal(['kept']);
    });

    it('an image keeps every not-before time: a restored queue waits just as long', () => {
      const { clock, queue } = setup();
      queue.addMany([{ id: 'at', runAt: START + 3_000 }, { id: 'flaky' }]);
      failRetryably(queue, 'flaky');
      const flakyDue = queue.get('flaky')?.notBefore as number;
      const restored = createTaskQueue({ now: clock.now });
      restored.fromJSON(queue.toJSON());
      expect(restored.get('flaky')).to.deep.include({ notBefore: flakyDue, status: 'pending' });
      expect(restored.get('flaky')?.waitingFor).to.contain('retry backoff');
      expect(restored.nextDueAt()).to.equal(flakyDue);
      clock.advance(flakyDue - START);
      expect(readyIds(restored)).to.deep.equal(['flaky']);
      clock.advance(START + 3_000 - clock.now());
      expect(readyIds(restored)).to.deep.equal(['at', 'flaky']);
    });
  });

  describe('bad values are refused, naming the field, and change nothing', () => {
    const cases: [string, TaskSpec, string][] = [
      ['a negative delay', { id: 'x', delayMs: -1 }, 'delayMs'],
      ['a delay that is not whole', { id: 'x', delayMs: 1.5 }, 'delayMs'],
      ['a runAt before 1970', { id: 'x', runAt: -5 }, 'runAt'],
      ['runAt and delayMs together', { id: 'x', runAt: START, delayMs: 5 }, 'delayMs'],
      ['a negative initialMs', { id: 'x', retryBackoff: { initialMs: -1 } }, 'retryBackoff.initialMs'],
      [
        'an initialMs that is not whole',
        { id: 'x', retryBackoff: { initialMs: 0.5 } },
        'retryBackoff.initialMs',
      ],
      ['a multiplier below 1', { id: 'x', retryBackoff: { multiplier: 0.5 } }, 'retryBackoff.multiplier'],
      [
        'maxMs below initialMs',
        { id: 'x', retryBackoff: { initialMs: 500, maxMs: 100 } },
        'retryBackoff.maxMs',
      ],
      ['a backoff that is not an object', { id: 'x', retryBackoff: 5 as never }, 'retryBackoff'],
    ];
    for (const [what, spec, field] of cases) {
      it(what, () => {
        const { queue } = setup();
        queue.add({ id: 'there' });
        const error = expectRefused(
          () => queue.toJSON(),
          () => queue.add(spec),
          'invalid-argument',
        );
        expect(error.field).to.equal(field);
        expect(error.message).to.contain(field.split('.').pop());
        const inBatch = expectRefused(
          () => queue.toJSON(),
          () => queue.addMany([{ id: 'ok' }, spec]),
          'invalid-argument',
        );
        expect(inBatch.field).to.equal(`tasks[1].${field}`);
      });
    }

    it('a coordinator refuses bad defaults, naming the option', () => {
      expectFieldError(
        () => createCoordinator({ options: { now: () => 0, retryBackoff: { multiplier: 0 } } }),
        'invalid-argument',
        'retryBackoff.multiplier',
      );
      expectFieldError(
        () => createCoordinator({ options: { now: () => 0, retryBackoff: { initialMs: 120_000 } } }),
        'invalid-argument',
        'retryBackoff.initialMs',
      );
    });
  });

  describe('the coordinator wakes by itself at the next due time', () => {
    const coordinatorOn = (clock: ManualClock, proceeds: { id: string; at: number }[]): Coordinator => {
      const pool = createWorkerPool({
        send: (_workerId, message) => {
          if (message.type === 'coord:proceed') proceeds.push({ id: message.task.id, at: clock.now() });
        },
      });
      const coordinator = createCoordinator({
        pool,
        options: { now: clock.now, scheduler: clock, leaseTtlMs: 3_600_000 },
      });
      coordinator.start();
      coordinator.workerJoined({ id: 'w1', maxConcurrency: 4 });
      coordinator.request('w1');
      return coordinator;
    };

    it('a scheduled task is sent to an idle worker at its runAt, with one timer for all of them', () => {
      const clock = createManualClock(START);
      const proceeds: { id: string; at: number }[] = [];
      const coordinator = coordinatorOn(clock, proceeds);
      const timersBefore = clock.pending();
      coordinator.addTasks(
        Array.from({ length: 100 }, (_, i) => ({ id: `t${i}`, runAt: START + 1_000 + 10 * i })),
      );
      expect(clock.pending() - timersBefore, 'one wake timer, not one per task').to.equal(1);
      clock.advance(999);
      expect(proceeds).to.deep.equal([]);
      clock.advance(1);
      expect(proceeds).to.deep.equal([{ id: 't0', at: START + 1_000 }]);
      clock.advance(25);
      expect(proceeds.map((p) => p.id)).to.deep.equal(['t0', 't1', 't2']);
      expect(clock.pending() - timersBefore).to.equal(1);
    });

    it('a retryable failure does not burn its attempts in milliseconds: three attempts take over 1.5 s', () => {
      const clock = createManualClock(START);
      const proceeds: { id: string; at: number }[] = [];
      const coordinator = coordinatorOn(clock, proceeds);
      coordinator.addTask({ id: 'flaky', maxAttempts: 3 });
      // The worker fails every attempt as soon as it gets it; time moves 1 ms at a time.
      for (let ms = 0; ms < 10_000 && coordinator.taskQueue.get('flaky')?.status !== 'failed'; ms++) {
        const task = coordinator.taskQueue.get('flaky');
        if (task?.status === 'assigned') coordinator.fail('w1', 'flaky', task.attempt, 'rate limited', true);
        clock.advance(1);
      }
      expect(proceeds).to.have.length(3);
      const [first, second, third] = proceeds.map((p) => p.at - START) as [number, number, number];
      expect(first).to.equal(0);
      expect(second - first).to.be.at.least(500);
      expect(third - second).to.be.at.least(1_000);
      expect(coordinator.taskQueue.get('flaky')?.status).to.equal('failed');
    });

    it('does not wake while drained, and picks up what came due when started again', () => {
      const clock = createManualClock(START);
      const proceeds: { id: string; at: number }[] = [];
      const coordinator = coordinatorOn(clock, proceeds);
      coordinator.addTask({ id: 'a', delayMs: 100 });
      coordinator.drain();
      clock.advance(500);
      expect(proceeds).to.deep.equal([]);
      coordinator.start();
      expect(proceeds).to.deep.equal([{ id: 'a', at: START + 500 }]);
    });
  });
});
