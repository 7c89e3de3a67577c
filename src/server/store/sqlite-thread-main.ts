// store/: durable implementations of the core Store interface.
// Imports src/core only (test/architecture/walls.test.ts).
import { workerData } from 'node:worker_threads';
import { openSqliteConnection, type SqliteConnection } from './sqlite-connection.js';
import type { StoreAnswer, StoreRequest, StoreThreadData } from './sqlite-thread-protocol.js';

/**
 * The store thread: holds the SQLite connection and applies each commit the event loop sends, in
 * order, answering each one once SQLite has it (or with why not).
 */
const { options, flag, port } = workerData as StoreThreadData;

const answer = (message: StoreAnswer): void => {
  port.postMessage(message);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
};

const refusal = (id: number, error: unknown): StoreAnswer => {
  const e = error instanceof Error ? error : new Error(String(error));
  const code = (e as { code?: unknown }).code;
  return {
    id,
    ok: false,
    error: { name: e.name, message: e.message, ...(typeof code === 'string' ? { code } : {}) },
  };
};

let connection: SqliteConnection | undefined;
try {
  connection = openSqliteConnection(options);
  answer({ id: 0, ok: true, value: connection.storedNextSeq });
} catch (error) {
  answer(refusal(0, error));
  port.close();
}

/** The epoch of the last failed commit: commits of that epoch or before are refused. */
let failedEpoch = -1;
const commit = (c: SqliteConnection, request: Extract<StoreRequest, { op: 'commit' }>): void => {
  if (request.epoch <= failedEpoch) throw new Error('not written: an earlier commit failed');
  try {
    c.apply(request.commit);
  } catch (error) {
    failedEpoch = request.epoch;
    throw error;
  }
};

/**
 * Folds the task log a step at a time while no request is waiting: an immediate runs after the
 * messages that have arrived, so a commit waits at most one step. A failed step is left for
 * later (a commit past LOG_MAX folds too, and reports its own failure).
 */
let folding: NodeJS.Immediate | undefined;
const foldLater = (c: SqliteConnection): void => {
  folding ??= setImmediate(() => {
    folding = undefined;
    let more = false;
    try {
      more = c.foldStep();
    } catch {}
    if (more) foldLater(c);
  });
};

const opened = connection;
if (opened !== undefined) {
  port.on('message', (request: StoreRequest) => {
    try {
      if (request.op === 'commit') commit(opened, request);
      const value = request.op === 'load' ? opened.load() : undefined;
      if (request.op === 'close') opened.close();
      answer({ id: request.id, ok: true, value });
    } catch (error) {
      answer(refusal(request.id, error));
    }
    if (request.op === 'close') {
      if (folding !== undefined) clearImmediate(folding);
      port.close();
    } else foldLater(opened);
  });
}
