import { expect } from 'chai';
import { createWorker, type Worker, type WorkerOptions } from '../../src/client/index.js';
import { type BatonServer, type ServerOptions, startServer } from '../../src/server/server.js';
import { startCli, waitFor } from '../durability/harness.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field.
type Json = any;

describe('strict capability mode over the server', () => {
  const servers: BatonServer[] = [];
  const workers: Worker[] = [];
  /** Task id → the worker that ran it. */
  let ranBy: Map<string, string>;

  beforeEach(() => {
    ranBy = new Map();
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop({ signal: AbortSignal.abort() })));
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  async function serve(options: ServerOptions = {}): Promise<BatonServer> {
    const server = await startServer({ port: 0, store: 'memory', ...options });
    servers.push(server);
    return server;
  }

  async function worker(server: BatonServer, id: string, capabilities: string[]): Promise<Worker> {
    const options: WorkerOptions = {
      url: server.url,
      id,
      capabilities,
      maxConcurrency: 2,
      handler: async (task) => {
        ranBy.set(task.id, id);
        return { by: id };
      },
    };
    const w = createWorker(options);
    workers.push(w);
    await w.start();
    return w;
  }

  const rest = async (server: BatonServer, path: string, body?: unknown): Promise<Json> => {
    const response = await fetch(`${server.url}/api/coordination${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      ...(body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    return response.json();
  };

  it('baton serve with requireCapability: a "flaky" task waits, saying why, while llm and python workers run the rest', async () => {
    const server = await serve({ requireCapability: true });
    await worker(server, 'llm-1', ['llm']);
    await worker(server, 'py-1', ['python']);
    await rest(server, '/tasks/batch', {
      tasks: [
        { id: 'flaky-1', category: 'flaky' },
        { id: 'plan', category: 'llm' },
        { id: 'lint', category: 'python' },
      ],
    });
    await waitFor('llm and python tasks done', () => ranBy.size === 2);
    expect(ranBy.get('plan')).to.equal('llm-1');
    expect(ranBy.get('lint')).to.equal('py-1');
    const waiting = await rest(server, '/tasks/flaky-1');
    expect(waiting.status).to.equal('pending');
    expect(waiting.waitingFor).to.contain('flaky').and.contain('requireCapability');

    await worker(server, 'flaky-1w', ['flaky']);
    await waitFor('the flaky task to run', () => ranBy.has('flaky-1'));
    expect(ranBy.get('flaky-1')).to.equal('flaky-1w');
  });

  it('the default keeps the fallback; a task asks for strict mode itself over REST and over Connect JSON', async () => {
    const server = await serve();
    const connect = await fetch(`${server.url}/coord.v1.CoordinatorService/AddTask`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ task: { id: 'strict-connect', category: 'flaky', requireCapability: true } }),
    });
    expect(connect.status).to.equal(200);
    expect(((await connect.json()) as Json).task.requireCapability).to.equal(true);
    const added = await rest(server, '/tasks/batch', {
      tasks: [
        { id: 'strict-rest', category: 'flaky', requireCapability: true },
        { id: 'loose', category: 'flaky' },
      ],
    });
    expect(added.tasks.map((t: Json) => t.requireCapability)).to.deep.equal([true, false]);
    await worker(server, 'llm-1', ['llm']);
    await waitFor('the loose task to fall back', () => ranBy.has('loose'));
    expect(ranBy.get('loose')).to.equal('llm-1');
    for (const id of ['strict-connect', 'strict-rest']) {
      const task = await rest(server, `/tasks/${id}`);
      expect(task.status, id).to.equal('pending');
      expect(task.waitingFor, id).to.contain('requireCapability');
    }
    expect(ranBy.has('strict-rest')).to.equal(false);
  });

  it('refuses a requireCapability that is not a boolean, naming the field, and adds nothing', async () => {
    const server = await serve();
    const response = await fetch(`${server.url}/api/coordination/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"id":"x","requireCapability":"yes"}',
    });
    expect(response.status).to.equal(400);
    expect(server.coordinator.taskQueue.size).to.equal(0);
  });

  it('baton serve says which mode is in force, and --require-capability turns strict mode on', async function () {
    this.timeout(30_000);
    const loose = await startCli(['--port', '0', '--store', 'memory']);
    try {
      expect(loose.output()).to.contain('capability fallback').and.contain('least-loaded');
    } finally {
      await loose.kill();
    }
    const strict = await startCli(['--port', '0', '--store', 'memory', '--require-capability']);
    try {
      expect(strict.output()).to.contain('strict capability mode (--require-capability)');
      const url = /listening on (http:\/\/\S+)/.exec(strict.output())?.[1] as string;
      await fetch(`${url}/api/coordination/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'flaky-1', category: 'flaky' }),
      });
      const w = createWorker({
        url,
        id: 'llm-1',
        capabilities: ['llm'],
        maxConcurrency: 1,
        handler: async () => null,
      });
      workers.push(w);
      await w.start();
      await waitFor('the task to say why it waits', async () => {
        const task = (await (await fetch(`${url}/api/coordination/tasks/flaky-1`)).json()) as Json;
        return task.waitingFor.includes('requireCapability');
      });
      const task = (await (await fetch(`${url}/api/coordination/tasks/flaky-1`)).json()) as Json;
      expect(task.status).to.equal('pending');
    } finally {
      await strict.kill();
    }
  });
});
