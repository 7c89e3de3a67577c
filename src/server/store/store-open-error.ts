// store/: durable implementations of the core Store interface.
// Imports src/core only (test/architecture/walls.test.ts).

/** Why a store cannot be used (a file, a database). The server prints it and exits non-zero. */
export class StoreOpenError extends Error {
  override readonly name = 'StoreOpenError';
}
