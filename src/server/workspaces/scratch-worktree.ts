// workspaces/: the shared git repository: worktrees per worker, the conflict matrix, the merge queue.
// Imports src/core only (test/architecture/walls.test.ts).
import { existsSync, realpathSync, rmSync } from 'node:fs';
import { createGit, type Git } from './git.js';

/**
 * A worktree Baton owns for checking merge results: never the operator's checkout, whose index
 * and files the queue must not touch. Deleted behind Baton's back, it is made again.
 */
export interface ScratchWorktree {
  readonly path: string;
  /**
   * Checks `commit` out detached and clean (tracked files as committed, untracked files removed,
   * ignored files such as build caches kept). The first call after start, and any call that
   * finds the worktree missing or broken, makes it from nothing: a crash may have left it
   * half-written (an index.lock, a half-done checkout).
   */
  checkout(commit: string): Promise<void>;
  /** True while the directory is still a worktree of this repository. */
  intact(): Promise<boolean>;
  /** Removes the worktree and its registration. */
  remove(): Promise<void>;
}

export function createScratchWorktree(repo: Git, path: string): ScratchWorktree {
  let fresh = false;
  const inside = (): Git => createGit(path);

  const intact = async (): Promise<boolean> => {
    if (!existsSync(path)) return false;
    // A directory that is not itself a worktree's top (its .git file deleted) would make git
    // walk up to an enclosing repository; a checkout there would hit someone else's files.
    const top = await inside()
      .line(['rev-parse', '--show-toplevel'])
      .catch(() => undefined);
    return top !== undefined && realpathSync(top) === realpathSync(path);
  };

  const recreate = async (commit: string): Promise<void> => {
    rmSync(path, { recursive: true, force: true });
    await repo.run(['worktree', 'prune']);
    await repo.run(['worktree', 'add', '--detach', '--force', path, commit]);
    fresh = true;
  };

  return {
    path,
    intact,
    async checkout(commit) {
      if (!fresh || !(await intact())) return recreate(commit);
      try {
        await inside().run(['checkout', '--detach', '--force', '--quiet', commit]);
        await inside().run(['clean', '-ffdq']);
      } catch {
        await recreate(commit);
      }
    },
    async remove() {
      rmSync(path, { recursive: true, force: true });
      await repo.run(['worktree', 'prune']);
      fresh = false;
    },
  };
}
