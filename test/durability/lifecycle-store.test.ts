import { join } from 'node:path';
import { expect } from 'chai';
import { createMemoryStore } from '../../src/core/memory-store.js';
import type { Store } from '../../src/core/store.js';
import { openCoordinator } from '../../src/server/runtime/open-coordinator.js';
import { systemScheduler } from '../../src/server/runtime/system-clock.js';
import { openSqliteStore } from '../../src/server/store/sqlite-store.js';
import { tempDir } from './harness.js';

const open = (store: Store) =>
  openCoordinator({ store, now: () => 1_000, scheduler: systemScheduler, send: () => {} });

/** One spec, every store: each lifecycle step is stored with the change that made it. */
for (const kind of ['memory', 'sqlite'] as const) {
  describe(`lifecycle state (${kind} store)`, () => {
    let reopen: () => Store;
    let dir: ReturnType<typeof tempDir> | undefined;
    beforeEach(() => {
      if (kind === 'memory') {
        const store = createMemoryStore();
        reopen = () => store;
      } else {
        dir = tempDir('baton-lifecycle-');
        const path = join(dir.path, 'baton.db');
        reopen = () => openSqliteStore({ path });
      }
    });
    afterEach(() => dir?.remove());

    /** Applies `step` to the coordinator restored from the store and returns the state restored next. */
    const afterRestart = async (step: (c: ReturnType<typeof open>['coordinator']) => void) => {
      const before = open(reopen());
      step(before.coordinator);
      await before.commit.committed();
      before.commit.close();
      const after = open(reopen());
      after.commit.close();
      return after.coordinator.state;
    };

    it('keeps drained across a restart, then running after a start, stopped after a stop, init after a reopen', async () => {
      expect(await afterRestart((c) => c.start())).to.equal('running');
      expect(await afterRestart((c) => c.drain())).to.equal('drained');
      expect(await afterRestart((c) => c.start())).to.equal('running');
      expect(await afterRestart((c) => c.stop())).to.equal('stopped');
      expect(await afterRestart((c) => c.reopen())).to.equal('init');
    });
  });
}
