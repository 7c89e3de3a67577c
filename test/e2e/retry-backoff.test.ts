import { join } from 'node:path';
import { expect } from 'chai';
import { createWorker, RetryableError, type Worker } from '../../src/client/index.js';
import { type BatonServer, type ServerOptions, startServer } from '../../src/server/server.js';
import { tempDir, waitFor } from '../durability/harness.js';
import { type Json, rest as restJson } from '../support/json-http.js';

/**
 * Retry backoff and scheduled tasks through the real server: the runtime's one wake timer
 * dispatches a task when it comes due, to a worker that never asks again (waitRetryMs: 0), and a
 * restart on the same SQLite file honours the not-before time it stored. Only lower bounds of
 * time are asserted (never "within N ms"), so a loaded machine cannot make them fail.
 */
describe('retry backoff and scheduled tasks over the server', () => {
  const servers: BatonServer[] = [];
  const workers: Worker[] = [];
  let dir: ReturnType<typeof tempDir>;

  beforeEach(() => {
    dir = tempDir('baton-not-before-');
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop({ signal: AbortSignal.abort() })));
    await Promise.all(servers.splice(0).map((s) => s.close()));
    dir.remove();
  });

  async function serve(options: ServerOptions = {}): Promise<BatonServer> {
    const server = await startServer({ port: 0, store: 'memory', ...options });
    servers.push(server);
    return server;
  }

  /** A worker that asks once and then only waits for the coordinator to push work. */
  async function worker(
    server: BatonServer,
    handler: (id: string, attempt: number) => unknown,
  ): Promise<Worker> {
    const w = createWorker({
      url: server.url,
      id: `w${workers.length}`,
      maxConcurrency: 2,
      waitRetryMs: 0,
      handler: async (task) => handler(task.id, task.attempt),
    });
    workers.push(w);
    await w.start();
    return w;
  }

  const rest = (server: BatonServer, path: string, body?: unknown): Promise<Json> =>
    restJson(server.url, path, body);

  it('a retryable failure waits its backoff between attempts, and the task says why while it waits', async () => {
    const server = await serve();
    const starts: number[] = [];
    const waits: string[] = [];
    await worker(server, (_id, attempt) => {
      starts.push(Date.now());
      if (attempt < 3) throw new RetryableError('rate limited');
      return { ok: true };
    });
    server.coordinator.events.on('coord:task-requeued', ({ task }) => {
      if (task.waitingFor !== null) waits.push(task.waitingFor);
    });
    const added = await rest(server, '/tasks', {
      id: 'flaky',
      retryBackoff: { initialMs: 300, maxMs: 300, multiplier: 1 },
    });
    expect(added.retryBackoff).to.deep.equal({ initialMs: 300, maxMs: 300, multiplier: 1 });
    await waitFor(
      'a backoff to show',
      async () => (await rest(server, '/tasks/flaky')).notBefore !== undefined,
    );
    const waiting = await rest(server, '/tasks/flaky');
    expect(waiting.status).to.equal('pending');
    expect(waiting.waitingFor).to.match(/^retry backoff after 1 failed attempt: not before /);
    expect(Date.parse(waiting.notBefore)).to.be.greaterThan(starts[0] as number);

    await waitFor(
      'the third attempt to complete',
      async () => (await rest(server, '/tasks/flaky')).status === 'complete',
    );
    expect(starts).to.have.length(3);
    // Each wait is drawn from [150, 300) ms: never less than half the ceiling.
    expect((starts[1] as number) - (starts[0] as number)).to.be.at.least(150);
    expect((starts[2] as number) - (starts[1] as number)).to.be.at.least(150);
    expect(waits.length).to.equal(2);
  });

  it('a task scheduled with delayMs (REST) or runAt (Connect JSON) is pushed to an idle worker when due, not before', async () => {
    const server = await serve();
    const ranAt = new Map<string, number>();
    await worker(server, (id) => {
      ranAt.set(id, Date.now());
      return null;
    });
    const addedAt = Date.now();
    const later = await rest(server, '/tasks', { id: 'later', delayMs: 400 });
    expect(later.waitingFor).to.match(/^scheduled: not before /);
    expect(Date.parse(later.runAt)).to.equal(Date.parse(later.notBefore));
    const runAt = new Date(addedAt + 600).toISOString();
    const connect = await fetch(`${server.url}/coord.v1.CoordinatorService/AddTask`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ task: { id: 'at', runAt } }),
    });
    expect(connect.status).to.equal(200);
    expect(((await connect.json()) as Json).task.runAt).to.equal(runAt);

    await waitFor('both to run', () => ranAt.size === 2);
    expect((ranAt.get('later') as number) - addedAt).to.be.at.least(400);
    expect(ranAt.get('at') as number).to.be.at.least(Date.parse(runAt));
  });

  it('a restart on the same SQLite file honours the not-before time it stored', async function () {
    this.timeout(20_000);
    const dbPath = join(dir.path, 'baton.db');
    const first = await serve({ store: 'sqlite', dbPath });
    const added = await rest(first, '/tasks', { id: 'tomorrowish', delayMs: 1_500 });
    const notBefore = Date.parse(added.notBefore);
    await first.close();
    servers.splice(servers.indexOf(first), 1);

    const second = await serve({ store: 'sqlite', dbPath });
    const restored = await rest(second, '/tasks/tomorrowish');
    expect(Date.parse(restored.notBefore)).to.equal(notBefore);
    expect(restored.waitingFor).to.match(/^scheduled: not before /);
    let ranAt: number | undefined;
    await worker(second, () => {
      ranAt = Date.now();
      return null;
    });
    await waitFor('the task to run after the restart', () => ranAt !== undefined);
    expect(ranAt as number).to.be.at.least(notBefore);
  });
});
