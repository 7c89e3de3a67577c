import { join } from 'node:path';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { expect } from 'chai';
import { createAdminClient, createWorker, type Worker } from '../../src/client/index.js';
import {
  freePort,
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
import {
  ackedCompletions,
  CONCURRENCY,
  COST_USD,
  dag,
  everyTaskComplete,
  expectExactlyOnce,
  KILLS,
  killPoints,
  SEED,
  TASKS,
  WORKERS,
} from './kill-run.js';

// The same run with two replicas on PostgreSQL, the leader killed, is replica-kill.test.ts.
describe('durability: SIGKILL of the server under load (sqlite store)', function () {
  this.timeout(120_000);

  it(`completes a ${TASKS}-task DAG exactly once across ${KILLS} kills, with spend equal to acked costs`, async () => {
    const random = seeded(SEED);
    const dir = tempDir('baton-crash-');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const args = ['--port', String(port), '--db', join(dir.path, 'baton.db'), '--lease-ttl-ms', '5000'];
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

      const killAt = killPoints(random);
      for (const threshold of killAt) {
        await waitFor(
          `${threshold} acked completions`,
          () => ackedCompletions(tallies) >= threshold,
          60_000,
          2,
        );
        await sleep(Math.floor(random() * 25));
        await server.kill('SIGKILL');
        const t0 = Date.now();
        server = await startCli(args);
        restarts.push(Date.now() - t0);
      }

      await everyTaskComplete(admin);
      // Graceful stops wait for every outstanding receipt, so the tallies are final.
      await Promise.all(workers.map((w) => w.stop()));
      const verdict = await expectExactlyOnce(
        admin,
        tasks,
        tallies,
        workers.map((_, w) => `w${w}`),
      );
      console.log(
        `      kills at ${killAt.join(', ')} acked completions; restarts took ${restarts.join(', ')} ms; ` +
          `${verdict.ackedMicros / 1000} cost reports acked; stale refusals ${verdict.staleRefusals}`,
      );
      expect(await server.kill('SIGTERM')).to.equal(0);
    } finally {
      await Promise.all(workers.map((w) => w.stop({ signal: AbortSignal.abort() })));
      await server.kill('SIGKILL');
      dir.remove();
    }
  });
});
