import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import type { StoreRecord } from '../../src/core/store.js';
import { openWorkspaces, type WorkspaceRecords } from '../../src/server/workspaces/workspace-manager.js';
import { createTempRepo, type TempRepo } from './temp-repo.js';

/** Records as a store keeps them: what a restart hands back. */
function memoryRecords(from: StoreRecord[] = []) {
  const kept = new Map(from.map((r) => [`${r.kind}/${r.id}`, r]));
  const records: WorkspaceRecords = {
    restored: (kind) => [...kept.values()].filter((r) => r.kind === kind),
    put: (kind, id, body) => kept.set(`${kind}/${id}`, { kind, id, body: JSON.parse(JSON.stringify(body)) }),
    remove: (kind, id) => kept.delete(`${kind}/${id}`),
  };
  return { records, all: () => [...kept.values()] };
}

const rejection = async (promise: Promise<unknown>): Promise<Error & { code?: string; field?: string }> => {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
};

describe('Workspaces', () => {
  let repo: TempRepo;
  beforeEach(async () => {
    repo = await createTempRepo();
  });
  afterEach(() => repo.remove());

  it('gives a worker its own worktree on branch baton/<id> from the target head, the same one on rejoin', async () => {
    const store = memoryRecords();
    const spaces = await openWorkspaces({ repo: repo.dir, records: store.records, now: () => 5 });
    const first = await spaces.ensure('agent-1');
    expect(first.branch).to.equal('baton/agent-1');
    expect(existsSync(join(first.path, 'README.md'))).to.equal(true);
    expect(first.base).to.equal(await repo.git.line(['rev-parse', 'main']));
    expect(await spaces.ensure('agent-1')).to.deep.equal(first);
    const other = await spaces.ensure('agent-2');
    expect(other.path).to.not.equal(first.path);
    expect(store.all().map((r) => r.id)).to.have.members(['agent-1', 'agent-2']);
  });

  it('finds its workspaces again after a restart, and re-creates a worktree deleted behind its back', async () => {
    const store = memoryRecords();
    const before = await openWorkspaces({ repo: repo.dir, records: store.records, now: () => 1 });
    const space = await before.ensure('a');
    await repo.commit({ 'work.txt': 'mine\n' }, 'work', space.path);
    rmSync(space.path, { recursive: true, force: true });
    const after = await openWorkspaces({
      repo: repo.dir,
      records: memoryRecords(store.all()).records,
      now: () => 2,
    });
    expect(after.get('a')?.branch).to.equal('baton/a');
    const again = await after.ensure('a');
    expect(existsSync(join(again.path, 'work.txt')), 'the branch kept its commit').to.equal(true);
  });

  it('keeps a branch with unmerged commits on removal unless forced, and deletes a merged one', async () => {
    const spaces = await openWorkspaces({ repo: repo.dir, records: memoryRecords().records, now: () => 1 });
    const busy = await spaces.ensure('busy');
    await repo.commit({ 'a.txt': '1\n' }, 'one', busy.path);
    const kept = await spaces.remove('busy');
    expect(kept).to.include({ branchDeleted: false, unmerged: 1 });
    expect(existsSync(busy.path)).to.equal(false);
    expect(await spaces.head('baton/busy')).to.match(/^[0-9a-f]{40}$/);
    await spaces.ensure('idle');
    expect(await spaces.remove('idle')).to.include({ branchDeleted: true, unmerged: 0 });
    await spaces.ensure('busy');
    expect(await spaces.remove('busy', { force: true })).to.include({ branchDeleted: true, unmerged: 1 });
  });

  it('refuses to remove a worktree with uncommitted changes unless forced', async () => {
    const spaces = await openWorkspaces({ repo: repo.dir, records: memoryRecords().records, now: () => 1 });
    const space = await spaces.ensure('w');
    writeFileSync(join(space.path, 'README.md'), 'edited\n');
    const error = await rejection(spaces.remove('w'));
    expect(error.message).to.include('uncommitted changes');
    expect(existsSync(space.path)).to.equal(true);
    expect(spaces.get('w')).to.not.equal(undefined);
  });

  it('refuses what is not a repository, a missing target, a dirty target checkout and a worker id git refuses', async () => {
    const records = memoryRecords().records;
    const notRepo = await rejection(openWorkspaces({ repo: '/', records, now: () => 0 }));
    expect(notRepo.message).to.include('is not a git repository');
    const noTarget = await rejection(
      openWorkspaces({ repo: repo.dir, target: 'trunk', records, now: () => 0 }),
    );
    expect(noTarget.message).to.include('trunk does not exist');
    const spaces = await openWorkspaces({ repo: repo.dir, records, now: () => 0 });
    const badId = await rejection(spaces.ensure('a..b'));
    expect(badId.message).to.include('cannot name a git branch');
    writeFileSync(join(repo.dir, 'README.md'), 'dirty\n');
    const dirty = await rejection(openWorkspaces({ repo: repo.dir, records, now: () => 0 }));
    expect(dirty.message).to.include('uncommitted changes');
  });
});
