import { expect } from 'chai';
import { createWorker } from '../../src/client/index.js';
import { eventually } from '../support/waiting.js';
import { baton, type Json, restGet, type ServedBaton, serveBaton } from './run-baton.js';

/** `baton tasks delete` and `baton tasks purge`, spawned for real against a real `baton serve`. */
describe('baton tasks delete and purge against baton serve', function () {
  this.timeout(30_000);
  let served: ServedBaton;
  let env: NodeJS.ProcessEnv;
  const rest = (path: string): Promise<Json> => restGet(served.url, path);
  const run = async (...args: string[]) => baton(['tasks', ...args], env);

  beforeEach(async () => {
    served = await serveBaton(['--store', 'memory']);
    env = { BATON_URL: served.url };
  });
  afterEach(async () => {
    await served.server.kill('SIGTERM');
  });

  it('deletes one settled task (--json: the task as it was); exit 1 while unsettled or depended on, 3 when unknown', async () => {
    expect((await run('add', 'a')).code).to.equal(0);
    expect((await run('add', 'b', '--dep', 'a')).code).to.equal(0);
    expect((await run('add', 'p')).code).to.equal(0);
    expect((await run('cancel', 'a')).code).to.equal(0);

    const dependedOn = await run('delete', 'a');
    expect(dependedOn.code).to.equal(1);
    expect(dependedOn.stderr).to.match(/^baton: .*\bb\b/);
    const pending = await run('delete', 'p');
    expect(pending.code).to.equal(1);
    expect(pending.stderr).to.match(/^baton: .*\bp\b.*pending/);

    const deleted = await run('delete', 'b');
    expect([deleted.code, deleted.stdout]).to.deep.equal([0, 'deleted b (was cancelled)\n']);
    const before = await rest('/tasks/a');
    const json = await run('delete', 'a', '--json');
    expect(json.code, json.stderr).to.equal(0);
    expect(JSON.parse(json.stdout)).to.deep.equal(before);

    for (const id of ['a', 'ghost']) {
      const gone = await run('delete', id);
      expect(gone.code, id).to.equal(3);
      expect(gone.stderr, id).to.match(new RegExp(`^baton: .*${id}`));
    }
    expect((await rest('/progress')).total).to.equal(1);
  });

  it('refuses a purge that does not say what to purge, or says it twice (exit 2), deleting nothing', async () => {
    expect((await run('add', 'a')).code).to.equal(0);
    expect((await run('cancel', 'a')).code).to.equal(0);
    const cases: [string[], string][] = [
      [['purge'], 'say what to purge: --status, --before, or --all'],
      [['purge', '--all', '--status', 'failed'], '--all purges every settled task: give it alone'],
      [['purge', '--all', '--before', '7d'], '--all purges every settled task: give it alone'],
      [['purge', '--status', 'pending'], '--status must be one of complete, failed, cancelled'],
      [['purge', '--before', 'last week'], '--before must be a span ago (7d, 12h, 30m, 90s) or a date-time'],
      [['delete'], "missing required argument 'id'"],
    ];
    for (const [args, message] of cases) {
      const refused = await run(...args);
      expect(refused.code, args.join(' ')).to.equal(2);
      expect(refused.stderr, args.join(' ')).to.include(`baton: ${message}`).and.include('Usage: baton');
    }
    expect((await rest('/progress')).total).to.equal(1);
  });

  it('purges by status and time, keeps what remaining tasks depend on, and --all takes the rest', async () => {
    for (const args of [['c'], ['d', '--dep', 'c'], ['x']])
      expect((await run('add', ...args)).code).to.equal(0);
    expect((await run('cancel', 'd')).code).to.equal(0);
    expect((await run('cancel', 'x')).code).to.equal(0);
    const worker = createWorker({
      url: served.url,
      id: 'w1',
      maxConcurrency: 1,
      handler: async () => ({ done: true }),
    });
    await worker.start();
    await eventually(async () => {
      expect((await rest('/tasks/c')).status).to.equal('complete');
    });
    await worker.stop();
    expect((await run('add', 'p')).code).to.equal(0);
    expect((await run('cancel', 'p')).code).to.equal(0);

    const keptForD = await run('purge', '--status', 'complete', '--json');
    expect(keptForD.code, keptForD.stderr).to.equal(0);
    expect(JSON.parse(keptForD.stdout)).to.deep.equal({ purged: 0, kept: 1 });
    const tooRecent = await run('purge', '--status', 'cancelled', '--before', '1h');
    expect([tooRecent.code, tooRecent.stdout]).to.deep.equal([0, 'purged 0 task(s)\n']);
    const cancelled = await run('purge', '--status', 'cancelled', '--before', '2999-01-01');
    expect([cancelled.code, cancelled.stdout]).to.deep.equal([0, 'purged 3 task(s)\n']);
    expect((await rest('/tasks/c')).status).to.equal('complete');
    const everything = await run('purge', '--all');
    expect([everything.code, everything.stdout]).to.deep.equal([0, 'purged 1 task(s)\n']);
    expect((await rest('/progress')).total).to.equal(0);
  });
});
