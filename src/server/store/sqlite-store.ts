// store/: durable implementations of the core Store interface.
// Imports src/core only (test/architecture/walls.test.ts).
import type { Store } from '../../core/store.js';
import { encodeCommit } from './sqlite-commit.js';
import { openSqliteConnection, type SqliteStoreOptions } from './sqlite-connection.js';

export {
  APPLICATION_ID,
  type SqliteStoreOptions,
  StoreOpenError,
  type SyncMode,
} from './sqlite-connection.js';

/**
 * The default store: SQLite in WAL mode through better-sqlite3. Synchronous on purpose — a
 * commit returns only once SQLite has it, which is what lets the group commit release acks.
 */
export function openSqliteStore(options: SqliteStoreOptions): Store {
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
