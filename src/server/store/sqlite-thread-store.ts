// store/: durable implementations of the core Store interface.
// Imports src/core only (test/architecture/walls.test.ts).
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { CoordinatorImage, Store } from '../../core/store.js';
import { encodeCommit } from './sqlite-commit.js';
import { type SqliteStoreOptions, StoreOpenError } from './sqlite-connection.js';
import type { StoreAnswer, StoreRequest, StoreThreadData } from './sqlite-thread-protocol.js';

/** How long a synchronous call waits for the store thread before giving up on it. */
const STUCK_MS = 60_000;

const errorOf = (answer: Extract<StoreAnswer, { ok: false }>): Error => {
  const { name, message, code } = answer.error;
  if (name === 'StoreOpenError') return new StoreOpenError(message);
  const error = new Error(message) as Error & { code?: string };
  if (code !== undefined) error.code = code;
  return error;
};

/**
 * SQLite in a worker thread: the connection lives there, so a commit (the inserts and updates,
 * the fsync) runs while the event loop goes on reading reports. `commit` encodes the changes,
 * hands them over and returns a promise that settles once the thread has stored them (or could
 * not); the group commit releases nothing before. Two commits may be under way, so that the next
 * one is in the thread's queue when the one before it lands; after a failure the thread refuses
 * the ones sent behind it (see StoreRequest's epoch). Opening, `load` and `close` block the event
 * loop until the thread answers (start, restore, shutdown), and wait for the commits under way.
 */
export function openThreadedSqliteStore(options: SqliteStoreOptions): Store {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { port1: port, port2 } = new MessageChannel();
  const data: StoreThreadData = { options, flag, port: port2 };
  const worker = new Worker(new URL('./sqlite-thread-main.js', import.meta.url), {
    workerData: data,
    transferList: [port2],
  });
  worker.unref();

  let nextId = 1;
  const waiting = new Map<number, (answer: StoreAnswer) => void>();
  let broken: Error | undefined;
  const receive = (answer: StoreAnswer): void => {
    const callback = waiting.get(answer.id);
    waiting.delete(answer.id);
    if (waiting.size === 0) port.unref();
    callback?.(answer);
  };
  port.on('message', receive);
  port.unref();
  worker.on('error', (error) => {
    broken = error;
    for (const id of [...waiting.keys()]) {
      receive({
        id,
        ok: false,
        error: { name: error.name, message: `store thread failed: ${error.message}` },
      });
    }
  });

  /** Blocks until the answer to `id` has been received (answers before it run their callbacks). */
  const await_ = (id: number): void => {
    const deadline = Date.now() + STUCK_MS;
    while (waiting.has(id)) {
      Atomics.store(flag, 0, 0);
      for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
        receive(m.message as StoreAnswer);
      }
      if (!waiting.has(id)) return;
      if (Date.now() > deadline) throw new Error(`the store thread has not answered in ${STUCK_MS} ms`);
      Atomics.wait(flag, 0, 0, 1_000);
    }
  };

  const send = (request: StoreRequest, callback: (answer: StoreAnswer) => void): void => {
    if (broken !== undefined) {
      callback({ id: request.id, ok: false, error: { name: 'Error', message: broken.message } });
      return;
    }
    waiting.set(request.id, callback);
    port.ref();
    port.postMessage(request);
  };

  /** A request answered before this returns: its value, or its error thrown. */
  const call = (request: StoreRequest | 'open'): unknown => {
    let answer: StoreAnswer | undefined;
    if (request === 'open') waiting.set(0, (a) => (answer = a));
    else send(request, (a) => (answer = a));
    await_(request === 'open' ? 0 : request.id);
    const got = answer as StoreAnswer;
    if (!got.ok) throw errorOf(got);
    return got.value;
  };

  /** The insertion counter as last committed, and as the commits sent so far leave it (a commit
   * writes the spec of each task at or past the second: the tasks new since the one before it). */
  let storedNextSeq: number;
  try {
    storedNextSeq = call('open') as number;
  } catch (error) {
    void worker.terminate();
    throw error;
  }
  let sentNextSeq = storedNextSeq;
  /** Failures heard of so far (StoreRequest's epoch). */
  let epoch = 0;
  /** The last commit sent: the others before it are answered first. */
  let lastSent = 0;

  const settle = (): void => {
    if (waiting.has(lastSent)) await_(lastSent);
  };

  let closed = false;
  return {
    kind: 'sqlite',
    commitsInFlight: 2,
    load() {
      settle();
      return call({ id: nextId++, op: 'load' }) as CoordinatorImage | undefined;
    },
    commit(changes) {
      const id = nextId++;
      const commit = encodeCommit(changes, sentNextSeq);
      if (commit.nextSeq !== undefined) sentNextSeq = commit.nextSeq;
      const sentIn = epoch;
      lastSent = id;
      return new Promise<void>((resolve, reject) => {
        send({ id, op: 'commit', epoch: sentIn, commit }, (answer) => {
          if (!answer.ok) {
            // The first failure of its epoch: what was sent since goes again, specs and all.
            if (sentIn === epoch) {
              epoch++;
              sentNextSeq = storedNextSeq;
            }
            return reject(errorOf(answer));
          }
          if (commit.nextSeq !== undefined) storedNextSeq = commit.nextSeq;
          resolve();
        });
      });
    },
    close() {
      if (closed) return;
      closed = true;
      try {
        settle();
        if (broken === undefined) call({ id: nextId++, op: 'close' });
      } finally {
        port.close();
        void worker.terminate();
      }
    },
  };
}
