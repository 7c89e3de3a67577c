import { expect } from 'chai';
import { createAdminClient, createRateLimitClient } from '../../src/client/index.js';
import { baton, startBaton } from '../cli/run-baton.js';
import { leads, type Replica, replicaSuite, waitFor } from './harness.js';

/** The SDKs and the CLI given every replica's URL: they find the leader, and follow it. */
describe('high availability: clients given every replica URL', function () {
  this.timeout(60_000);
  const suite = replicaSuite();

  /** A leader `a`, then a standby `b`, on a new database. */
  const pair = async (args: readonly string[] = []): Promise<{ a: Replica; b: Replica }> => {
    const db = await suite.cluster().createDatabase();
    const a = await suite.start(db, args);
    const b = await suite.start(db, args);
    expect(leads(a.proc) && !leads(b.proc), 'a leads, b stands by').to.equal(true);
    return { a, b };
  };

  it('the admin client reaches the leader through a standby, and follows it across a SIGKILL', async () => {
    const { a, b } = await pair();
    const admin = createAdminClient({ urls: [b.url, a.url], defaultTimeoutMs: 20_000 });
    expect((await admin.addTasks([{ id: 't1' }, { id: 't2' }])).map((t) => t.id)).to.deep.equal(['t1', 't2']);
    expect((await admin.progress()).total).to.equal(2);

    await a.proc.kill('SIGKILL');
    // A read and an add during the takeover: each waits for the new leader, and is applied once.
    const [progress, added] = await Promise.all([admin.progress(), admin.addTask({ id: 't3' })]);
    expect(progress.total).to.be.oneOf([2, 3]);
    expect(added.id).to.equal('t3');
    expect(leads(b.proc)).to.equal(true);
    const ids: string[] = [];
    for await (const t of admin.listAllTasks()) ids.push(t.id);
    expect(ids).to.deep.equal(['t1', 't2', 't3']);
  });

  it('the rate-limit client opens its stream at the leader through a standby, and again after a takeover', async () => {
    const { a, b } = await pair(['--max-requests-per-minute', '1000']);
    const limiter = createRateLimitClient({
      urls: [b.url, a.url],
      workerId: 'w1',
      reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    });
    try {
      const first = await limiter.acquire(10, { timeoutMs: 10_000 });
      expect(first.reservationId).to.not.equal('');
      await first.settle(5);
      await a.proc.kill('SIGKILL');
      const second = await limiter.acquire(10, { timeoutMs: 20_000 });
      expect(second.reservationId).to.not.equal('');
      expect(leads(b.proc)).to.equal(true);
      await second.settle(5);
    } finally {
      await limiter.close();
    }
  });

  it('the CLI takes several --url, a comma list, or BATON_URL with commas, and answers from the leader', async () => {
    const { a, b } = await pair();
    const added = await baton(['tasks', 'add', 'x1', '--url', b.url, '--url', a.url]);
    expect(added.code, added.stderr).to.equal(0);
    const listed = await baton(['tasks', 'list', '--json', '--url', `${b.url},${a.url}`]);
    expect(listed.code, listed.stderr).to.equal(0);
    expect(JSON.parse(listed.stdout).map((t: { id: string }) => t.id)).to.deep.equal(['x1']);
    const shown = await baton(['tasks', 'show', 'x1', '--json'], { BATON_URL: `${b.url}, ${a.url}` });
    expect(shown.code, shown.stderr).to.equal(0);
    expect(JSON.parse(shown.stdout).id).to.equal('x1');

    const bad = await baton(['tasks', 'list', '--url', `${b.url},ftp://nope`]);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.include('--url must be an http:// or https:// URL, got "ftp://nope"');

    await a.proc.kill('SIGKILL');
    await waitFor('b to lead', () => leads(b.proc), 15_000, 20);
    const after = await baton(['tasks', 'show', 'x1', '--json', '--url', `${a.url},${b.url}`]);
    expect(after.code, after.stderr).to.equal(0);
  });

  it('baton watch given both URLs keeps following the events across a SIGKILL of the leader', async () => {
    const { a, b } = await pair();
    const admin = createAdminClient({ urls: [a.url, b.url], defaultTimeoutMs: 20_000 });
    const watch = startBaton(['watch', '--follow', '--url', `${a.url},${b.url}`]);
    try {
      await waitFor(
        'the watch to read the counts',
        () => watch.stdout().includes('progress: 0 tasks'),
        20_000,
      );
      await admin.addTask({ id: 'one' });
      await waitFor('the first add', () => watch.stdout().includes('task=one'), 10_000, 20);
      await a.proc.kill('SIGKILL');
      await waitFor('b to lead', () => leads(b.proc), 15_000, 20);
      await admin.addTask({ id: 'two' });
      // The new leader numbers its events above the old one's: the watch is told what it may
      // have missed (on stderr), reads the counts again and follows from now.
      await waitFor(
        'the watch to follow the new leader',
        () =>
          watch.stderr().includes('baton: events missed while disconnected (since_sequence') &&
          watch.stdout().includes('progress: 2 tasks'),
        15_000,
        20,
      );
      await admin.addTask({ id: 'three' });
      await waitFor('an add on the new leader', () => watch.stdout().includes('task=three'), 10_000, 20);
    } finally {
      watch.child.kill('SIGINT');
    }
    const run = await watch.done;
    expect(run.code, run.stderr).to.equal(130);
  });
});
