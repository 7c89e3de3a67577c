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

const opened = connection;
if (opened !== undefined) {
  port.on('message', (request: StoreRequest) => {
    try {
      if (request.op === 'commit') opened.apply(request.commit);
      const value = request.op === 'load' ? opened.load() : undefined;
      if (request.op === 'close') opened.close();
      answer({ id: request.id, ok: true, value });
    } catch (error) {
      answer(refusal(request.id, error));
    }
    if (request.op === 'close') port.close();
  });
}
