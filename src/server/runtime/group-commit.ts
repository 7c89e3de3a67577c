// runtime/: the running coordinator wired to its store and listeners: group commit, sessions, events.
// Imports src/core, src/wire, codec/ and workspaces/ (test/architecture/walls.test.ts).
import { Code, ConnectError } from '@connectrpc/connect';
import type { Store, StoreChanges } from '../../core/store.js';

export interface ChangeSource {
  /** What changed since the last successful commit, or undefined when nothing did. */
  collect(): StoreChanges | undefined;
  /** The collected changes are stored: forget them. */
  committed(): void;
  /** Storing the collected changes failed: keep them for the next collect. */
  failed(): void;
}

export interface GroupCommit {
  /**
   * Runs `deliver` once every change made so far is stored — the only way an acknowledgement or
   * an assignment leaves the server — or `fail` if storing failed. Without `fail`, a failed commit
   * keeps `deliver` waiting for the next commit that succeeds. Callbacks run in call order.
   */
  afterCommit(deliver: () => void, fail?: (error: ConnectError) => void): void;
  /** Resolves once every change made so far is stored; rejects with `Unavailable` if it cannot be. */
  committed(): Promise<void>;
  /** Throws `Unavailable` while the store refuses writes, before a mutation touches the core. */
  ensureWritable(): void;
  readonly degraded: boolean;
  /** Something changed with nobody waiting on it (a lease sweep): store it at the end of the turn. */
  changed(): void;
  /** Commits now (with a synchronous store, done when it returns), or after the commit under way. */
  flush(): void;
  /**
   * Stores the last changes. With a synchronous store that is done when `close` returns; the
   * promise settles once an asynchronous store's last commit has.
   */
  close(): Promise<void>;
}

export interface GroupCommitOptions {
  readonly store: Store;
  readonly changes: ChangeSource;
  /** How soon after a failed commit to try again. Default 1 s. */
  readonly retryMs?: number;
  readonly onError?: (error: unknown) => void;
}

interface Waiter {
  readonly deliver: () => void;
  readonly fail: ((error: ConnectError) => void) | undefined;
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof (value as { then?: unknown } | undefined)?.then === 'function';

/**
 * Group commit: everything the event loop changed in one turn is written in one transaction at
 * the end of the turn (setImmediate), and only then are the turn's acknowledgements released.
 * One fsync'd transaction per turn instead of one per report is what lets durable throughput stay
 * close to in-memory throughput.
 *
 * A store whose commit returns a promise (PostgreSQL, SQLite in its thread) has up to
 * `store.commitsInFlight` commits under way (default 1): the turns that pass meanwhile are gathered
 * into the next commit, started when one settles, so a slower commit makes bigger groups rather
 * than a queue. With two, the next commit is already with the store when the one before it lands,
 * so the store does not wait for the event loop between commits. A synchronous store (memory, SQLite
 * on the loop) takes exactly the path it always did.
 */
export function createGroupCommit(options: GroupCommitOptions): GroupCommit {
  const { store, changes } = options;
  const retryMs = options.retryMs ?? 1000;
  const onError = options.onError ?? (() => {});
  const depth = store.commitsInFlight ?? 1;
  let waiters: Waiter[] = [];
  /** Waiters of failed commits that nobody can refuse, oldest first: they go before `waiters`. */
  let held: Waiter[] = [];
  let scheduled: NodeJS.Immediate | undefined;
  let retry: NodeJS.Timeout | undefined;
  let degradedBy: string | undefined;
  let closed = false;
  /** Asynchronous commits under way, the last of them (settles, never rejects), and whether a
   * turn came while they were as many as the store takes. */
  let underWay = 0;
  let last: Promise<void> = Promise.resolve();
  let again = false;

  const unavailable = (): ConnectError =>
    new ConnectError(
      `the store cannot write (${degradedBy ?? 'closed'}); nothing was acknowledged`,
      Code.Unavailable,
    );

  /** Fails what can be refused; what cannot waits for the next commit that succeeds. */
  const refuse = (batch: readonly Waiter[]): void => {
    const refusal = unavailable();
    for (const w of batch) w.fail?.(refusal);
    // What nobody can refuse (an assignment, an event, a welcome, a stream's end) waits for the
    // commit that stores it instead of being dropped: a dropped assignment would leave a task
    // held by a worker that never hears of it.
    for (const w of batch) if (w.fail === undefined) held.push(w);
  };

  /** Everything waiting for the next commit, in call order. */
  const take = (): Waiter[] => {
    const batch = held.length === 0 ? waiters : held.concat(waiters);
    held = [];
    waiters = [];
    return batch;
  };

  const succeeded = (batch: readonly Waiter[]): void => {
    changes.committed();
    if (degradedBy !== undefined) {
      degradedBy = undefined;
      if (retry !== undefined) clearTimeout(retry);
      retry = undefined;
    }
    for (const w of batch) w.deliver();
  };

  const failed = (batch: readonly Waiter[], error: unknown): void => {
    changes.failed();
    degradedBy = error instanceof Error ? error.message : String(error);
    onError(error);
    refuse(batch);
    // Keep the changes pending and try again later, so the store catches up once it can write.
    if (retry === undefined && !closed) {
      retry = setTimeout(() => {
        retry = undefined;
        flush();
      }, retryMs);
      retry.unref();
    }
  };

  /**
   * `attempt` false (the end of a turn): while degraded, leave the store alone and let the retry
   * timer try it, so a store that fails slowly (a lock held elsewhere: busy_timeout) blocks the
   * event loop once per retry, not once per turn.
   */
  const flush = (attempt = true): void => {
    scheduled = undefined;
    // While degraded, one at a time: a retry never overtakes a commit the store will refuse.
    if (underWay >= (degradedBy === undefined ? depth : 1)) {
      again = true;
      return;
    }
    if (!attempt && degradedBy !== undefined) {
      refuse(take());
      return;
    }
    let result: unknown;
    try {
      const pending = changes.collect();
      if (pending === undefined && underWay > 0) {
        // Nothing new, but what the waiters saw may be in a commit under way: wait for it.
        again = true;
        return;
      }
      if (pending !== undefined) result = store.commit(pending);
    } catch (error) {
      failed(take(), error);
      return;
    }
    const batch = take();
    if (!isThenable(result)) {
      succeeded(batch);
      return;
    }
    underWay++;
    last = Promise.resolve(result).then(
      () => succeeded(batch),
      (error: unknown) => failed(batch, error),
    );
    last.finally(() => {
      underWay--;
      if (again || waiters.length > 0 || held.length > 0) {
        again = false;
        schedule();
      }
    });
  };

  const schedule = (): void => {
    if (scheduled === undefined && !closed) scheduled = setImmediate(flush, false);
  };

  return {
    afterCommit(deliver, fail) {
      waiters.push({ deliver, fail });
      schedule();
    },
    committed() {
      return new Promise((resolve, reject) => {
        waiters.push({ deliver: resolve, fail: reject });
        schedule();
      });
    },
    ensureWritable() {
      if (degradedBy !== undefined || closed) throw unavailable();
    },
    get degraded() {
      return degradedBy !== undefined;
    },
    changed: schedule,
    flush() {
      if (scheduled !== undefined) clearImmediate(scheduled);
      flush();
    },
    async close() {
      if (scheduled !== undefined) clearImmediate(scheduled);
      scheduled = undefined;
      if (closed) return;
      closed = true;
      // Synchronous stores: this flush is the last commit, done before close returns.
      while (underWay > 0) await last;
      flush();
      while (underWay > 0) await last;
      if (retry !== undefined) clearTimeout(retry);
    },
  };
}
