import { expect } from 'chai';
import type { CoordinatorMessage } from '../../src/core/messages.js';
import { createWorkerPool, type MutableWorkerPool, type WorkerJoin } from '../../src/core/worker-pool.js';
import { expectBatonError, expectRefused } from './expect-baton-error.js';

const availableIds = (pool: MutableWorkerPool): string[] => Array.from(pool.available(), (w) => w.id);
const state = (pool: MutableWorkerPool) => ({
  workers: pool.list().map((w) => ({ ...w, capabilities: [...w.capabilities].sort() })),
  available: availableIds(pool),
});

describe('WorkerPool', () => {
  describe('join', () => {
    it('adds an idle worker with defaults for every optional field', () => {
      const pool = createWorkerPool();
      const info = pool.join({ id: 'w1' }, 100);
      expect(info).to.deep.include({
        id: 'w1',
        labels: {},
        maxConcurrency: 1,
        running: 0,
        status: 'idle',
        joinedAt: 100,
      });
      expect([...info.capabilities]).to.deep.equal([]);
      expect(pool.get('w1')).to.deep.equal(info);
      expect(availableIds(pool)).to.deep.equal(['w1']);
      expect(pool.availableCount).to.equal(1);
    });

    it('keeps capabilities, labels and max concurrency as given', () => {
      const pool = createWorkerPool();
      const info = pool.join(
        { id: 'w1', capabilities: ['ts', 'py'], labels: { zone: 'a' }, maxConcurrency: 4 },
        0,
      );
      expect([...info.capabilities]).to.deep.equal(['ts', 'py']);
      expect(info.labels).to.deep.equal({ zone: 'a' });
      expect(info.maxConcurrency).to.equal(4);
      expect(pool.hasCapability('ts')).to.equal(true);
      expect(pool.hasCapability('go')).to.equal(false);
    });

    it('refuses a second join while the worker is online with already-exists, changing nothing', () => {
      const pool = createWorkerPool();
      pool.join({ id: 'w1', capabilities: ['ts'] }, 0);
      pool.occupy('w1');
      expectRefused(
        () => state(pool),
        () => pool.join({ id: 'w1', capabilities: ['py'], maxConcurrency: 3 }, 5),
        'already-exists',
        'w1',
      );
      expect(pool.hasCapability('py')).to.equal(false);
    });

    it('refuses an empty id, naming the field', () => {
      const pool = createWorkerPool();
      expect(expectBatonError(() => pool.join({ id: '' }, 0), 'invalid-argument', 'id').field).to.equal(
        'workerId',
      );
    });

    it('refuses a max concurrency that is not an integer from 1 to the limit', () => {
      const pool = createWorkerPool({ maxConcurrencyLimit: 8 });
      for (const maxConcurrency of [0, -1, 1.5, 9, Number.NaN]) {
        const error = expectRefused(
          () => state(pool),
          () => pool.join({ id: 'w1', maxConcurrency }, 0),
          'invalid-argument',
          'maxConcurrency',
        );
        expect(error.field).to.equal('maxConcurrency');
      }
      expect(pool.join({ id: 'w1', maxConcurrency: 8 }, 0).maxConcurrency).to.equal(8);
    });

    it('refuses a running count that is not a non-negative integer', () => {
      const pool = createWorkerPool();
      for (const running of [-1, 0.5, Number.NaN]) {
        expectRefused(
          () => state(pool),
          () => pool.join({ id: 'w1', running } as WorkerJoin, 0),
          'invalid-argument',
          'running',
        );
      }
    });

    it('counts the tasks a reconnecting worker still holds', () => {
      const pool = createWorkerPool();
      const info = pool.join({ id: 'w1', maxConcurrency: 2, running: 2 }, 0);
      expect(info).to.include({ running: 2, status: 'busy' });
      expect(availableIds(pool)).to.deep.equal([]);
    });
  });

  describe('occupy and release', () => {
    it('marks a worker busy, and takes it out of the available set when full', () => {
      const pool = createWorkerPool();
      pool.join({ id: 'w1', maxConcurrency: 2 }, 0);
      pool.occupy('w1');
      expect(pool.get('w1')).to.include({ running: 1, status: 'busy' });
      expect(availableIds(pool)).to.deep.equal(['w1']);
      pool.occupy('w1');
      expect(availableIds(pool)).to.deep.equal([]);
      expect(pool.availableCount).to.equal(0);
      pool.release('w1');
      expect(availableIds(pool)).to.deep.equal(['w1']);
      pool.release('w1');
      expect(pool.get('w1')).to.include({ running: 0, status: 'idle' });
    });

    it('moves an occupied worker to the back of the available order: round-robin', () => {
      const pool = createWorkerPool();
      for (const id of ['a', 'b', 'c']) pool.join({ id, maxConcurrency: 5 }, 0);
      pool.occupy('a');
      expect(availableIds(pool)).to.deep.equal(['b', 'c', 'a']);
      pool.occupy('b');
      expect(availableIds(pool)).to.deep.equal(['c', 'a', 'b']);
    });

    it('refuses to occupy an unknown worker, and ignores releasing one', () => {
      const pool = createWorkerPool();
      expectBatonError(() => pool.occupy('ghost'), 'not-found', 'ghost');
      pool.release('ghost');
      pool.join({ id: 'w1' }, 0);
      pool.release('w1');
      expect(pool.get('w1')?.running).to.equal(0);
    });
  });

  describe('leave', () => {
    it('forgets a worker that holds nothing', () => {
      const pool = createWorkerPool();
      pool.join({ id: 'w1', capabilities: ['ts'] }, 0);
      pool.leave('w1');
      expect(pool.get('w1')).to.equal(undefined);
      expect(pool.list()).to.deep.equal([]);
      expect(pool.hasCapability('ts')).to.equal(false);
      expect(pool.availableCount).to.equal(0);
    });

    it('keeps a worker that still holds tasks listed as offline until they are released', () => {
      const pool = createWorkerPool();
      pool.join({ id: 'w1', capabilities: ['ts'], maxConcurrency: 3 }, 0);
      pool.occupy('w1');
      pool.occupy('w1');
      pool.leave('w1');
      expect(pool.get('w1')).to.include({ status: 'offline', running: 2 });
      expect(availableIds(pool)).to.deep.equal([]);
      expect(pool.hasCapability('ts')).to.equal(false);
      pool.release('w1');
      expect(pool.get('w1')?.status).to.equal('offline');
      pool.release('w1');
      expect(pool.get('w1')).to.equal(undefined);
    });

    it('lets an offline worker join again, with its new capabilities', () => {
      const pool = createWorkerPool();
      pool.join({ id: 'w1', capabilities: ['ts'], maxConcurrency: 2 }, 0);
      pool.occupy('w1');
      pool.leave('w1');
      const info = pool.join({ id: 'w1', capabilities: ['py'], maxConcurrency: 2, running: 1 }, 50);
      expect(info).to.include({ status: 'busy', running: 1, joinedAt: 50 });
      expect(pool.hasCapability('ts')).to.equal(false);
      expect(pool.hasCapability('py')).to.equal(true);
      expect(availableIds(pool)).to.deep.equal(['w1']);
    });

    it('ignores leaving twice or leaving unknown workers', () => {
      const pool = createWorkerPool();
      pool.join({ id: 'w1', capabilities: ['ts'] }, 0);
      pool.join({ id: 'w2', capabilities: ['ts'] }, 0);
      pool.occupy('w1');
      pool.leave('w1');
      pool.leave('w1');
      pool.leave('ghost');
      expect(pool.hasCapability('ts')).to.equal(true);
      pool.leave('w2');
      expect(pool.hasCapability('ts')).to.equal(false);
    });
  });

  describe('setStatus', () => {
    it('takes a draining or stopped worker out of assignment while it keeps its tasks', () => {
      const pool = createWorkerPool();
      pool.join({ id: 'w1', capabilities: ['ts'], maxConcurrency: 2 }, 0);
      pool.occupy('w1');
      for (const status of ['draining', 'stopped'] as const) {
        pool.setStatus('w1', status);
        expect(pool.get('w1')).to.include({ status, running: 1 });
        expect(availableIds(pool)).to.deep.equal([]);
        expect(pool.hasCapability('ts')).to.equal(false);
      }
      pool.setStatus('w1', 'active');
      expect(pool.get('w1')?.status).to.equal('busy');
      expect(availableIds(pool)).to.deep.equal(['w1']);
      expect(pool.hasCapability('ts')).to.equal(true);
    });

    it('keeps capability counts right through repeated changes and a leave while draining', () => {
      const pool = createWorkerPool();
      pool.join({ id: 'w1', capabilities: ['ts'] }, 0);
      pool.setStatus('w1', 'draining');
      pool.setStatus('w1', 'stopped');
      pool.setStatus('w1', 'active');
      pool.setStatus('w1', 'active');
      expect(pool.hasCapability('ts')).to.equal(true);
      pool.setStatus('w1', 'draining');
      pool.leave('w1');
      pool.join({ id: 'w2', capabilities: ['ts'] }, 0);
      pool.leave('w2');
      expect(pool.hasCapability('ts')).to.equal(false);
    });

    it('refuses an unknown worker with not-found', () => {
      const pool = createWorkerPool();
      expectBatonError(() => pool.setStatus('ghost', 'draining'), 'not-found', 'ghost');
    });
  });

  describe('queries', () => {
    it('returns copies: changing a returned worker does not change the pool', () => {
      const pool = createWorkerPool();
      pool.join({ id: 'w1', labels: { zone: 'a' } }, 0);
      const info = pool.get('w1') as { running: number; labels: Record<string, string> };
      info.running = 5;
      const [listed] = pool.list() as { maxConcurrency: number }[];
      (listed as { maxConcurrency: number }).maxConcurrency = 9;
      expect(pool.get('w1')).to.include({ running: 0, maxConcurrency: 1 });
    });

    it('copies the labels it is given', () => {
      const pool = createWorkerPool();
      const labels: Record<string, string> = { zone: 'a' };
      pool.join({ id: 'w1', labels }, 0);
      labels.zone = 'b';
      expect(pool.get('w1')?.labels).to.deep.equal({ zone: 'a' });
    });

    it('delivers messages through the send option', () => {
      const sent: [string, CoordinatorMessage][] = [];
      const pool = createWorkerPool({ send: (id, message) => sent.push([id, message]) });
      pool.sendTo('w1', { type: 'coord:drain' });
      expect(sent).to.deep.equal([['w1', { type: 'coord:drain' }]]);
      createWorkerPool().sendTo('w1', { type: 'coord:drain' });
    });
  });
});
