import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { createWorker, type TaskContext, type Worker, type WorkerEvent } from '../../src/client/index.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { restCall } from '../support/json-http.js';
import { commitWork } from './commit-work.js';
import { createTempRepo, type TempRepo } from './temp-repo.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field.
type Json = any;

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 8000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('Workspaces end to end (real git, SDK workers)', () => {
  let repo: TempRepo;
  let server: BatonServer;
  const workers: Worker[] = [];
  const api = (method: string, path: string, body?: unknown) => restCall(server.url, method, path, body);
  const worker = (id: string, handler: (t: { metadata: Json }, c: TaskContext) => unknown) => {
    const events: WorkerEvent[] = [];
    const w = createWorker({
      url: server.url,
      id,
      maxConcurrency: 1,
      workspace: true,
      handler: (task, context) => handler(task, context),
      onEvent: (e) => events.push(e),
    });
    workers.push(w);
    return { w, events };
  };

  beforeEach(async () => {
    repo = await createTempRepo('baton-ws-e2e-');
    server = await startServer({ port: 0, repo: { repo: repo.path, check: 'test -f README' } });
  });
  afterEach(async () => {
    await Promise.all(
      workers.splice(0).map((w) => w.stop({ signal: AbortSignal.timeout(2000) }).catch(() => {})),
    );
    await server.close();
    repo.remove();
  });

  it('gives each worker its own worktree and branch in Welcome, listed by GET /workspaces', async () => {
    const { w } = worker('agent-1', () => null);
    await w.start();
    const space = w.workspace;
    expect(space?.branch).to.equal('baton/agent-1');
    expect(space?.target).to.equal('main');
    expect(existsSync(join(space?.path ?? '', 'README'))).to.equal(true);
    const listed = await api('GET', '/workspaces');
    expect(listed.status).to.equal(200);
    expect(listed.body.target).to.equal('main');
    expect(listed.body.workspaces.map((s: Json) => [s.workerId, s.branch, s.head])).to.deep.equal([
      ['agent-1', 'baton/agent-1', repo.root],
    ]);
  });

  it('tells both workers when their branches conflict, and GET /conflicts names the path', async () => {
    let started = 0;
    let release: () => void = () => {};
    const bothRunning = new Promise<void>((resolve) => {
      release = resolve;
    });
    const edit = async (task: { metadata: Json }, context: TaskContext) => {
      if (++started === 2) release();
      await bothRunning;
      await commitWork(context, { 'shared.txt': `${task.metadata.text}\n` });
      return null;
    };
    const a = worker('a', edit);
    const b = worker('b', edit);
    await Promise.all([a.w.start(), b.w.start()]);
    await api('POST', '/tasks/batch', {
      tasks: [
        { id: 'one', metadata: { text: 'one' } },
        { id: 'two', metadata: { text: 'two' } },
      ],
    });
    for (const { events } of [a, b]) {
      const notice = await until('a conflict notice', () => events.find((e) => e.type === 'conflict'));
      expect(notice).to.deep.include({ paths: ['shared.txt'], cleared: false });
    }
    const conflicts = await api('GET', '/conflicts');
    expect(conflicts.body.conflicts).to.have.length(1);
    expect(conflicts.body.conflicts[0]).to.deep.include({
      branch: 'baton/a',
      other: 'baton/b',
      paths: ['shared.txt'],
    });
  });

  it('does not start a task whose paths overlap a running task, and says why', async () => {
    let releaseFirst: () => void = () => {};
    const firstHolds = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    const hold = async (task: { metadata: Json }) => {
      if (task.metadata.hold === true) await firstHolds;
      return null;
    };
    const a = worker('a', hold);
    const b = worker('b', hold);
    await Promise.all([a.w.start(), b.w.start()]);
    await api('POST', '/tasks', { id: 'wide', paths: ['src'], priority: 2, metadata: { hold: true } });
    await until('wide running', async () =>
      (await api('GET', '/tasks/wide')).body.status === 'running' ? true : undefined,
    );
    await api('POST', '/tasks', { id: 'narrow', paths: ['src/a.ts'] });
    const waiting = await until('narrow waiting', async () => {
      const t = (await api('GET', '/tasks/narrow')).body;
      return t.waitingFor === '' || t.waitingFor === undefined ? undefined : t;
    });
    expect(waiting.status).to.equal('pending');
    expect(waiting.waitingFor).to.include('held by task wide');
    releaseFirst();
    await until('narrow complete', async () =>
      (await api('GET', '/tasks/narrow')).body.status === 'complete' ? true : undefined,
    );
  });

  it('lands the head of a land task through the merge queue: checked, then the target moves by CAS', async () => {
    const { w, events } = worker('lander', async (_task, context) => {
      await commitWork(context, { 'feature.txt': 'done\n' });
      return null;
    });
    await w.start();
    await api('POST', '/tasks', { id: 'feature', land: true });
    const merged = await until('a merge notice', () => events.find((e) => e.type === 'merge'));
    expect(merged).to.deep.include({ landed: true, reason: '' });
    const main = await repo.head('main');
    expect(main).to.equal((merged as { landedAs: string }).landedAs);
    expect(await repo.git.line(['show', `${main}:feature.txt`])).to.equal('done');
    const queue = await api('GET', '/merge-queue');
    expect(queue.body.entries.map((e: Json) => [e.branch, e.state, e.by])).to.deep.equal([
      ['baton/lander', 'landed', 'lander'],
    ]);
    const entry = await api('GET', `/merge-queue/${queue.body.entries[0].id}`);
    expect(entry.status).to.equal(200);
    expect(readFileSync(join(repo.path, 'README'), 'utf8'), 'the operator checkout is untouched').to.equal(
      'hello\n',
    );
  });

  it('DELETE /workspaces/:id keeps a branch with unmerged commits unless forced', async () => {
    const { w } = worker('keeper', async (_task, context) => {
      await commitWork(context, { 'mine.txt': 'work\n' });
      return null;
    });
    await w.start();
    await api('POST', '/tasks', { id: 'work' });
    await until('work complete', async () =>
      (await api('GET', '/tasks/work')).body.status === 'complete' ? true : undefined,
    );
    await w.stop();
    const kept = await api('DELETE', '/workspaces/keeper');
    expect(kept.status).to.equal(200);
    expect(kept.body).to.deep.include({ branch: 'baton/keeper', branchDeleted: false, unmergedCommits: 1 });
    expect(await repo.head('baton/keeper')).to.match(/^[0-9a-f]{40}$/);
    expect((await api('GET', '/workspaces')).body.workspaces).to.deep.equal([]);
    expect((await api('DELETE', '/workspaces/keeper')).status).to.equal(404);
  });

  it('POST /merge-queue refuses an unknown branch and the target itself, queueing nothing', async () => {
    const unknown = await api('POST', '/merge-queue', { branch: 'baton/nobody' });
    expect(unknown.status).to.equal(404);
    expect(unknown.body.message).to.include('baton/nobody');
    const target = await api('POST', '/merge-queue', { branch: 'main' });
    expect(target.status).to.equal(400);
    const missing = await api('POST', '/merge-queue', {});
    expect(missing.status).to.equal(400);
    expect(missing.body.message).to.include('branch');
    expect((await api('GET', '/merge-queue')).body.entries ?? []).to.deep.equal([]);
  });

  it('refuses a workspace hello on a server without a repository, naming the flag', async () => {
    const bare = await startServer({ port: 0 });
    try {
      const events: WorkerEvent[] = [];
      const w = createWorker({
        url: bare.url,
        id: 'x',
        maxConcurrency: 1,
        workspace: true,
        handler: () => null,
        onEvent: (e) => events.push(e),
      });
      workers.push(w);
      void w.start().catch(() => {});
      const refused = await until('the refusal', () =>
        events.find((e) => e.type === 'disconnected' && e.error !== undefined),
      );
      expect(String((refused as { error: Error }).error)).to.include('--repo');
      expect(w.workspace).to.equal(undefined);
      const answer = await fetch(`${bare.url}/api/coordination/workspaces`);
      expect(answer.status).to.equal(409);
      expect(await answer.text()).to.include('--repo');
    } finally {
      await bare.close();
    }
  });
});
