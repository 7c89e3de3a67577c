import { expect } from 'chai';
import { createAdminClient, createWorker } from '../../src/client/index.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { parseExposition } from './exposition.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('GET /metrics', () => {
  let server: BatonServer;
  afterEach(() => server?.close());

  it('shows, after real work over gRPC and Connect, what the fleet did', async () => {
    server = await startServer({ port: 0, globalBudgetUsd: 10 });
    const admin = createAdminClient({ url: server.url });
    await admin.addTasks([
      { id: 'plan', category: 'llm' },
      { id: 'code', category: 'llm', deps: ['plan'] },
      { id: 'lint', category: 'ci' },
    ]);
    const worker = createWorker({
      url: server.url,
      id: 'w1',
      capabilities: ['llm', 'ci'],
      maxConcurrency: 2,
      async handler(task, { reportCost }) {
        if (task.category === 'ci') throw new Error('lint found 3 problems');
        const reservation = await worker.acquire(100);
        await reservation.settle(40);
        await reportCost({ totalUsd: 0.25, inputTokens: 30, outputTokens: 10 });
        return { ok: true };
      },
    });
    await worker.start();
    while ((await admin.progress()).complete + (await admin.progress()).failed < 3) await sleep(10);
    await worker.stop();
    await admin.addTask({ id: 'later', category: 'llm' });

    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).to.equal(200);
    expect(response.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
    const m = parseExposition(await response.text());
    expect(m.value('baton_tasks', { status: 'complete' })).to.equal(2);
    expect(m.value('baton_tasks', { status: 'failed' })).to.equal(1);
    expect(m.value('baton_tasks_ready')).to.equal(1);
    expect(m.value('baton_tasks_completed_total', { category: 'llm' })).to.equal(2);
    expect(m.value('baton_tasks_failed_total', { category: 'ci' })).to.equal(1);
    expect(m.value('baton_task_assignments_total')).to.equal(3);
    expect(m.value('baton_task_run_seconds_count')).to.equal(3);
    expect(m.value('baton_worker_joins_total')).to.equal(1);
    expect(m.value('baton_rate_limit_grants_total')).to.equal(2);
    expect(m.value('baton_rate_limit_granted_tokens_total')).to.equal(80);
    expect(m.value('baton_cost_spent_usd')).to.equal(0.5);
    expect(m.value('baton_cost_budget_usd')).to.equal(10);
    expect(m.value('baton_store_commit_seconds_count')).to.be.greaterThan(0);
    const add = { protocol: 'connect', route: '/coord.v1.CoordinatorService/BatchAddTasks', code: '200' };
    expect(m.value('baton_http_requests_total', add)).to.equal(1);
    const session = { protocol: 'grpc', route: '/coord.v1.WorkerService/Session' };
    expect(m.value('baton_http_request_duration_seconds_count', session)).to.equal(1);
    expect(m.families).to.include('nodejs_eventloop_lag_seconds');
    expect(m.families).to.include('process_cpu_user_seconds_total');
  });

  it('is not served when metrics are off', async () => {
    server = await startServer({ port: 0, metrics: false });
    expect((await fetch(`${server.url}/metrics`)).status).to.equal(404);
  });
});
