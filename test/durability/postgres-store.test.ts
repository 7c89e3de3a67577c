import { Code, ConnectError } from '@connectrpc/connect';
import { expect } from 'chai';
import pg from 'pg';
import { openPostgresStore, type PostgresStore } from '../../src/server/store/postgres-store.js';
import { type PostgresCluster, postgresOrSkip } from '../support/postgres-cluster.js';
import { openOn as open } from './each-store.js';
import { waitFor } from './harness.js';

const noChanges = { upsertTasks: [], removeTasks: [], upsertLeases: [], removeLeases: [] };

/** What only the PostgreSQL store has to say: a database that stalls, commits that arrive late. */
describe('PostgreSQL store', function () {
  this.timeout(30_000);
  let cluster: PostgresCluster;
  const stores: PostgresStore[] = [];
  const clients: pg.Client[] = [];

  before(async function () {
    cluster = await postgresOrSkip(this);
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) await client.end();
    for (const store of stores.splice(0)) await store.close();
  });
  const connect = async (url: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    clients.push(client);
    return client;
  };
  const openStore = async (url: string, commitTimeoutMs?: number) => {
    const store = await openPostgresStore({
      url,
      ...(commitTimeoutMs === undefined ? {} : { commitTimeoutMs }),
    });
    stores.push(store);
    return store;
  };

  it('refuses writes with UNAVAILABLE while commits time out on a lock, and stores the pending changes once it is gone', async () => {
    const url = await cluster.createDatabase();
    const { coordinator, commit } = open(await openStore(url, 300));
    coordinator.addTask({ id: 'a' });
    await commit.committed();

    const locker = await connect(url);
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE baton.tasks IN ACCESS EXCLUSIVE MODE');
    coordinator.addTask({ id: 'b' });
    const refusal = await commit.committed().then(
      () => undefined,
      (error: unknown) => error as ConnectError,
    );
    expect(refusal?.code).to.equal(Code.Unavailable);
    expect(refusal?.rawMessage).to.include('statement timeout').and.include('nothing was acknowledged');
    expect(() => commit.ensureWritable()).to.throw(ConnectError);

    await locker.query('ROLLBACK');
    await waitFor('the retry to commit', () => !commit.degraded, 5_000);
    await commit.close();
    const reopened = open(await openStore(url));
    expect(reopened.coordinator.taskQueue.toJSON().tasks.map((t) => t.id)).to.deep.equal(['a', 'b']);
    await reopened.commit.close();
  });

  it('refuses a commit numbered at or below the last one stored, so a late commit cannot land over newer ones', async () => {
    const url = await cluster.createDatabase();
    const first = await openStore(url);
    const second = await openStore(url); // read the same last commit number as the first
    await first.commit({ ...noChanges, state: 'running' });
    let refused: Error | undefined;
    try {
      await second.commit({ ...noChanges, state: 'stopped' });
    } catch (error) {
      refused = error as Error;
    }
    expect(refused?.message).to.match(/^superseded: commit 1 is older than the last one stored/);
    const state = await (await connect(url)).query("SELECT value FROM baton.meta WHERE key = 'state'");
    expect(state.rows).to.deep.equal([{ value: 'running' }]);
  });
});
