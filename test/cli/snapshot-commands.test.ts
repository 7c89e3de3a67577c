import { expect } from 'chai';
import { createAdminClient, createWorker, type Worker } from '../../src/client/index.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { baton, type Json, restGet } from './run-baton.js';

/** `baton status`, `costs` and `rate-limit`, spawned for real against a live server. */
describe('baton status, costs and rate-limit against a live coordinator', function () {
  this.timeout(30_000);
  let server: BatonServer;
  let worker: Worker;
  let env: NodeJS.ProcessEnv;
  const rest = (path: string): Promise<Json> => restGet(server.url, path);

  before(async () => {
    server = await startServer({ port: 0, store: 'memory', globalBudgetUsd: 10, perWorkerBudgetUsd: 4 });
    env = { BATON_URL: server.url };
    worker = createWorker({
      url: server.url,
      id: 'agent-1',
      capabilities: ['llm'],
      maxConcurrency: 3,
      async handler(_task, { reportCost }) {
        const reservation = await worker.acquire(500);
        await reservation.settle(400);
        await reportCost({ totalUsd: 1.25, inputTokens: 300, outputTokens: 100 });
        return 'ok';
      },
    });
    await worker.start();
    const admin = createAdminClient({ url: server.url });
    await admin.addTasks([
      { id: 'a', category: 'llm' },
      { id: 'b', deps: ['a'] },
    ]);
    for (let i = 0; i < 200 && (await admin.progress()).complete < 2; i++) {
      await new Promise((done) => setTimeout(done, 25));
    }
  });
  after(async () => {
    await worker.stop({ signal: AbortSignal.timeout(2000) }).catch(() => {});
    await server.close();
  });

  it('status shows the state, the counts, the spend and each worker with its load', async () => {
    const run = await baton(['status'], env);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.match(/^coordinator {2}running, strategy capability, lease 30s\n/);
    expect(run.stdout).to.include('tasks        2 tasks: 2 complete; 100.0% complete');
    expect(run.stdout).to.include('costs        $2.50 of $10.00 (25.0%), $7.50 left');
    expect(run.stdout).to.match(
      /\nWORKER\s+STATE\s+LOAD\s+CAPABILITIES\s+JOINED\s+LEASE\nagent-1\s+idle\s+0\/3\s+llm\s/,
    );
  });

  it('status --json is what GET /status answers, the volatile parts aside', async () => {
    const run = await baton(['status', '--json'], env);
    const json = JSON.parse(run.stdout);
    const answer = await rest('/status');
    expect(Object.keys(json)).to.deep.equal(Object.keys(answer));
    expect([json.state, json.strategy, json.progress]).to.deep.equal([
      answer.state,
      answer.strategy,
      answer.progress,
    ]);
    expect(json.costs).to.deep.equal(answer.costs);
  });

  it('costs lists the global spend and each worker against its budget', async () => {
    const run = await baton(['costs'], env);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include('global   $2.50 of $10.00 (25.0%), $7.50 left');
    expect(run.stdout).to.include('budgets  $4.00 per worker; warning at 80.0%');
    expect(run.stdout).to.match(/agent-1\s+\$2\.50\s+\$4\.00\s+\$1\.50\s+600\s+200\s*\n/);
    expect(JSON.parse((await baton(['costs', '--json'], env)).stdout)).to.deep.equal(await rest('/costs'));
  });

  it("rate-limit shows the buckets and each worker's usage", async () => {
    const run = await baton(['rate-limit'], env);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.match(
      /^requests {2}\d+ of 600 per minute free\ntokens {4}\d+ of 1000000 per minute free\n/,
    );
    expect(run.stdout).to.match(/\nagent-1\s+2\s+800\s+0\n/);
    const json = JSON.parse((await baton(['rate-limit', '--json'], env)).stdout);
    expect(json.workers).to.deep.equal((await rest('/rate-limit')).workers);
  });

  it('reads BATON_URL, and --url wins over it; nothing answering exits 4 naming the URL', async () => {
    expect((await baton(['status', '--url', server.url], { BATON_URL: 'http://127.0.0.1:1' })).code).to.equal(
      0,
    );
    const down = await baton(['costs'], { BATON_URL: 'http://127.0.0.1:1' });
    expect(down.code).to.equal(4);
    expect(down.stderr).to.match(/^baton: no coordinator answered at http:\/\/127\.0\.0\.1:1 /);
    expect(down.stdout).to.equal('');
  });
});
