// workspaces/: the shared git repository: worktrees per worker, the conflict matrix, the merge queue.
// Imports src/core only (test/architecture/walls.test.ts).

import { NO_PATHS, type PathSet, pathSet } from './conflict-paths.js';
import type { Git } from './git.js';

/**
 * The merge configuration every matrix merge runs with. Directory rename detection is off: with
 * it, a file one side adds under `d/` while the other side renames `d/` to `e/` is a conflict
 * (git's "file location"), although the two sides changed disjoint paths; without it, two sides
 * whose changed paths neither meet nor nest always merge cleanly, which is what makes the
 * matrix's prefilter sound. File renames stay detected as `git merge` does: a rename only ever
 * involves paths its own side changed (the source it deletes, the destination it adds).
 */
export const MATRIX_MERGE_CONFIG: readonly string[] = ['-c', 'merge.directoryRenames=false'];

/** What `git merge-tree` says of two commits. */
export interface MergeOutcome {
  readonly clean: boolean;
  /** The conflicting paths, sorted; empty when clean. */
  readonly paths: readonly string[];
}

export const CLEAN: MergeOutcome = { clean: true, paths: [] };

/** A branch as seen from the target head it was scanned against. */
export interface BranchScan {
  readonly head: string;
  /** The branch's one merge base with the target; undefined when it has several or none. */
  readonly base: string | undefined;
  /** The commits on the branch that are not on the target. */
  readonly own: ReadonlySet<string>;
  /** The paths changed from `base` to `head` (renames as a deletion and an addition). */
  readonly changed: PathSet;
}

/** What the target gained when it moved. */
export interface TargetMove {
  /** The old head is an ancestor of the new one. */
  readonly forward: boolean;
  /** Commits on the new head that were not on the old one. */
  readonly added: ReadonlySet<string>;
}

/** The git questions the conflict matrix asks, each one command. */
export interface ConflictGit {
  mergeTree(a: string, b: string): Promise<MergeOutcome>;
  /** Scans `head` against `target`; `guessBase` lets the diff start alongside the history walk. */
  scan(head: string, target: string, guessBase: string | undefined): Promise<BranchScan>;
  /** Paths changed between two commits. Memoized: commits never change. */
  changed(from: string, to: string): Promise<PathSet>;
  /**
   * The paths changed between two commits when each is a file modified in place (same mode on
   * both sides); undefined when any was added, deleted or changed type.
   */
  modifiedInPlace(from: string, to: string): Promise<PathSet | undefined>;
  /** The best common ancestors of two commits. Memoized. */
  mergeBases(a: string, b: string): Promise<readonly string[]>;
  targetMove(from: string, to: string): Promise<TargetMove>;
  /** The commit a ref names. */
  resolve(ref: string): Promise<string>;
}

const MEMO_ENTRIES = 1024;

export function createConflictGit(git: Git): ConflictGit {
  const changedMemo = memo<PathSet>();
  const basesMemo = memo<readonly string[]>();

  const changed = (from: string, to: string): Promise<PathSet> =>
    from === to
      ? Promise.resolve(NO_PATHS)
      : changedMemo(`${from}..${to}`, async () => {
          const { stdout } = await git.run([
            'diff-tree',
            '-r',
            '--name-only',
            '-z',
            '--no-renames',
            from,
            to,
          ]);
          return pathSet(fields(stdout));
        });

  const mergeBases = (a: string, b: string): Promise<readonly string[]> =>
    basesMemo(a < b ? `${a} ${b}` : `${b} ${a}`, async () => {
      // Exit 1: no common ancestor at all (unrelated histories).
      const { stdout } = await git.run(['merge-base', '--all', a, b], { okCodes: [1] });
      return stdout.split('\n').filter((line) => line !== '');
    });

  const scan = async (head: string, target: string, guessBase: string | undefined): Promise<BranchScan> => {
    // The diff against the likely base (the last one) runs beside the walk that confirms it.
    const guessed = guessBase === undefined ? undefined : changed(guessBase, head);
    guessed?.catch(() => undefined);
    const { stdout } = await git.run(['rev-list', '--boundary', head, `^${target}`]);
    const own = new Set<string>();
    const boundary: string[] = [];
    for (const line of stdout.split('\n')) {
      if (line.startsWith('-')) boundary.push(line.slice(1));
      else if (line !== '') own.add(line);
    }
    if (own.size === 0) return { head, base: head, own, changed: NO_PATHS };
    // Every merge base is a boundary commit (a parent of an own commit that the target has), so a
    // single boundary commit is the merge base; several (a merge of the target into the branch)
    // need git to say which of them are best.
    let bases = boundary;
    if (bases.length !== 1) bases = [...(await mergeBases(head, target))];
    const base = bases.length === 1 ? bases[0] : undefined;
    if (base === undefined) return { head, base, own, changed: NO_PATHS };
    return {
      head,
      base,
      own,
      changed: await (base === guessBase && guessed ? guessed : changed(base, head)),
    };
  };

  return {
    mergeTree: async (a, b) => {
      const { stdout, exitCode } = await git.run(
        [...MATRIX_MERGE_CONFIG, 'merge-tree', '--write-tree', '--name-only', '--no-messages', '-z', a, b],
        { okCodes: [1] },
      );
      if (exitCode === 0) return CLEAN;
      // The first field is the merged tree; a file moved aside by a file/directory clash is named
      // `path~<commit>`: report the path the two sides fight over.
      const paths = new Set<string>();
      for (const path of fields(stdout).slice(1)) paths.add(withoutSide(path, a, b));
      return { clean: false, paths: [...paths].sort() };
    },
    scan,
    changed,
    modifiedInPlace: async (from, to) => {
      const { stdout } = await git.run(['diff-tree', '-r', '-z', '--no-renames', '--raw', from, to]);
      // -z --raw: ":<old mode> <new mode> <old id> <new id> <status>" NUL "<path>" NUL, per path.
      const items = fields(stdout);
      const paths: string[] = [];
      for (let i = 0; i + 1 < items.length; i += 2) {
        const [oldMode, newMode, , , status] = (items[i] as string).slice(1).split(' ');
        if (status !== 'M' || oldMode !== newMode) return undefined;
        paths.push(items[i + 1] as string);
      }
      return pathSet(paths);
    },
    mergeBases,
    targetMove: async (from, to) => {
      const { stdout } = await git.run(['rev-list', '--left-right', `${from}...${to}`]);
      const added = new Set<string>();
      let forward = true;
      for (const line of stdout.split('\n')) {
        if (line.startsWith('>')) added.add(line.slice(1));
        else if (line.startsWith('<')) forward = false;
      }
      return { forward, added };
    },
    resolve: (ref) => git.line(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]),
  };
}

function fields(stdout: string): string[] {
  return stdout.split('\0').filter((field) => field !== '');
}

function withoutSide(path: string, a: string, b: string): string {
  for (const side of [a, b]) if (path.endsWith(`~${side}`)) return path.slice(0, -side.length - 1);
  return path;
}

/** Promise memo with first-in-first-out eviction; a failed computation is forgotten. */
function memo<T>(): (key: string, compute: () => Promise<T>) => Promise<T> {
  const entries = new Map<string, Promise<T>>();
  return (key, compute) => {
    const known = entries.get(key);
    if (known !== undefined) return known;
    const promise = compute();
    entries.set(key, promise);
    promise.catch(() => {
      if (entries.get(key) === promise) entries.delete(key);
    });
    if (entries.size > MEMO_ENTRIES) entries.delete(entries.keys().next().value as string);
    return promise;
  };
}
