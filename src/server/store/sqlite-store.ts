// store/: durable implementations of the core Store interface.
// Imports src/core only (test/architecture/walls.test.ts).
import type { Store } from '../../core/store.js';
import { encodeCommit } from './sqlite-commit.js';
import { openSqliteConnection, type SqliteStoreOptions } from './sqlite-connection.js';
import { openThreadedSqliteStore } from './sqlite-thread-store.js';

export {
  APPLICATION_ID,
  type SqliteStoreOptions,
  StoreOpenError,
  type SyncMode,
} from './sqlite-connection.js';

/**
 * The default store: SQLite in WAL mode through better-sqlite3, in a worker thread unless
 * `thread: false` (sqlite-thread-store.ts). Either way a commit is reported done only once SQLite
 * has it, which is what lets the group commit release acks.
 */
export function openSqliteStore(options: SqliteStoreOptions): Store {
  return options.thread === false ? openSqliteStoreHere(options) : openThreadedSqliteStore(options);
}

/** The store with its connection on the event loop: every commit blocks it while SQLite writes. */
function openSqliteStoreHere(options: SqliteStoreOptions): Store {
  const connection = openSqliteConnection(options);
  return {
    kind: 'sqlite',
    load: () => connection.load(),
    commit(changes) {
      connection.apply(encodeCommit(changes, connection.storedNextSeq));
    },
    close: () => connection.close(),
  };
}
