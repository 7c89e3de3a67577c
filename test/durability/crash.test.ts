import { join } from 'node:path';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { expect } from 'chai';
import {
  createAdminClient,
  createWorker,
  type NewTask,
  TaskStatus,
  type Worker,
} from '../../src/client/index.js';
import { type PostgresCluster, postgresOrSkip } from '../support/postgres-cluster.js';
import {
  freePort,
  getJson,
  newTally,
  type ReportTally,
  type ServerProcess,
  seeded,
  sleep,
  startCli,
  tallyInterceptor,
  tempDir,
  waitFor,
} from './harness.js';

const TASKS = 5000;
const WORKERS = 32;
const CONCURRENCY = 4;
const KILLS = 5;
const COST_USD = 0.001;
const SEED = Number(process.env.BATON_CRASH_SEED ?? 20240607);

/** A DAG: each task depends on up to two of the 400 tasks added before it. */
function dag(random: () => number): NewTask[] {
  const tasks: NewTask[] = [];
  for (let i = 0; i < TASKS; i++) {
    const deps = new Set<string>();
    const n = i === 0 ? 0 : Math.floor(random() * 3);
    for (let d = 0; d < n; d++) deps.add(`t${Math.max(0, i - 1 - Math.floor(random() * 400))}`);
    tasks.push({ id: `t${i}`, deps: [...deps], metadata: { i } });
  }
  return tasks;
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`durability: SIGKILL of the server under load (${kind} store)`, function () {
    this.timeout(120_000);
    let cluster: PostgresCluster | undefined;
    if (kind === 'postgres') {
      before(async function () {
        cluster = await postgresOrSkip(this);
      });
    }

    it(`completes a ${TASKS}-task DAG exactly once across ${KILLS} kills, with spend equal to acked costs`, async () => {
      const random = seeded(SEED);
      const dir = tempDir('baton-crash-');
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const store =
        cluster === undefined
          ? ['--db', join(dir.path, 'baton.db')]
          : ['--store', await cluster.createDatabase()];
      const args = ['--port', String(port), ...store, '--lease-ttl-ms', '5000'];
      let server: ServerProcess = await startCli(args);
      const workers: Worker[] = [];
      const tallies: ReportTally[] = [];
      const restarts: number[] = [];
      try {
        const admin = createAdminClient({ url, defaultTimeoutMs: 10_000 });
        const tasks = dag(random);
        for (let i = 0; i < tasks.length; i += 1000) await admin.addTasks(tasks.slice(i, i + 1000));

        for (let w = 0; w < WORKERS; w++) {
          const tally = newTally();
          tallies.push(tally);
          const worker = createWorker({
            url,
            id: `w${w}`,
            capabilities: [],
            maxConcurrency: CONCURRENCY,
            transport: createGrpcTransport({ baseUrl: url, interceptors: [tallyInterceptor(tally)] }),
            reconnect: { initialDelayMs: 20, maxDelayMs: 300 },
            async handler(_task, ctx) {
              await sleep(1 + Math.floor(Math.random() * 4));
              await ctx.reportCost({ totalUsd: COST_USD, inputTokens: 100, outputTokens: 20 });
              return { ok: true };
            },
          });
          workers.push(worker);
        }
        await Promise.all(workers.map((w) => w.start()));

        const acked = (): number => {
          let n = 0;
          for (const t of tallies) n += t.completions.size;
          return n;
        };
        // One kill in each fifth of the run, at a seeded point inside it.
        const killAt = Array.from({ length: KILLS }, (_, i) =>
          Math.floor(TASKS * (0.03 + (0.9 * (i + random())) / KILLS)),
        );
        for (const threshold of killAt) {
          await waitFor(`${threshold} acked completions`, () => acked() >= threshold, 60_000, 2);
          await sleep(Math.floor(random() * 25));
          await server.kill('SIGKILL');
          const t0 = Date.now();
          server = await startCli(args);
          restarts.push(Date.now() - t0);
        }

        await waitFor(
          'every task to complete',
          async () => (await admin.progress().catch(() => undefined))?.complete === TASKS,
          60_000,
          100,
        );
        // Graceful stops wait for every outstanding receipt, so the tallies below are final.
        await Promise.all(workers.map((w) => w.stop()));

        const stored: string[] = [];
        for await (const t of admin.listAllTasks({ limit: 1000 })) {
          if (t.status !== TaskStatus.COMPLETE) stored.push(`${t.id}: ${TaskStatus[t.status]}`);
        }
        expect(stored, 'tasks not complete').to.deep.equal([]);

        const perTask = new Map<string, number>();
        for (const t of tallies)
          for (const [id, n] of t.completions) perTask.set(id, (perTask.get(id) ?? 0) + n);
        const wrong = tasks.map((t) => [t.id, perTask.get(t.id) ?? 0] as const).filter(([, n]) => n !== 1);
        expect(wrong, 'tasks without exactly one acked completion').to.deep.equal([]);
        expect(perTask.size).to.equal(TASKS);
        for (const t of tallies) {
          for (const code of t.refusals.keys())
            expect(code, 'only stale reports may be refused').to.equal('ABORTED');
        }

        const costs = await getJson(url, '/api/coordination/costs');
        const ackedMicros = tallies.reduce((sum, t) => sum + t.costMicros, 0);
        expect(Math.round(costs.global.spentUsd * 1e6)).to.equal(ackedMicros);
        for (const [w, t] of tallies.entries()) {
          const row = costs.workers.find((r: { workerId: string }) => r.workerId === `w${w}`);
          expect(Math.round((row?.spend.spentUsd ?? 0) * 1e6), `spend of w${w}`).to.equal(t.costMicros);
        }
        expect(ackedMicros).to.be.at.least(TASKS * COST_USD * 1e6);
        console.log(
          `      kills at ${killAt.join(', ')} acked completions; restarts took ${restarts.join(', ')} ms; ` +
            `${ackedMicros / 1000} cost reports acked; stale refusals ${tallies.reduce((s, t) => s + (t.refusals.get('ABORTED') ?? 0), 0)}`,
        );
        expect(await server.kill('SIGTERM')).to.equal(0);
      } finally {
        await Promise.all(workers.map((w) => w.stop({ signal: AbortSignal.abort() })));
        await server.kill('SIGKILL');
        dir.remove();
      }
    });
  });
}
