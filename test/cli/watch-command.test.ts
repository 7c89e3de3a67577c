import { execFileSync } from 'node:child_process';
import { expect } from 'chai';
import { createAdminClient, createWorker, type Worker } from '../../src/client/index.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { waitFor } from '../durability/harness.js';
import { BATON, type BatonProcess, baton, startBaton, startProcess } from './run-baton.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON lines are checked field by field.
type Json = any;

/** `script` runs a command on a pseudo-terminal: the only way to see the bar from a test. */
const hasScript = (() => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** `baton watch` spawned for real, against a live server with an SDK worker running the tasks. */
describe('baton watch: live events until the graph settles', function () {
  this.timeout(60_000);
  let server: BatonServer;
  let worker: Worker | undefined;
  let env: NodeJS.ProcessEnv;
  // Watches a failed spec left running would keep mocha (and the suite) from ever exiting.
  const running: BatonProcess[] = [];
  const spawned = (started: BatonProcess): BatonProcess => {
    running.push(started);
    return started;
  };

  const startWorker = async (): Promise<void> => {
    worker = createWorker({
      url: server.url,
      id: 'w1',
      maxConcurrency: 2,
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
      async handler(task) {
        await new Promise((done) => setTimeout(done, 30));
        if (task.metadata?.fail === true) throw new Error('told to fail');
        return { done: task.id };
      },
    });
    await worker.start();
  };
  const add = (tasks: { id: string; deps?: string[]; metadata?: Record<string, boolean> }[]) =>
    createAdminClient({ url: server.url }).addTasks(tasks);

  beforeEach(async () => {
    server = await startServer({ port: 0, store: 'memory' });
    env = { BATON_URL: server.url };
  });
  afterEach(async () => {
    for (const started of running.splice(0)) {
      if (started.child.exitCode === null && started.child.signalCode === null) started.child.kill('SIGKILL');
    }
    await worker?.stop({ signal: AbortSignal.timeout(2000) }).catch(() => {});
    worker = undefined;
    await server.close();
  });

  it('on a pipe, prints one line per event and progress lines, and exits 0 once every task completes', async () => {
    const watch = spawned(startBaton(['watch'], env));
    await waitFor('the watch to read the counts', () => watch.stdout().includes('progress: 0 tasks'), 20_000);
    await add([{ id: 'plan' }, { id: 'code', deps: ['plan'] }, { id: 'test', deps: ['code'] }]);
    await startWorker();
    const run = await watch.done;
    expect(run.code, run.stderr).to.equal(0);
    for (const id of ['plan', 'code', 'test']) {
      expect(run.stdout).to.match(
        new RegExp(`#\\d+  coord:task-complete  task=${id} status=complete worker=w1 attempt=1/3`),
      );
    }
    expect(run.stdout).to.match(/coord:all-complete {2}complete=3 failed=0 cancelled=0/);
    expect(run.stdout).to.match(/\nprogress: 3 tasks: 3 complete; 100\.0% complete\n/);
    expect(run.stdout).to.match(/complete: 3 of 3 task\(s\) \(watched \d+(ms|s|m)\)\n$/);
  });

  it('exits 5 when the graph settles with a failed task, naming the counts', async () => {
    await add([{ id: 'ok' }, { id: 'bad', metadata: { fail: true } }]);
    const watch = spawned(startBaton(['watch'], env));
    await waitFor('the watch to read the counts', () => watch.stdout().includes('progress: 2 tasks'), 20_000);
    await startWorker();
    const run = await watch.done;
    expect(run.code, run.stdout + run.stderr).to.equal(5);
    expect(run.stdout).to.match(
      /coord:task-failed {2}task=bad status=failed worker=w1 attempt=1\/3 error="told to fail"/,
    );
    expect(run.stdout).to.include('settled without completing: 1 complete, 1 failed, 0 cancelled of 2');
  });

  it('with --json prints one JSON object a line: events and progress in the REST shape', async () => {
    await add([{ id: 'a' }, { id: 'b', deps: ['a'] }]);
    const watch = spawned(startBaton(['watch', '--json'], env));
    await waitFor('the first progress line', () => watch.stdout().includes('"progress"'), 20_000);
    await startWorker();
    const run = await watch.done;
    expect(run.code, run.stderr).to.equal(0);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Json);
    const events = lines.filter((l) => l.event !== undefined).map((l) => l.event);
    expect(events.filter((e) => e.kind === 'task-complete').map((e) => e.task.id)).to.deep.equal(['a', 'b']);
    expect(events.every((e) => typeof e.sequence === 'string' && typeof e.time === 'string')).to.equal(true);
    expect(lines[lines.length - 1]).to.deep.include({
      progress: { ...lines[lines.length - 1].progress, complete: 2 },
    });
    expect(run.stderr).to.include('complete: 2 of 2 task(s)');
  });

  it('--task follows one task and ends when it settles; --kind shows only the kinds asked for', async () => {
    await add([{ id: 'a' }, { id: 'b', deps: ['a'] }, { id: 'c', deps: ['b'] }]);
    const watch = spawned(startBaton(['watch', '--task', 'b', '--kind', 'task-complete'], env));
    await new Promise((done) => setTimeout(done, 1500));
    await startWorker();
    const run = await watch.done;
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout.split('\n').filter((l) => l.includes('coord:'))).to.have.length(1);
    expect(run.stdout)
      .to.match(/coord:task-complete {2}task=b /)
      .and.match(/task b complete\n$/);
  });

  it('--kind refuses an unknown kind, naming the flag and the kinds (exit 2)', async () => {
    const run = await baton(['watch', '--kind', 'task-done'], env);
    expect(run.code).to.equal(2);
    expect(run.stderr).to.include('baton: --kind must be one of coord:started,');
  });

  it('--since older than the events replay window exits 1 with the message naming --events-replay', async () => {
    await server.close();
    server = await startServer({ port: 0, store: 'memory', eventsReplay: 3 });
    await add([{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'd' }, { id: 'e' }]);
    const run = await baton(['watch', '--follow', '--since', '1', '--url', server.url]);
    expect(run.code, run.stderr).to.equal(1);
    expect(run.stderr).to.match(
      /^baton: since_sequence 1 is older than the events replay window \(--events-replay 3; oldest kept is \d+\)/,
    );
  });

  it('after a restart, says it missed events, reads the counts again and follows from now', async () => {
    const { port } = server;
    await add([{ id: 'before-1' }, { id: 'before-2' }, { id: 'before-3' }]);
    const watch = spawned(startBaton(['watch', '--follow'], env));
    await waitFor(
      'the watch to read the counts',
      () => watch.stdout().includes('progress: 3 tasks:'),
      20_000,
    );
    // The watch reads the counts before its stream is open, so a task added at once may come
    // before the stream and show only in the counts: add tasks until one comes as an event.
    const addUntilSeen = async (prefix: string): Promise<number> => {
      let added = 0;
      await waitFor(
        `an event for a task ${prefix}-*`,
        async () => {
          if (watch.stdout().includes(`task=${prefix}-`)) return true;
          await add([{ id: `${prefix}-${++added}` }]);
          return false;
        },
        20_000,
        500,
      );
      return added;
    };
    await addUntilSeen('seen');
    await server.close();
    const closedAt = watch.stdout().length;
    // A new coordinator on the port numbers its events from 1 again: the watch's resume point
    // (the sequence of the event it saw) is past its last event.
    server = await startServer({ port, store: 'memory' });
    await waitFor('the note', () => watch.stderr().includes('events missed while disconnected'), 20_000);
    expect(watch.stderr()).to.match(
      /baton: events missed while disconnected \(since_sequence \d+ is past this server's last event \(\d+\)/,
    );
    const added = await addUntilSeen('after');
    // The counts read again are the new server's (its few tasks), not the old one's (4 or more).
    const totals = () =>
      [
        ...watch
          .stdout()
          .slice(closedAt)
          .matchAll(/progress: (\d+) tasks?:/g),
      ].map((m) => Number(m[1]));
    await waitFor('the counts read again', () => totals().length > 0, 10_000);
    expect(Math.max(...totals())).to.be.at.most(added);
    watch.child.kill('SIGINT');
    expect((await watch.done).code).to.equal(130);
  });

  it('exits 4 when nothing answers at the URL, naming it', async () => {
    const run = await baton(['watch', '--url', 'http://127.0.0.1:1']);
    expect(run.code).to.equal(4);
    expect(run.stderr).to.match(
      /^baton: no coordinator answered at http:\/\/127\.0\.0\.1:1 \(connect ECONNREFUSED/,
    );
  });

  it('on a terminal, draws a progress bar of the graph that ends full', async function () {
    if (!hasScript) {
      console.log('      skipped: util-linux `script` (a pseudo-terminal for the CLI) is not installed');
      this.skip();
    }
    await add([{ id: 'a' }, { id: 'b' }, { id: 'c', deps: ['a', 'b'] }]);
    const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(BATON)} watch`;
    const watch = spawned(
      startProcess('script', ['-qfec', command, '/dev/null'], { ...env, COLUMNS: '160' }),
    );
    await waitFor('the bar', () => watch.stdout().includes('0/3 complete'), 20_000);
    await startWorker();
    const run = await watch.done;
    expect(run.code, run.stdout).to.equal(0);
    expect(run.stdout)
      .to.match(/\u2588{10,}/)
      .and.include('3/3 complete');
    expect(run.stdout).to.include('coord:worker-joined  worker=w1');
    expect(run.stdout).to.include('complete: 3 of 3 task(s)');
  });
});
