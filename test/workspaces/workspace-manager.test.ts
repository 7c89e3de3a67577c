import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { createGit } from '../../src/server/workspaces/git.js';
import { openWorkspaces } from '../../src/server/workspaces/workspace-manager.js';
import { createTempRepo, memoryRecords, type TempRepo } from './temp-repo.js';

/** Writes files in a worktree and commits them there, as an agent would. */
async function commitIn(dir: string, files: Record<string, string>): Promise<string> {
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  const git = createGit(dir);
  await git.run(['add', '-A']);
  await git.run(['commit', '-q', '-m', 'work']);
  return git.line(['rev-parse', 'HEAD']);
}

/** A store's records after a restart: the same bodies, read back. */
const restart = (records: ReturnType<typeof memoryRecords>) => {
  const again = memoryRecords();
  for (const r of records.all.values()) again.put(r.kind, r.id, r.body);
  return again;
};

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
    const spaces = await openWorkspaces({ repo: repo.path, records: store, now: () => 5 });
    const first = await spaces.ensure('agent-1');
    expect(first.branch).to.equal('baton/agent-1');
    expect(existsSync(join(first.path, 'README'))).to.equal(true);
    expect(first.base).to.equal(repo.root);
    expect(await spaces.ensure('agent-1')).to.deep.equal(first);
    const other = await spaces.ensure('agent-2');
    expect(other.path).to.not.equal(first.path);
    expect([...store.all.values()].map((r) => r.id)).to.have.members(['agent-1', 'agent-2']);
  });

  it('finds its workspaces again after a restart, and re-creates a worktree deleted behind its back', async () => {
    const store = memoryRecords();
    const before = await openWorkspaces({ repo: repo.path, records: store, now: () => 1 });
    const space = await before.ensure('a');
    await commitIn(space.path, { 'work.txt': 'mine\n' });
    rmSync(space.path, { recursive: true, force: true });
    const after = await openWorkspaces({
      repo: repo.path,
      records: restart(store),
      now: () => 2,
    });
    expect(after.get('a')?.branch).to.equal('baton/a');
    const again = await after.ensure('a');
    expect(existsSync(join(again.path, 'work.txt')), 'the branch kept its commit').to.equal(true);
  });

  it('keeps a branch with unmerged commits on removal unless forced, and deletes a merged one', async () => {
    const spaces = await openWorkspaces({ repo: repo.path, records: memoryRecords(), now: () => 1 });
    const busy = await spaces.ensure('busy');
    await commitIn(busy.path, { 'a.txt': '1\n' });
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
    const spaces = await openWorkspaces({ repo: repo.path, records: memoryRecords(), now: () => 1 });
    const space = await spaces.ensure('w');
    writeFileSync(join(space.path, 'README'), 'edited\n');
    const error = await rejection(spaces.remove('w'));
    expect(error.message).to.include('uncommitted changes');
    expect(existsSync(space.path)).to.equal(true);
    expect(spaces.get('w')).to.not.equal(undefined);
  });

  it('refuses what is not a repository, a missing target, a dirty target checkout and a worker id git refuses', async () => {
    const records = memoryRecords();
    const notRepo = await rejection(openWorkspaces({ repo: '/', records, now: () => 0 }));
    expect(notRepo.message).to.include('is not a git repository');
    const missing = await rejection(openWorkspaces({ repo: join(repo.path, 'nope'), records, now: () => 0 }));
    expect(missing.message).to.include('does not exist');
    const noTarget = await rejection(
      openWorkspaces({ repo: repo.path, target: 'trunk', records, now: () => 0 }),
    );
    expect(noTarget.message).to.include('trunk does not exist');
    const spaces = await openWorkspaces({ repo: repo.path, records, now: () => 0 });
    const badId = await rejection(spaces.ensure('a..b'));
    expect(badId.message).to.include('cannot name a git branch');
    await repo.git.run(['checkout', '-q', 'main']);
    writeFileSync(join(repo.path, 'README'), 'dirty\n');
    const dirty = await rejection(openWorkspaces({ repo: repo.path, records, now: () => 0 }));
    expect(dirty.message).to.include('uncommitted changes');
  });
});
