import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import type { StoreChanges } from '../../src/core/store.js';
import { createTaskQueue, type TaskQueue } from '../../src/core/task-queue.js';
import { encodeCommit } from '../../src/server/store/sqlite-commit.js';
import {
  LOG_KEEP,
  openSqliteConnection,
  type SqliteConnection,
} from '../../src/server/store/sqlite-connection.js';
import { tempDir } from './harness.js';

/** What a restore must bring back of each task. */
const essentials = (
  tasks: readonly { id: string; status: string; workerId: string | null; result: unknown }[],
) => tasks.map(({ id, status, workerId, result }) => ({ id, status, workerId, result }));

describe('durability: SQLite appends task transitions to a log and folds it into task_state', function () {
  this.timeout(60_000);
  let dir: ReturnType<typeof tempDir>;
  let path: string;
  let connection: SqliteConnection | undefined;

  beforeEach(() => {
    dir = tempDir('baton-log-');
    path = join(dir.path, 'baton.db');
  });
  afterEach(() => {
    connection?.close();
    connection = undefined;
    dir.remove();
  });

  /** Commits the tasks `ids` of `queue` as they are now. */
  const commit = (
    c: SqliteConnection,
    queue: TaskQueue,
    ids: readonly string[],
    removeTasks: string[] = [],
  ) => {
    const changes: StoreChanges = {
      nextSeq: queue.nextSeq,
      upsertTasks: ids.flatMap((id) => queue.rowOf(id) ?? []),
      removeTasks,
      upsertLeases: [],
      removeLeases: [],
      ...(c.storedNextSeq === 0 ? { state: 'running' as const } : {}),
    };
    c.apply(encodeCommit(changes, c.storedNextSeq));
  };
  const logged = (): number => {
    const db = new Database(path, { readonly: true });
    const n = db.prepare('SELECT coalesce(sum(count), 0) FROM task_log').pluck().get() as number;
    db.close();
    return n;
  };

  it("a restore reads each task's latest state, whether still in the log or folded into task_state", () => {
    connection = openSqliteConnection({ path });
    const queue = createTaskQueue({ now: () => 1_000 });
    const ids = Array.from({ length: LOG_KEEP }, (_, i) => `t${i}`);
    queue.addMany(ids.map((id) => ({ id })));
    commit(connection, queue, ids);
    for (const id of ids) queue.assign(id, 'w1');
    commit(connection, queue, ids);
    const done = ids.filter((_, i) => i % 2 === 0);
    for (const id of done) queue.complete(id, { n: id }, { workerId: 'w1', attempt: 1 });
    commit(connection, queue, done);
    const expected = essentials(ids.map((id) => queue.get(id) as NonNullable<ReturnType<TaskQueue['get']>>));
    expect(essentials(connection.load()?.tasks.tasks ?? [])).to.deep.equal(expected);

    // A step folds whole log rows (one commit's tasks each) until it has folded about a thousand.
    let steps = 1;
    while (connection.foldStep()) steps++;
    expect(steps).to.equal(2);
    expect(essentials(connection.load()?.tasks.tasks ?? [])).to.deep.equal(expected);
    connection.close();
    expect(logged(), 'states left in the log').to.be.at.most(LOG_KEEP);
    connection = openSqliteConnection({ path });
    expect(essentials(connection.load()?.tasks.tasks ?? [])).to.deep.equal(expected);
  });

  it('a task removed while its states are in the log stays removed once they are folded', () => {
    connection = openSqliteConnection({ path });
    const queue = createTaskQueue({ now: () => 1_000 });
    const ids = Array.from({ length: LOG_KEEP }, (_, i) => `t${i}`);
    queue.addMany([{ id: 'gone' }, ...ids.map((id) => ({ id }))]);
    commit(connection, queue, ['gone', ...ids]);
    queue.assign('gone', 'w1');
    commit(connection, queue, ['gone']);
    queue.complete('gone', undefined, { workerId: 'w1', attempt: 1 });
    queue.remove('gone');
    commit(connection, queue, [], ['gone']);
    for (const id of ids) queue.assign(id, 'w1');
    commit(connection, queue, ids);
    while (connection.foldStep());
    const tasks = connection.load()?.tasks.tasks ?? [];
    expect(tasks.map((t) => t.id)).to.deep.equal(ids);
    connection.close();
    connection = undefined;
    const db = new Database(path, { readonly: true });
    expect(db.prepare('SELECT count(*) FROM task_state WHERE seq = 0').pluck().get()).to.equal(0);
    db.close();
  });
});
