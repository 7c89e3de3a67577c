import { join } from 'node:path';
import { createMemoryStore } from '../../src/core/memory-store.js';
import type { Store } from '../../src/core/store.js';
import { openCoordinator } from '../../src/server/runtime/open-coordinator.js';
import { systemScheduler } from '../../src/server/runtime/system-clock.js';
import { openPostgresStore } from '../../src/server/store/postgres-store.js';
import { openSqliteStore } from '../../src/server/store/sqlite-store.js';
import { type PostgresCluster, postgresOrSkip } from '../support/postgres-cluster.js';
import { tempDir } from './harness.js';

/** A coordinator on `store` with a fixed clock and nowhere to send: what a store spec needs. */
export const openOn = (store: Store) =>
  openCoordinator({ store, now: () => 1_000, scheduler: systemScheduler, send: () => {} });

export const STORE_KINDS = ['memory', 'sqlite', 'sqlite on the event loop', 'postgres'] as const;

/**
 * One spec, every store: runs `specs` in a describe per store kind, each test with a fresh store
 * that `reopen()` opens again as a restart would (the same object in memory, the same file in
 * SQLite: its connection in a worker thread, the default, and on the event loop; the same database
 * in PostgreSQL: a throwaway cluster, or the suite says it is skipped). Every store opened is
 * closed after the test.
 */
export function eachStore(title: string, specs: (reopen: () => Promise<Store>) => void): void {
  for (const kind of STORE_KINDS) {
    describe(`${title} (${kind} store)`, () => {
      let open: () => Promise<Store>;
      let cluster: PostgresCluster | undefined;
      let dir: ReturnType<typeof tempDir> | undefined;
      const opened: Store[] = [];
      if (kind === 'postgres') {
        before(async function () {
          this.timeout(60_000);
          cluster = await postgresOrSkip(this);
        });
      }
      beforeEach(async () => {
        if (kind === 'memory') {
          const store = createMemoryStore();
          open = async () => store;
        } else if (kind !== 'postgres') {
          dir = tempDir('baton-store-');
          const path = join(dir.path, 'baton.db');
          open = async () => openSqliteStore({ path, thread: kind === 'sqlite' });
        } else {
          const url = await cluster!.createDatabase();
          open = () => openPostgresStore({ url });
        }
      });
      afterEach(async () => {
        for (const store of opened.splice(0)) await store.close();
        dir?.remove();
      });
      specs(async () => {
        const store = await open();
        opened.push(store);
        return store;
      });
    });
  }
}
