import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { mergeEntryToWire } from '../../src/server/codec/workspace-wire.js';
import { GitError } from '../../src/server/workspaces/git.js';
import type { MergeEntry } from '../../src/server/workspaces/merge-entry.js';
import { type MergeQueue, openMergeQueue } from '../../src/server/workspaces/merge-queue.js';
import { createTempRepo, memoryRecords, type TempRepo } from './temp-repo.js';
import { mountTinyDisk, type TinyDisk } from './tiny-disk.js';

const NO_SPACE = 'No space left on device';

const waitUntil = async (what: string, probe: () => boolean, timeoutMs = 20_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

/**
 * Disk full during a merge, for real: a tmpfs too small for what git must write. The queue must
 * say what failed (git's own words, the command), keep the entry queued and retry it, leave the
 * target where it was, keep answering, and land once there is room.
 */
describe('MergeQueue on a full disk', function () {
  this.timeout(60_000);
  let disk: TinyDisk | undefined;
  let repo: TempRepo | undefined;
  let queue: MergeQueue | undefined;
  let errors: unknown[];

  beforeEach(() => {
    errors = [];
  });
  afterEach(async () => {
    await queue?.close();
    queue = undefined;
    repo?.remove();
    repo = undefined;
    disk?.remove();
    disk = undefined;
  });

  /** Mounts the tiny disk, or skips the spec saying why. */
  const mount = (ctx: Mocha.Context, bytes: number): TinyDisk => {
    const mounted = mountTinyDisk(bytes);
    if (typeof mounted === 'string') {
      console.log(`      skipped: ${mounted}`);
      ctx.skip();
    }
    disk = mounted as TinyDisk;
    return disk;
  };

  const open = async (options: { scratchPath?: string } = {}): Promise<MergeQueue> => {
    queue = await openMergeQueue({
      repo: (repo as TempRepo).path,
      check: 'true',
      records: memoryRecords(),
      now: Date.now,
      retryMs: 50,
      onError: (error) => errors.push(error),
      ...options,
    });
    return queue;
  };

  /**
   * Waits for the queue to fail on the disk, checks that the entry waits with a reason naming
   * the git command and the full filesystem, that nothing moved and that the queue still
   * answers; returns the reason.
   */
  const expectRetriedWithNothingLanded = async (
    q: MergeQueue,
    id: string,
    tiny: TinyDisk,
  ): Promise<string> => {
    await waitUntil('a failure for want of space', () => q.get(id)?.retrying !== undefined);
    const reason = q.get(id)?.retrying as string;
    expect(reason, 'git says what it could not do').to.match(/^git [a-z-]+ .*failed \(exit \d+\): /s);
    expect(reason).to.match(new RegExp(`; the filesystem of ${tiny.path}\\S* has only \\d+ KiB free$`));
    expect((q.get(id)?.history ?? []).map((h) => h.note)).to.include(`not settled (${reason}): retried`);
    expect(mergeEntryToWire(q.get(id) as MergeEntry).reason, 'what GetMergeEntry answers').to.equal(reason);
    expect(errors.find((e) => e instanceof GitError)).to.be.instanceOf(GitError);
    expect(['queued', 'checking']).to.include(q.get(id)?.state);
    expect(await (repo as TempRepo).head('main'), 'the target did not move').to.equal(
      (repo as TempRepo).root,
    );
    expect(q.list().map((e) => e.id)).to.deep.equal([id]);
    return reason;
  };

  it('retries an entry whose scratch worktree cannot be written, landing nothing, and lands it once there is room', async function () {
    const tiny = mount(this, 256 * 1024);
    repo = await createTempRepo('baton-mq-full-');
    // 1 MiB of checkout: it compresses to little in the object database but not on the disk.
    const head = await repo.commit(repo.root, { 'big.txt': 'x'.repeat(1024 * 1024) });
    await repo.branch('baton/big', head);
    const q = await open({ scratchPath: join(tiny.path, 'scratch') });
    const entry = await q.enqueue({ branch: 'baton/big', by: 'agent' });

    const reason = await expectRetriedWithNothingLanded(q, entry.id, tiny);
    // Git says only that it could not write the file; the free space says why.
    expect(reason).to.contain('unable to write file big.txt');
    tiny.resize(8 * 1024 * 1024);
    await waitUntil('the landing', () => q.get(entry.id)?.state === 'landed');
    const main = await repo.head('main');
    expect(await repo.git.line(['rev-parse', `${main}^1`, `${main}^2`])).to.equal(`${repo.root}\n${head}`);
  });

  it('retries a merge whose objects cannot be written (the repository on a full disk), and lands it once there is room', async function () {
    const tiny = mount(this, 4 * 1024 * 1024);
    repo = await createTempRepo('baton-mq-full-', tiny.path);
    const head = await repo.commit(repo.root, { 'a.txt': 'a\n' });
    await repo.branch('baton/a', head);
    const q = await open();
    const filler = tiny.fill('filler');
    const entry = await q.enqueue({ branch: 'baton/a', by: 'agent' });

    expect(await expectRetriedWithNothingLanded(q, entry.id, tiny)).to.contain(NO_SPACE);
    rmSync(filler);
    await waitUntil('the landing', () => q.get(entry.id)?.state === 'landed');
    expect(await repo.git.line(['rev-parse', `${await repo.head('main')}^2`])).to.equal(head);
  });
});
