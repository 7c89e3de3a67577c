import { join } from 'node:path';
import { createMemoryStore } from '../../src/core/memory-store.js';
import type { Store } from '../../src/core/store.js';
import { openCoordinator } from '../../src/server/runtime/open-coordinator.js';
import { systemScheduler } from '../../src/server/runtime/system-clock.js';
import { openSqliteStore } from '../../src/server/store/sqlite-store.js';
import { tempDir } from './harness.js';

/** A coordinator on `store` with a fixed clock and nowhere to send: what a store spec needs. */
export const openOn = (store: Store) =>
  openCoordinator({ store, now: () => 1_000, scheduler: systemScheduler, send: () => {} });

/**
 * One spec, every store: runs `specs` in a describe per store kind, each test with a fresh store
 * that `reopen()` opens again as a restart would (the same object in memory, the same file in SQLite:
 * its connection in a worker thread, the default, and on the event loop).
 */
export function eachStore(title: string, specs: (reopen: () => Store) => void): void {
  for (const kind of ['memory', 'sqlite', 'sqlite on the event loop'] as const) {
    describe(`${title} (${kind} store)`, () => {
      let open: () => Store;
      let dir: ReturnType<typeof tempDir> | undefined;
      beforeEach(() => {
        if (kind === 'memory') {
          const store = createMemoryStore();
          open = () => store;
        } else {
          dir = tempDir('baton-store-');
          const path = join(dir.path, 'baton.db');
          open = () => openSqliteStore({ path, thread: kind === 'sqlite' });
        }
      });
      afterEach(() => dir?.remove());
      specs(() => open());
    });
  }
}
