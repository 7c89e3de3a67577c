import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { expect } from 'chai';
import { createWorker } from '../../src/client/index.js';
import { Health, ServingStatus } from '../../src/server/services/health-service.js';
import { getJson, type Json, leads, replicaSuite, sleep, waitFor } from './harness.js';

const addTasks = async (url: string, ids: readonly string[]): Promise<Response> =>
  fetch(`${url}/api/coordination/tasks/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ tasks: ids.map((id) => ({ id })) }),
  });

/** Two `baton serve` on one PostgreSQL database: one leads, the other stands by and takes over. */
describe('high availability: two replicas on one PostgreSQL database', function () {
  this.timeout(60_000);
  const suite = replicaSuite();
  const replica = (db: string) => suite.start(db);

  it('a standby answers NOT_SERVING and refuses writes naming the leader, and takes over within 5 s of a SIGKILL', async () => {
    const db = await suite.cluster().createDatabase();
    const a = await replica(db);
    expect(leads(a.proc)).to.equal(true);
    const b = await replica(db);
    expect(b.proc.output()).to.include(`the leader is ${a.url}`);

    const ready = await fetch(`${b.url}/readyz`);
    expect(ready.status).to.equal(503);
    const health = createClient(Health, createGrpcTransport({ baseUrl: b.url }));
    expect((await health.check({})).status).to.equal(ServingStatus.NOT_SERVING);
    expect((await createClient(Health, createGrpcTransport({ baseUrl: a.url })).check({})).status).to.equal(
      ServingStatus.SERVING,
    );
    const refused = await addTasks(b.url, ['x']);
    expect(refused.status).to.equal(503);
    expect(refused.headers.get('baton-leader')).to.equal(a.url);
    expect(((await refused.json()) as Json).message).to.equal(
      `this replica is a standby; the leader is ${a.url}`,
    );

    expect((await addTasks(a.url, ['t1', 't2', 't3'])).status).to.equal(200);
    await a.proc.kill('SIGKILL');
    const killed = Date.now();
    await waitFor('the standby to take over', () => leads(b.proc), 15_000, 20);
    const tookOver = Date.now() - killed;
    await waitFor(
      'the new leader to serve the tasks',
      async () =>
        (await getJson(b.url, '/api/coordination/tasks/t3').catch(() => undefined))?.status === 'pending',
      10_000,
      20,
    );
    const serving = Date.now() - killed;
    console.log(
      `      takeover after SIGKILL: leading after ${tookOver} ms, serving the tasks after ${serving} ms`,
    );
    expect(b.proc.output()).to.include('coordinator running, 3 task(s)');
    expect(serving).to.be.below(5_000);
  });

  it('a stalled leader (SIGSTOP) is deposed: once it wakes its writes are refused and it exits', async () => {
    const db = await suite.cluster().createDatabase();
    const a = await replica(db);
    const b = await replica(db);
    expect((await addTasks(a.url, ['before'])).status).to.equal(200);
    a.proc.child.kill('SIGSTOP');
    await waitFor('the standby to take over', () => leads(b.proc), 15_000, 20);
    expect((await addTasks(b.url, ['after'])).status).to.equal(200);

    a.proc.child.kill('SIGCONT');
    // Whatever it still answers until it notices is refused: its commits carry the old token.
    const late = await addTasks(a.url, ['late']).catch(() => undefined);
    if (late !== undefined) expect(late.status, await late.text()).to.equal(503);
    expect(await a.proc.exited).to.equal(1);
    expect(a.proc.output()).to.include('baton: deposed: another replica took over the leadership');
    await sleep(100);
    const late2 = await getJson(b.url, '/api/coordination/tasks/late').catch((e: Error) => e.message);
    expect(String(JSON.stringify(late2))).to.include('404');
    expect((await getJson(b.url, '/api/coordination/tasks/after')).status).to.equal('pending');
  });

  it('a worker given every replica URL follows the leader across a SIGKILL; each task completes once', async () => {
    const db = await suite.cluster().createDatabase();
    const a = await replica(db);
    const b = await replica(db);
    const ids = Array.from({ length: 200 }, (_, i) => `t${i}`);
    expect((await addTasks(a.url, ids)).status).to.equal(200);
    const done = new Map<string, number>();
    const worker = createWorker({
      url: b.url, // the standby first: it names the leader, and the worker goes there
      urls: [b.url, a.url],
      id: 'w',
      maxConcurrency: 4,
      reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
      async handler(task) {
        await sleep(5);
        done.set(task.id, (done.get(task.id) ?? 0) + 1);
        return { ok: true };
      },
    });
    await worker.start();
    try {
      await waitFor('some tasks done on the first leader', () => done.size >= 40, 20_000, 5);
      await a.proc.kill('SIGKILL');
      await waitFor(
        'every task complete on the new leader',
        async () =>
          (await getJson(b.url, '/api/coordination/progress').catch(() => undefined))?.complete ===
          ids.length,
        30_000,
        50,
      );
    } finally {
      await worker.stop();
    }
    expect(leads(b.proc)).to.equal(true);
    const statuses = new Set<string>();
    for (const id of ids) statuses.add((await getJson(b.url, `/api/coordination/tasks/${id}`)).status);
    expect([...statuses]).to.deep.equal(['complete']);
    expect(
      [...done.values()].filter((n) => n !== 1),
      'tasks run more than once',
    ).to.deep.equal([]);
    expect(done.size).to.equal(ids.length);
  });
});
