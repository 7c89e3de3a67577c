// workspaces/: the shared git repository: worktrees per worker, the conflict matrix, the merge queue.
// Imports src/core only (test/architecture/walls.test.ts).
import { type Git, GitError } from './git.js';

/** A commit with its tree, so a merge that changes nothing is seen without asking git again. */
export interface Tip {
  readonly commit: string;
  readonly tree: string;
}

export type MergeStep =
  | { readonly kind: 'merged'; readonly tip: Tip }
  /** The merge's tree is `onto`'s: what the commit brings is there already. No commit is written. */
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'conflict'; readonly paths: readonly string[] };

/**
 * The git side of the queue, all in the object database: merges are computed by
 * `merge-tree --write-tree` and written by `commit-tree` (no checkout, no index, so the
 * operator's checkout is never touched), and the target moves only by a compare-and-swap.
 */
export interface MergeCommits {
  /** The target branch's head, read once (commit and tree of the same read). */
  targetTip(): Promise<Tip>;
  /** Merges `commit` onto `onto`: a two-parent merge commit, nothing to merge, or the paths that conflict. */
  merge(onto: Tip, commit: string, message: string): Promise<MergeStep>;
  /**
   * Moves the target from `expected` to `next` if it is still at `expected`; false (and nothing
   * changed) when it moved meanwhile. Never forces.
   */
  land(next: string, expected: string, message: string): Promise<boolean>;
}

// The queue's merge commits are Baton's own, whatever identity the repository is configured with.
const IDENTITY = ['-c', 'user.name=Baton merge queue', '-c', 'user.email=baton@localhost'];

/** True when `commit` is `of` or one of its ancestors. */
export async function isAncestor(git: Git, commit: string, of: string): Promise<boolean> {
  return (await git.run(['merge-base', '--is-ancestor', commit, of], { okCodes: [1] })).exitCode === 0;
}

export function createMergeCommits(git: Git, target: string): MergeCommits {
  const ref = `refs/heads/${target}`;
  const targetTip = async (): Promise<Tip> => {
    const [commit = '', tree = ''] = (
      await git.line(['show', '-s', '--format=%H%n%T', `${ref}^{commit}`])
    ).split('\n');
    return { commit, tree };
  };
  return {
    targetTip,
    async merge(onto, commit, message) {
      const r = await git.run(
        ['merge-tree', '--write-tree', '-z', '--name-only', '--no-messages', onto.commit, commit],
        {
          okCodes: [1],
        },
      );
      const [tree = '', ...paths] = r.stdout.split('\0').filter((s) => s !== '');
      if (r.exitCode === 1) return { kind: 'conflict', paths: [...new Set(paths)] };
      if (tree === onto.tree) return { kind: 'unchanged' };
      const args = [...IDENTITY, 'commit-tree', tree, '-p', onto.commit, '-p', commit, '-m', message];
      return { kind: 'merged', tip: { commit: await git.line(args), tree } };
    },
    async land(next, expected, message) {
      try {
        await git.run(['update-ref', '-m', message, ref, next, expected]);
        return true;
      } catch (error) {
        // update-ref says only "cannot lock ref"; whether the target moved is read, not parsed.
        if (error instanceof GitError && (await targetTip()).commit !== expected) return false;
        throw error;
      }
    },
  };
}
