// store/: durable implementations of the core Store interface.
// Imports src/core only (test/architecture/walls.test.ts).
import type { MessagePort } from 'node:worker_threads';
import type { EncodedCommit } from './sqlite-commit.js';
import type { SqliteStoreOptions } from './sqlite-connection.js';

/** What the store thread is started with. */
export interface StoreThreadData {
  readonly options: SqliteStoreOptions;
  /** The thread sets [0] to 1 after each answer, so the event loop can block on it (Atomics.wait). */
  readonly flag: Int32Array;
  readonly port: MessagePort;
}

/** The event loop's requests, answered in order on the same port. Id 0 is the open. */
export type StoreRequest =
  | { readonly id: number; readonly op: 'load' }
  | {
      readonly id: number;
      readonly op: 'commit';
      /**
       * How many failures the event loop had heard of when it sent this commit. After a failed
       * commit the thread refuses every commit of the same epoch or before: those were sent
       * behind it and hold only what changed after it.
       */
      readonly epoch: number;
      readonly commit: EncodedCommit;
    }
  | { readonly id: number; readonly op: 'close' };

export type StoreAnswer =
  | { readonly id: number; readonly ok: true; readonly value?: unknown }
  | {
      readonly id: number;
      readonly ok: false;
      readonly error: { readonly name: string; readonly message: string; readonly code?: string };
    };
