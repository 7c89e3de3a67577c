// workspaces/: the shared git repository: worktrees per worker, the conflict matrix, the merge queue.
// Imports src/core only (test/architecture/walls.test.ts).

/**
 * The paths one side of a merge changed, with every directory above them, so that "do these two
 * sides touch a common path" is answered by hash lookups over the smaller side.
 */
export interface PathSet {
  readonly paths: ReadonlySet<string>;
  /** Every proper directory prefix of a path in `paths` (`a/b/c` gives `a` and `a/b`). */
  readonly dirs: ReadonlySet<string>;
}

export const NO_PATHS: PathSet = { paths: new Set(), dirs: new Set() };

export function pathSet(paths: Iterable<string>): PathSet {
  const set = new Set(paths);
  const dirs = new Set<string>();
  for (const path of set) {
    for (let slash = path.indexOf('/'); slash > 0; slash = path.indexOf('/', slash + 1)) {
      dirs.add(path.slice(0, slash));
    }
  }
  return set.size === 0 ? NO_PATHS : { paths: set, dirs };
}

/**
 * True when a path of one side is a path of the other, or a directory holding one of the other's
 * paths: the only ways two sides' changes can meet in a merge that detects no directory renames
 * (same path: content, add/add, modify/delete; prefix: a file where the other side has a directory).
 */
export function clash(a: PathSet, b: PathSet): boolean {
  const [small, large] = a.paths.size <= b.paths.size ? [a, b] : [b, a];
  for (const path of small.paths) if (large.paths.has(path) || large.dirs.has(path)) return true;
  for (const dir of small.dirs) if (large.paths.has(dir)) return true;
  return false;
}
