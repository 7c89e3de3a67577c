import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import type { Store, StoreChanges, TaskRow } from '../../src/core/store.js';
import { createTaskQueue } from '../../src/core/task-queue.js';
import { openSqliteStore, StoreOpenError } from '../../src/server/store/sqlite-store.js';
import { openOn } from './each-store.js';
import { tempDir } from './harness.js';

const nothing: StoreChanges = { upsertTasks: [], removeTasks: [], upsertLeases: [], removeLeases: [] };

/** Whether `promise` has settled after the event loop has gone round `turns` timer turns. */
async function settledWithin(promise: Promise<unknown>, turns: number): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let i = 0; i < turns && !settled; i++) await new Promise((go) => setTimeout(go, 5));
  return settled;
}

describe('durability: the SQLite store writes in its own thread', function () {
  this.timeout(20_000);
  let dir: ReturnType<typeof tempDir>;
  let dbPath: string;
  let store: Store | undefined;
  let other: Database.Database | undefined;

  beforeEach(() => {
    dir = tempDir('baton-thread-');
    dbPath = join(dir.path, 'baton.db');
  });
  afterEach(() => {
    if (other?.inTransaction) other.exec('ROLLBACK');
    other?.close();
    other = undefined;
    store?.close();
    store = undefined;
    dir.remove();
  });

  /** Another connection's write lock, which the store's commits wait out (busy_timeout). */
  const lock = (): void => {
    other = new Database(dbPath);
    other.exec('BEGIN EXCLUSIVE');
  };

  it('the event loop goes on while a commit waits for SQLite, and the commit lands after', async () => {
    store = openSqliteStore({ path: dbPath, pragmas: { busy_timeout: 10_000 } });
    lock();
    const commit = store.commit({ ...nothing, state: 'running' }) as Promise<void>;
    expect(commit).to.be.an.instanceOf(Promise);
    // Forty timer turns run while SQLite waits for the lock: the loop is not blocked.
    expect(await settledWithin(commit, 40)).to.equal(false);
    other?.exec('ROLLBACK');
    await commit;
    expect(store.load()?.state).to.equal('running');
  });

  it('answers wait for their commit: committed() resolves only once SQLite has the change', async () => {
    store = openSqliteStore({ path: dbPath, pragmas: { busy_timeout: 10_000 } });
    const { coordinator, commit } = openOn(store);
    await commit.committed();
    lock();
    coordinator.addTask({ id: 'a' });
    const stored = commit.committed();
    expect(await settledWithin(stored, 40)).to.equal(false);
    // Changes made while that commit waits go in the next one, and wait for it.
    coordinator.addTask({ id: 'b' });
    const later = commit.committed();
    other?.exec('ROLLBACK');
    await stored;
    await later;
    await commit.close();
    store.close();
    store = openSqliteStore({ path: dbPath });
    expect(store.load()?.tasks.tasks.map((t) => t.id)).to.deep.equal(['a', 'b']);
  });

  it('a commit SQLite refuses rejects with its reason, and the store goes on after', async () => {
    store = openSqliteStore({ path: dbPath, pragmas: { busy_timeout: 0 } });
    lock();
    const error = await (store.commit({ ...nothing, state: 'running' }) as Promise<void>).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(error?.message).to.match(/database is locked/);
    expect(error?.code).to.equal('SQLITE_BUSY');
    other?.exec('ROLLBACK');
    await store.commit({ ...nothing, state: 'draining' });
    expect(store.load()?.state).to.equal('draining');
  });

  it('after a failed commit, the thread refuses the commits sent behind it, and takes the next one', async () => {
    store = openSqliteStore({ path: dbPath });
    await store.commit({ ...nothing, state: 'running' });
    // Two new tasks under one seq: SQLite refuses that commit (task_specs' key).
    const queue = createTaskQueue({ now: () => 1 });
    queue.addMany([{ id: 'x' }, { id: 'y' }]);
    const x = queue.rowOf('x') as TaskRow;
    const y = { ...(queue.rowOf('y') as TaskRow), seq: x.seq };
    const failed = store.commit({ ...nothing, nextSeq: 2, upsertTasks: [x, y] });
    const behind = store.commit({ ...nothing, state: 'draining' });
    const [first, second] = await Promise.allSettled([failed, behind]);
    expect(first?.status).to.equal('rejected');
    expect(second?.status).to.equal('rejected');
    expect(String((second as PromiseRejectedResult).reason)).to.match(/an earlier commit failed/);
    expect(store.load()?.state).to.equal('running');
    // Sent once the failure was heard: written, with the specs of the tasks the failed one held.
    await store.commit({
      ...nothing,
      state: 'draining',
      nextSeq: 2,
      upsertTasks: [x, queue.rowOf('y') as TaskRow],
    });
    expect(store.load()?.state).to.equal('draining');
    expect(store.load()?.tasks.tasks.map((t) => t.id)).to.deep.equal(['x', 'y']);
  });

  it('a file the thread cannot use is refused while opening, with StoreOpenError', () => {
    expect(() => openSqliteStore({ path: dbPath, pragmas: { 'bad name': 1 } })).to.throw(
      StoreOpenError,
      /invalid pragma/,
    );
  });
});
