// workspaces/: the shared git repository: worktrees per worker, the conflict matrix, the merge queue.
// Imports src/core only (test/architecture/walls.test.ts).
import type { BranchScan, ConflictGit } from './conflict-git.js';
import { clash, type PathSet } from './conflict-paths.js';

/** A branch that moved in this refresh, the target staying where it was. */
export interface BranchMove {
  readonly before: BranchScan;
  readonly after: BranchScan;
  /**
   * The paths the move changed (`before.head` → `after.head`) when every one of them is a file
   * modified in place (same mode, not added, deleted or renamed); undefined otherwise.
   */
  readonly modified: PathSet | undefined;
}

/**
 * The conflict matrix's shortcuts, each sound: it answers true only when `git merge-tree` would
 * say the same, so a pair it settles needs no merge. Everything rests on one fact: in a merge that
 * detects no directory renames (MATRIX_MERGE_CONFIG), two sides whose changed paths neither meet
 * nor nest merge cleanly, and a path one side did not change merges to the other side's version
 * (docs/workspaces.md, "Conflict matrix").
 */
export interface ConflictPrefilter {
  /** True only if the two branches' merge cannot conflict. */
  clean(a: BranchScan, b: BranchScan): Promise<boolean>;
  /** True only if the branch's merge with the target at `head` cannot conflict. */
  cleanWithTarget(scan: BranchScan, head: string): Promise<boolean>;
  /** True only if the merge of `move.after` with `other` says what the merge of `move.before` with it said. */
  keeps(move: BranchMove, other: BranchScan): boolean;
}

export function createConflictPrefilter(git: ConflictGit): ConflictPrefilter {
  return {
    clean: async (a, b) => {
      if (a.base === undefined || b.base === undefined || intersects(a.own, b.own)) return false;
      // Own commits disjoint and one merge base each with the target: the pair's merge bases are
      // the merge bases of those two bases.
      if (clash(a.changed, b.changed)) return false;
      if (a.base === b.base) return true;
      const bases = await git.mergeBases(a.base, b.base);
      const base = bases.length === 1 ? bases[0] : undefined;
      if (base === undefined) return false;
      // What the target did between the pair's base and each branch's base counts as that side's.
      const [aExtra, bExtra] = await Promise.all([git.changed(base, a.base), git.changed(base, b.base)]);
      return !clash(a.changed, bExtra) && !clash(aExtra, b.changed) && !clash(aExtra, bExtra);
    },
    cleanWithTarget: async (scan, head) => {
      if (scan.base === undefined) return false;
      if (scan.changed.paths.size === 0) return true;
      return !clash(scan.changed, await git.changed(scan.base, head));
    },
    keeps: ({ before, after, modified }, other) => {
      // One merge base B for both merges (as in `clean`), and the move only rewrote files that
      // B, the old head and `other` all hold alike: every other path merges as it did, and
      // those merge to the moved side's new content.
      const base = before.base;
      if (modified === undefined || base === undefined || after.base !== base || other.base !== base) {
        return false;
      }
      if (intersects(after.own, other.own)) return false;
      for (const path of modified.paths) if (before.changed.paths.has(path)) return false;
      return !clash(modified, other.changed);
    },
  };
}

export function intersects(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  for (const item of small) if (large.has(item)) return true;
  return false;
}
