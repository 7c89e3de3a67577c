import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Code } from '@connectrpc/connect';
import { expect } from 'chai';
import {
  type AdminClient,
  createAdminClient,
  createWorker,
  MergeState,
  TaskStatus,
  type Worker,
} from '../../src/client/index.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { createGit } from '../../src/server/workspaces/git.js';
import { waitFor } from '../durability/harness.js';
import { refusal } from '../support/refusal.js';
import { createTempRepo, type TempRepo } from '../workspaces/temp-repo.js';

describe('client admin: workspace calls against a live server and a real repository', () => {
  let repo: TempRepo;
  let server: BatonServer;
  let admin: AdminClient;
  const workers: Worker[] = [];
  let started: number;
  let release: () => void;
  let together: Promise<void>;

  beforeEach(async () => {
    started = 0;
    together = new Promise<void>((resolve) => {
      release = resolve;
    });
    repo = await createTempRepo('baton-admin-ws-');
    server = await startServer({ port: 0, repo: { repo: repo.path, check: 'echo checked; test -f README' } });
    admin = createAdminClient({ url: server.url, defaultTimeoutMs: 10_000 });
  });
  afterEach(async () => {
    await Promise.all(
      workers.splice(0).map((w) => w.stop({ signal: AbortSignal.timeout(2000) }).catch(() => {})),
    );
    await server.close();
    repo.remove();
  });

  /**
   * A workspace worker whose task commits `shared.txt` with the task id in it, once two tasks
   * have started (so that each of two workers holds one) or the spec calls `release` (reset in
   * beforeEach).
   */
  const committer = (id: string): Worker => {
    const worker = createWorker({
      url: server.url,
      id,
      maxConcurrency: 1,
      workspace: true,
      handler: async (task, context) => {
        if (++started === 2) release();
        await together;
        const path = context.workspace?.path as string;
        writeFileSync(join(path, 'shared.txt'), `${task.id}\n`);
        const git = createGit(path);
        await git.run(['add', '-A']);
        await git.run(['commit', '-q', '-m', task.id]);
        return null;
      },
    });
    workers.push(worker);
    return worker;
  };

  it('lists the workspaces with their heads, names the conflicting pair, and removes a workspace keeping its unmerged branch', async () => {
    const [a, b] = [committer('a'), committer('b')];
    await Promise.all([a.start(), b.start()]);
    // One task each: two edits of one file on two branches.
    await admin.addTasks([{ id: 'one' }, { id: 'two' }]);
    await waitFor('both tasks to complete', async () =>
      (await admin.listTasks({ status: 'complete' })).tasks.length === 2 ? true : undefined,
    );

    const listed = await admin.listWorkspaces();
    expect(listed.target).to.equal('main');
    expect(listed.workspaces.map((s) => [s.workerId, s.branch, s.base])).to.deep.equal([
      ['a', 'baton/a', repo.root],
      ['b', 'baton/b', repo.root],
    ]);
    for (const space of listed.workspaces) expect(space.head).to.equal(await repo.head(space.branch));

    const report = await admin.getConflicts();
    expect(report.branches).to.deep.equal(['baton/a', 'baton/b', 'main']);
    expect(report.conflicts.map((c) => [c.branch, c.other, c.paths, c.head, c.otherHead])).to.deep.equal([
      ['baton/a', 'baton/b', ['shared.txt'], await repo.head('baton/a'), await repo.head('baton/b')],
    ]);

    await a.stop();
    const removal = await admin.removeWorkspace('a');
    expect(removal).to.deep.equal({ branch: 'baton/a', branchDeleted: false, unmergedCommits: 1 });
    expect(await repo.head('baton/a')).to.match(/^[0-9a-f]{40}$/);
    expect((await admin.listWorkspaces()).workspaces.map((s) => s.workerId)).to.deep.equal(['b']);
    const again = await refusal(admin.removeWorkspace('a'));
    expect(again.code).to.equal(Code.NotFound);
    expect(again.message).to.contain('a');
  });

  it('queues a branch, lists the queue, and reads the landed entry with its check output', async () => {
    const head = await repo.commit(repo.root, { 'feature.txt': 'done\n' });
    await repo.branch('feature', head);
    const queued = await admin.enqueueMerge({ branch: 'feature' });
    expect(queued).to.deep.include({ branch: 'feature', head, by: 'operator' });

    const landed = await waitFor('the entry to land', async () => {
      const entry = await admin.getMergeEntry(queued.id);
      return entry.state === MergeState.LANDED ? entry : undefined;
    });
    expect(landed.landedAs).to.equal(await repo.head('main'));
    expect(landed.checkOutput).to.equal('checked\n');
    const entries = await admin.listMergeQueue();
    expect(entries.map((e) => [e.id, e.branch, e.state, e.landedAs])).to.deep.equal([
      [queued.id, 'feature', MergeState.LANDED, landed.landedAs],
    ]);
    expect(entries[0]?.checkOutput, 'the output is only in getMergeEntry').to.equal('');
  });

  it("lands what a worker queued itself with worker.enqueueMerge(), at its worktree's head", async () => {
    const worker = committer('solo');
    await worker.start();
    release();
    await admin.addTask({ id: 'work' });
    await waitFor('the task to complete', async () =>
      (await admin.getTask('work')).status === TaskStatus.COMPLETE ? true : undefined,
    );
    const head = await repo.head('baton/solo');
    const queued = await worker.enqueueMerge();
    expect(queued).to.deep.include({ branch: 'baton/solo', head, by: 'solo' });
    await waitFor('the landing', async () =>
      (await admin.getMergeEntry(queued.id)).state === MergeState.LANDED ? true : undefined,
    );
    expect(await repo.git.line(['rev-parse', `${await repo.head('main')}^2`])).to.equal(head);
  });

  it('refuses an unknown branch, an unknown commit and an unknown entry, queueing nothing', async () => {
    const head = await repo.commit(repo.root, { 'x.txt': 'x\n' });
    await repo.branch('feature', head);
    for (const [call, code, named] of [
      [() => admin.enqueueMerge({ branch: 'baton/nobody' }), Code.NotFound, 'baton/nobody'],
      [() => admin.enqueueMerge({ branch: 'feature', head: 'f'.repeat(40) }), Code.NotFound, 'f'.repeat(40)],
      [() => admin.enqueueMerge({ branch: 'main' }), Code.InvalidArgument, 'main is the target'],
      [() => admin.getMergeEntry('999'), Code.NotFound, '999'],
    ] as const) {
      const refused = await refusal(call());
      expect(refused.code, refused.message).to.equal(code);
      expect(refused.message).to.contain(named);
    }
    expect(await admin.listMergeQueue()).to.deep.equal([]);
  });

  it('answers FAILED_PRECONDITION naming the flag on a server without a repository', async () => {
    const bare = await startServer({ port: 0 });
    try {
      const client = createAdminClient({ url: bare.url, defaultTimeoutMs: 10_000 });
      for (const call of [client.listWorkspaces, client.getConflicts, client.listMergeQueue]) {
        const refused = await refusal(call());
        expect(refused.code).to.equal(Code.FailedPrecondition);
        expect(refused.message).to.contain('--repo');
      }
    } finally {
      await bare.close();
    }
  });
});
