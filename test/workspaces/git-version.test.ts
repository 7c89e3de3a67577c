import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { BatonError } from '../../src/core/errors.js';
import { createGit } from '../../src/server/workspaces/git.js';
import {
  mergesWithWriteTree,
  parseGitVersion,
  requireMergeTreeGit,
} from '../../src/server/workspaces/git-version.js';

describe('git version', () => {
  it('reads the versions git prints, vendor suffixes included', () => {
    expect(parseGitVersion('git version 2.39.5\n')).to.deep.equal([2, 39, 5]);
    expect(parseGitVersion('git version 2.38.0.windows.1')).to.deep.equal([2, 38, 0]);
    expect(parseGitVersion('git version 2.39.3 (Apple Git-145)')).to.deep.equal([2, 39, 3]);
    expect(parseGitVersion('git version 3.0')).to.deep.equal([3, 0, 0]);
    expect(parseGitVersion('not git')).to.equal(undefined);
  });

  it('takes git 2.38 and later, the first with merge-tree --write-tree', () => {
    expect(mergesWithWriteTree([2, 37, 9])).to.equal(false);
    expect(mergesWithWriteTree([2, 38, 0])).to.equal(true);
    expect(mergesWithWriteTree([3, 0, 0])).to.equal(true);
    expect(mergesWithWriteTree([1, 99, 0])).to.equal(false);
  });

  it("accepts this machine's git, and refuses an older one naming both versions", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-git-version-'));
    try {
      await requireMergeTreeGit(createGit(dir));
      // A stand-in for an old git: only its answer to `git version` matters here.
      const old = join(dir, 'old-git');
      writeFileSync(old, '#!/bin/sh\necho "git version 2.34.1"\n');
      chmodSync(old, 0o755);
      const refused = await requireMergeTreeGit(createGit(dir, old)).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).to.be.instanceOf(BatonError);
      expect((refused as BatonError).code).to.equal('failed-precondition');
      expect((refused as BatonError).message).to.equal(
        'git version 2.34.1 is too old: workspaces need git 2.38 or later (git merge-tree --write-tree)',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
