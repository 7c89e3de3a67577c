import { expect } from 'chai';
import pg from 'pg';
import { type PostgresCluster, postgresOrSkip } from '../support/postgres-cluster.js';
import { freePort, getJson, type Json, runCli, type ServerProcess, startCli } from './harness.js';

const urlOf = (server: ServerProcess): string => {
  const match = /listening on (http:\/\/\S+)/.exec(server.output());
  if (match?.[1] === undefined) throw new Error(`no URL in:\n${server.output()}`);
  return match[1];
};

const addTasks = async (url: string, ids: readonly string[]): Promise<void> => {
  const response = await fetch(`${url}/api/coordination/tasks/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ tasks: ids.map((id) => ({ id })) }),
  });
  expect(response.status, await response.text()).to.equal(200);
};

const query = async (url: string, sql: string): Promise<pg.QueryResult> => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
};

/** `baton serve --store postgres://…`: the CLI on a throwaway cluster, restarted on one database. */
describe('baton serve --store postgres://', function () {
  this.timeout(60_000);
  let cluster: PostgresCluster;
  let server: ServerProcess | undefined;

  before(async function () {
    cluster = await postgresOrSkip(this);
  });
  afterEach(async () => {
    await server?.kill();
    server = undefined;
  });

  it('keeps its tasks across a SIGKILL, and BATON_STORE names the database as --store does', async () => {
    const db = await cluster.createDatabase();
    server = await startCli(['--port', '0', '--store', db]);
    expect(server.output()).to.include(`state in ${db}`);
    await addTasks(urlOf(server), ['a', 'b', 'c']);
    await server.kill('SIGKILL');

    server = await startCli(['--port', '0'], { BATON_STORE: db });
    expect(server.output()).to.include('coordinator running, 3 task(s)');
    const task = (await getJson(urlOf(server), '/api/coordination/tasks/b')) as Json;
    expect(task.status).to.equal('pending');
  });

  it('refuses a database it cannot reach, saying why, and exits 1', async () => {
    const nobody = `postgres://baton:secret@127.0.0.1:${await freePort()}/baton`;
    const refused = runCli(['--port', '0', '--store', nobody]);
    expect(await refused.exited).to.equal(1);
    expect(refused.output()).to.match(
      /baton: cannot start: cannot open postgres:\/\/baton:\*\*\*@127\.0\.0\.1:\d+\/baton as a Baton store: .*ECONNREFUSED/,
    );
    expect(refused.output()).to.not.include('secret');
  });

  it('refuses a baton schema that is not its own and one from a newer Baton, touching neither', async () => {
    const foreign = await cluster.createDatabase();
    await query(foreign, 'CREATE SCHEMA baton; CREATE TABLE baton.mine (x int)');
    const refusedForeign = runCli(['--port', '0', '--store', foreign]);
    expect(await refusedForeign.exited).to.equal(1);
    expect(refusedForeign.output()).to.include('has a schema named baton that does not belong to Baton');
    const tables = await query(foreign, "SELECT tablename FROM pg_tables WHERE schemaname = 'baton'");
    expect(tables.rows.map((r) => r.tablename)).to.deep.equal(['mine']);

    const newer = await cluster.createDatabase();
    server = await startCli(['--port', '0', '--store', newer]);
    await server.kill('SIGTERM');
    server = undefined;
    await query(newer, 'UPDATE baton.schema_version SET version = 99');
    const refusedNewer = runCli(['--port', '0', '--store', newer]);
    expect(await refusedNewer.exited).to.equal(1);
    expect(refusedNewer.output()).to.match(
      /has Baton schema version 99, newer than this Baton understands \(\d+\); upgrade Baton/,
    );
    const version = await query(newer, 'SELECT version FROM baton.schema_version');
    expect(version.rows).to.deep.equal([{ version: 99 }]);
  });
});
