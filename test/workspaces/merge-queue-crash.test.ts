import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import {
  freePort,
  getJson,
  type Json,
  type ServerProcess,
  startCli,
  waitFor,
} from '../durability/harness.js';
import { alive } from './process-alive.js';
import { createTempRepo, type TempRepo } from './temp-repo.js';

describe('MergeQueue across a SIGKILL of the server', function () {
  this.timeout(90_000);
  let repo: TempRepo;
  let server: ServerProcess | undefined;
  beforeEach(async () => {
    repo = await createTempRepo('baton-mq-crash-');
  });
  afterEach(async () => {
    await server?.kill('SIGKILL');
    repo.remove();
  });

  it('moves the target only by complete landings, and re-runs the check the kill interrupted', async () => {
    const slow = join(repo.path, '.git', 'slow.pid');
    const runs = join(repo.path, '.git', 'check-runs');
    // Every check notes the files it saw; b's first check hangs (the kill lands in it), the others
    // pass at once.
    const check = `ls *.txt | tr '\\n' ' ' >> ${runs}; echo >> ${runs}; if [ -f b.txt ] && [ ! -f ${slow} ]; then echo $$ > ${slow}; sleep 30; fi`;
    const heads: string[] = [];
    for (const name of ['a', 'b', 'c']) {
      heads.push(await repo.commit(repo.root, { [`${name}.txt`]: name }));
      await repo.branch(`baton/${name}`, heads[heads.length - 1] as string);
    }
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const db = join(repo.path, '.git', 'baton.db');
    const serve = [
      '--port',
      String(port),
      '--db',
      db,
      '--repo',
      repo.path,
      '--check',
      check,
      '--merge-batch',
      '1',
    ];
    server = await startCli(serve);
    for (const name of ['a', 'b', 'c']) {
      const response = await fetch(`${url}/api/coordination/merge-queue`, {
        method: 'POST',
        body: JSON.stringify({ branch: `baton/${name}` }),
        headers: { 'content-type': 'application/json' },
      });
      expect(response.status, await response.text()).to.equal(200);
    }
    const states = async () =>
      ((await getJson(url, '/api/coordination/merge-queue')).entries as Json[]).map((e) => [
        e.branch,
        e.state,
      ]);
    await waitFor("b's check to start", () => existsSync(slow), 30_000);
    expect(await states()).to.deep.equal([
      ['baton/a', 'landed'],
      ['baton/b', 'checking'],
      ['baton/c', 'queued'],
    ]);
    await server.kill('SIGKILL');
    const orphan = Number(readFileSync(slow, 'utf8'));
    // Killed in b's check: a landed whole, b not at all.
    const afterKill = await repo.head('main');
    expect(await repo.git.line(['rev-parse', `${afterKill}^1`, `${afterKill}^2`])).to.equal(
      `${repo.root}\n${heads[0]}`,
    );

    server = await startCli(serve);
    // The check the dead server left running is ended before the scratch worktree is reused.
    await waitFor('the orphaned check to be killed', () => !alive(orphan), 20_000);
    await waitFor(
      'every entry to land',
      async () => (await states()).every(([, state]) => state === 'landed'),
      30_000,
    );
    const steps = (await repo.firstParents('main')).slice(0, -1);
    const merged = await Promise.all(steps.map((c) => repo.git.line(['rev-parse', `${c}^2`])));
    expect(merged, 'each branch merged once, in order').to.deep.equal([...heads].reverse());
    expect(steps[steps.length - 1]).to.equal(afterKill);
    // b's check ran twice: the one the kill cut short, and the re-run that passed.
    const seen = readFileSync(runs, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => line.trim());
    expect(seen).to.deep.equal(['a.txt', 'a.txt b.txt', 'a.txt b.txt', 'a.txt b.txt c.txt']);
  });
});
