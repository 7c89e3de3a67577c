import { type ChildProcess, fork } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { createAdminClient } from '../../src/client/index.js';
import type { FleetReport } from './fixtures/fleet-workers.js';
import { leads, type Replica, type ReportTally, replicaSuite, seeded, sleep, waitFor } from './harness.js';
import {
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

const FIXTURE = resolve(dirname(fileURLToPath(import.meta.url)), 'fixtures/fleet-workers.js');
/** Worker processes; WORKERS / FLEETS SDK workers in each. */
const FLEETS = 4;

/** A process of SDK workers (fixtures/fleet-workers.ts), and its report once stopped. */
interface Fleet {
  readonly child: ChildProcess;
  readonly welcomed: Promise<void>;
  readonly report: Promise<FleetReport>;
  output(): string;
}

function startFleet(urls: readonly string[], first: number, count: number): Fleet {
  const child = fork(
    FIXTURE,
    [urls.join(','), String(first), String(count), String(CONCURRENCY), String(COST_USD)],
    {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    },
  );
  let text = '';
  for (const stream of [child.stdout, child.stderr]) stream?.on('data', (chunk: Buffer) => (text += chunk));
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`worker process exited with ${code}:\n${text}`))),
  );
  exited.catch(() => {});
  const message = <T>(match: (m: unknown) => m is T): Promise<T> =>
    Promise.race([
      new Promise<T>((done) => {
        const listen = (m: unknown) => {
          if (!match(m)) return;
          child.off('message', listen);
          done(m);
        };
        child.on('message', listen);
      }),
      exited,
    ]);
  return {
    child,
    welcomed: message((m): m is 'welcomed' => m === 'welcomed').then(() => {}),
    report: message((m): m is FleetReport => typeof m === 'object' && m !== null && 'workers' in m),
    output: () => text,
  };
}

/** A fleet worker's tally as the harness keeps it. */
const tallyOf = (w: FleetReport['workers'][number]): ReportTally => ({
  completions: new Map(w.completions),
  attempts: new Map(w.attempts),
  costMicros: w.costMicros,
  refusals: new Map(w.refusals),
});

/**
 * The kill test: two `baton serve` on one PostgreSQL database, SDK workers in their own
 * processes following the leader, and the leader SIGKILLed mid-run again and again, the killed
 * replica restarted each time so that two stay up. (A stalled leader, SIGSTOP, is fenced:
 * failover.test.ts.)
 */
describe('durability: SIGKILL of the leader of two replicas on PostgreSQL, under load', function () {
  this.timeout(180_000);
  const suite = replicaSuite();

  it(`completes a ${TASKS}-task DAG exactly once across ${KILLS} leader kills, no task before its deps, spend exact`, async () => {
    const random = seeded(SEED);
    const db = await suite.cluster().createDatabase();
    const args = ['--lease-ttl-ms', '5000'];
    const replicas: Replica[] = [await suite.start(db, args), await suite.start(db, args)];
    const urls = replicas.map((r) => r.url);
    const admin = createAdminClient({ urls, defaultTimeoutMs: 20_000 });
    const tasks = dag(random);
    for (let i = 0; i < tasks.length; i += 1000) await admin.addTasks(tasks.slice(i, i + 1000));

    const perFleet = WORKERS / FLEETS;
    const fleets = Array.from({ length: FLEETS }, (_, f) => startFleet(urls, f * perFleet, perFleet));
    try {
      await Promise.all(fleets.map((f) => f.welcomed));
      const killAt = killPoints(random);
      const takeovers: number[] = [];
      for (const threshold of killAt) {
        await waitFor(
          `${threshold} completions`,
          async () => ((await admin.progress().catch(() => undefined))?.complete ?? 0) >= threshold,
          90_000,
          50,
        );
        await sleep(Math.floor(random() * 25));
        const leader = replicas.findIndex((r) => leads(r.proc));
        const victim = replicas[leader] as Replica;
        await victim.proc.kill('SIGKILL');
        const killed = Date.now();
        replicas[leader] = await suite.start(db, args, victim.port);
        await waitFor('a replica to take the lead', () => replicas.some((r) => leads(r.proc)), 20_000, 20);
        takeovers.push(Date.now() - killed);
      }
      await everyTaskComplete(admin);

      for (const f of fleets) f.child.send('stop');
      const reports = await Promise.all(fleets.map((f) => f.report));
      const workers = reports.flatMap((r) => r.workers);
      const verdict = await expectExactlyOnce(
        admin,
        tasks,
        workers.map(tallyOf),
        workers.map((w) => w.id),
      );

      // A task may start only after the handler of each dep's accepted attempt returned (its
      // completion is sent then, and committed before anything depending on it is assigned).
      const endedAt = new Map<string, number>();
      for (const r of reports) for (const [id, attempt, at] of r.ends) endedAt.set(`${id}#${attempt}`, at);
      const completedAt = new Map<string, number | undefined>();
      for (const w of workers)
        for (const [id, attempt] of w.attempts) completedAt.set(id, endedAt.get(`${id}#${attempt}`));
      const depsOf = new Map(tasks.map((t) => [t.id, t.deps ?? []]));
      const early: string[] = [];
      let starts = 0;
      for (const r of reports) {
        for (const [id, attempt, at] of r.starts) {
          starts++;
          for (const dep of depsOf.get(id) ?? []) {
            const done = completedAt.get(dep);
            if (done === undefined || at < done)
              early.push(`${id}#${attempt} at ${at}, ${dep} done at ${done}`);
          }
        }
      }
      expect(early, 'tasks started before a dep completed').to.deep.equal([]);
      console.log(
        `      leader kills at ${killAt.join(', ')} completions; a replica led again after ${takeovers.join(', ')} ms; ` +
          `${starts} handler starts; ${verdict.ackedMicros / 1000} cost reports acked; stale refusals ${verdict.staleRefusals}`,
      );
    } finally {
      for (const f of fleets) f.child.kill('SIGKILL');
    }
  });
});
