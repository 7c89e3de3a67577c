import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { openCoordinator } from '../../src/server/runtime/open-coordinator.js';
import { systemNow, systemScheduler } from '../../src/server/runtime/system-clock.js';
import { openSqliteStore } from '../../src/server/store/sqlite-store.js';
import { openMergeQueue } from '../../src/server/workspaces/merge-queue.js';
import { waitFor } from '../durability/harness.js';
import { alive } from './process-alive.js';
import { createTempRepo, type TempRepo } from './temp-repo.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'merge-queue-child.js');

describe('MergeQueue across a SIGKILL', () => {
  let repo: TempRepo;
  beforeEach(async () => {
    repo = await createTempRepo('baton-mq-crash-');
  });
  afterEach(() => repo.remove());

  it('moves the target only by complete landings, and re-runs the check the kill interrupted', async () => {
    const db = join(repo.path, '.git', 'baton.db');
    const slow = join(repo.path, '.git', 'slow.pid');
    // b's first check hangs (the kill lands in it); every other check passes at once.
    const check = `if [ -f b.txt ] && [ ! -f ${slow} ]; then echo $$ > ${slow}; sleep 30; fi`;
    const heads: string[] = [];
    for (const name of ['a', 'b', 'c']) {
      heads.push(await repo.commit(repo.root, { [`${name}.txt`]: name }));
      await repo.branch(`baton/${name}`, heads[heads.length - 1] as string);
    }
    const child = spawn(process.execPath, [CHILD, repo.path, db, check, 'baton/a', 'baton/b', 'baton/c'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    const exited = new Promise((done) => child.on('exit', done));
    try {
      await waitFor("b's check to start", () => existsSync(slow) && output.includes('enqueued')).catch(
        (e: Error) => {
          throw new Error(`${e.message}; the child said: ${output}`);
        },
      );
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    const orphan = Number(readFileSync(slow, 'utf8'));
    // Killed in b's check: a landed whole, b not at all.
    const afterKill = await repo.head('main');
    expect(await repo.git.line(['rev-parse', `${afterKill}^1`, `${afterKill}^2`])).to.equal(
      `${repo.root}\n${heads[0]}`,
    );

    const durable = openCoordinator({
      store: openSqliteStore({ path: db }),
      now: systemNow,
      scheduler: systemScheduler,
      send: () => {},
    });
    const queue = await openMergeQueue({
      repo: repo.path,
      check,
      maxBatch: 1,
      records: durable.records,
      durable: () => durable.commit.committed(),
      now: systemNow,
    });
    try {
      // The check the dead process left running is ended before the scratch worktree is reused.
      expect(alive(orphan)).to.equal(false);
      await queue.idle();
      expect(queue.list().map((e) => [e.branch, e.state])).to.deep.equal([
        ['baton/a', 'landed'],
        ['baton/b', 'landed'],
        ['baton/c', 'landed'],
      ]);
      expect(queue.get('2')?.history.map((h) => h.note)).to.include(
        'interrupted during its check (restart): re-run',
      );
      const steps = (await repo.firstParents('main')).slice(0, -1);
      const merged = await Promise.all(steps.map((c) => repo.git.line(['rev-parse', `${c}^2`])));
      expect(merged).to.deep.equal([...heads].reverse());
      expect(steps[steps.length - 1]).to.equal(afterKill);
    } finally {
      await queue.close();
      durable.commit.close();
    }
  });
});
