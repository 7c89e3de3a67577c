// workspaces/: the shared git repository: worktrees per worker, the conflict matrix, the merge queue.
// Imports src/core only (test/architecture/walls.test.ts).
import { invalidArgument } from '../../core/errors.js';
import {
  type BranchScan,
  CLEAN,
  createConflictGit,
  type MergeOutcome,
  type TargetMove,
} from './conflict-git.js';
import { NO_PATHS, type PathSet } from './conflict-paths.js';
import { type BranchMove, createConflictPrefilter, intersects } from './conflict-prefilter.js';
import type { Git } from './git.js';
import { createGitPool } from './git-pool.js';

export type PairStatus = 'clean' | 'conflict';

/** Whether two branches, or a branch and the target, merge cleanly right now. */
export interface MatrixPair {
  /** A live branch. */
  readonly a: string;
  /** Another live branch (then `a < b`), or the target branch. */
  readonly b: string;
  readonly status: PairStatus;
  /** The paths `git merge-tree` names as conflicting, sorted; empty when clean. */
  readonly paths: readonly string[];
}

/**
 * What a refresh changed, for `coord:conflict` / `coord:conflict-cleared`. A pair that stays in
 * conflict on other paths is a new `conflict` with the new paths; a removed branch clears its
 * conflicts.
 */
export interface MatrixChange {
  readonly kind: 'conflict' | 'conflict-cleared';
  readonly a: string;
  readonly b: string;
  /** `conflict`: the paths now in conflict; `conflict-cleared`: the paths that were. */
  readonly paths: readonly string[];
}

/**
 * A head the matrix could not read (the commit does not exist: the branch keeps its last head, a
 * new branch stays out) or a pair git could not merge (it keeps its last result and is retried
 * at the next refresh).
 */
export interface MatrixFailure {
  readonly branches: readonly string[];
  readonly error: Error;
}

export interface MatrixRefresh {
  readonly changes: readonly MatrixChange[];
  readonly failures: readonly MatrixFailure[];
}

/**
 * The live conflict matrix: for every pair of live branches, and each branch against the target,
 * whether they merge cleanly and on which paths they conflict. Heads are recorded as they are
 * reported; `refresh` brings the matrix up to date, recomputing only the pairs a moved head takes
 * part in.
 */
export interface ConflictMatrix {
  /** The target branch's name (the `b` of every branch-vs-target pair). */
  readonly target: string;
  /** Records a branch's head (a full object id), adding the branch if it is new. */
  setHead(branch: string, commit: string): void;
  /** Records that a branch is gone; its conflicts are cleared at the next refresh. */
  remove(branch: string): void;
  /** Records the target's head. Without it the first refresh reads `refs/heads/<target>`. */
  setTarget(commit: string): void;
  /**
   * Applies every head recorded since the last refresh and returns what changed. Refreshes run one
   * after another; each change is returned by exactly one of them.
   */
  refresh(): Promise<MatrixRefresh>;
  /** Every pair, clean or not, sorted by `a` then `b`. */
  pairs(): MatrixPair[];
  /** The pairs in conflict, sorted. */
  conflicts(): MatrixPair[];
  /** The pairs in conflict that `branch` is part of (as `a` or `b`), sorted. */
  conflictsOf(branch: string): MatrixPair[];
  /** The live branches and the heads the matrix holds for them. */
  heads(): ReadonlyMap<string, string>;
  targetHead(): string | undefined;
  /** Git commands run so far by subcommand (`merge-tree`, `rev-list`, ...): what the benchmark and tests count. */
  gitRuns(): Readonly<Record<string, number>>;
}

export interface ConflictMatrixOptions {
  readonly git: Git;
  /** The target branch's name, e.g. `main`. */
  readonly target: string;
  /** Git processes at once (default 2). */
  readonly parallelism?: number;
  /**
   * Skip merges the prefilter settles (default true): sides whose changed paths neither meet nor
   * nest, and a branch whose move only rewrote files the other side left alone
   * (conflict-prefilter.ts). Off, every recomputed pair runs `git merge-tree`: the benchmark's
   * baseline.
   */
  readonly prefilter?: boolean;
}

const OBJECT_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

export function createConflictMatrix(options: ConflictMatrixOptions): ConflictMatrix {
  const { target } = options;
  const pool = createGitPool(options.git, options.parallelism ?? 2);
  const git = createConflictGit(pool);
  const prefilter = options.prefilter ?? true;
  const filter = createConflictPrefilter(git);

  const scans = new Map<string, BranchScan>();
  const pairsOf = new Map<string, Map<string, MatrixPair>>();
  const vsTarget = new Map<string, MatrixPair>();
  const conflicting = new Map<string, MatrixPair>();
  const retry = new Map<string, readonly [string, string]>();
  /** Pairs whose last merge failed: their recorded outcome is of older heads. */
  const outdated = new Set<string>();
  /** null: removed. */
  const pending = new Map<string, string | null>();
  let pendingTarget: string | undefined;
  let targetHead: string | undefined;
  let chain: Promise<unknown> = Promise.resolve();

  const checkBranch = (branch: string): void => {
    if (typeof branch !== 'string' || branch === '' || branch.includes('\0')) {
      throw invalidArgument(`branch must be a non-empty name, got ${JSON.stringify(branch)}`, {
        field: 'branch',
      });
    }
    if (branch === target) {
      throw invalidArgument(`branch ${branch} is the target: move it with setTarget`, { field: 'branch' });
    }
  };
  const checkCommit = (commit: string, of: string): void => {
    if (typeof commit !== 'string' || !OBJECT_ID.test(commit)) {
      throw invalidArgument(`the head of ${of} must be a full object id, got ${JSON.stringify(commit)}`, {
        field: 'commit',
      });
    }
  };

  /** The pair's last outcome when one side's move provably leaves it as it was. */
  const kept = (
    a: string,
    b: string,
    moves: ReadonlyMap<string, BranchMove | undefined>,
  ): MergeOutcome | undefined => {
    const previous = pairsOf.get(a)?.get(b);
    const [moved, other] = moves.has(a) ? [a, b] : [b, a];
    const move = moves.get(moved);
    if (previous === undefined || outdated.has(pairKey(a, b))) return undefined;
    if (move === undefined || moves.has(other)) return undefined;
    if (!filter.keeps(move, scans.get(other) as BranchScan)) return undefined;
    return { clean: previous.status === 'clean', paths: previous.paths };
  };

  const compute = async (
    a: string,
    b: string,
    head: string,
    moves: ReadonlyMap<string, BranchMove | undefined>,
  ): Promise<MergeOutcome> => {
    const left = scans.get(a) as BranchScan;
    if (b === target) {
      if (prefilter && (await filter.cleanWithTarget(left, head))) return CLEAN;
      return git.mergeTree(left.head, head);
    }
    const right = scans.get(b) as BranchScan;
    if (prefilter && (await filter.clean(left, right))) return CLEAN;
    return (prefilter ? kept(a, b, moves) : undefined) ?? git.mergeTree(left.head, right.head);
  };

  const record = (a: string, b: string, outcome: MergeOutcome, changes: MatrixChange[]): void => {
    const previous = b === target ? vsTarget.get(a) : pairsOf.get(a)?.get(b);
    const pair: MatrixPair = { a, b, status: outcome.clean ? 'clean' : 'conflict', paths: outcome.paths };
    outdated.delete(pairKey(a, b));
    if (outcome.clean) {
      if (previous?.status === 'conflict') changes.push(cleared(previous));
    } else {
      if (previous?.status !== 'conflict' || !samePaths(previous.paths, pair.paths)) {
        changes.push({ kind: 'conflict', a, b, paths: pair.paths });
      }
      conflicting.set(pairKey(a, b), pair);
    }
    if (b === target) vsTarget.set(a, pair);
    else {
      adjacency(a).set(b, pair);
      adjacency(b).set(a, pair);
    }
  };

  const cleared = (pair: MatrixPair): MatrixChange => {
    conflicting.delete(pairKey(pair.a, pair.b));
    return { kind: 'conflict-cleared', a: pair.a, b: pair.b, paths: pair.paths };
  };

  const adjacency = (branch: string): Map<string, MatrixPair> => {
    const known = pairsOf.get(branch);
    if (known !== undefined) return known;
    const pairs = new Map<string, MatrixPair>();
    pairsOf.set(branch, pairs);
    return pairs;
  };

  const drop = (branch: string, changes: MatrixChange[]): void => {
    if (!scans.delete(branch)) return;
    for (const key of outdated) if (key.split('\0').includes(branch)) outdated.delete(key);
    for (const [other, pair] of pairsOf.get(branch) ?? []) {
      pairsOf.get(other)?.delete(branch);
      if (pair.status === 'conflict') changes.push(cleared(pair));
    }
    pairsOf.delete(branch);
    const withTarget = vsTarget.get(branch);
    if (withTarget?.status === 'conflict') changes.push(cleared(withTarget));
    vsTarget.delete(branch);
  };

  /** Moves the target; returns what it gained, or undefined when it did not move. */
  const moveTarget = async (
    from: string,
    to: string | undefined,
    failures: MatrixFailure[],
  ): Promise<TargetMove | undefined> => {
    if (to === undefined || to === from) return undefined;
    try {
      const move = await git.targetMove(from, to);
      targetHead = to;
      return move;
    } catch (error) {
      failures.push({ branches: [target], error: asError(error) });
      return undefined;
    }
  };

  const step = async (): Promise<MatrixRefresh> => {
    if (targetHead === undefined) {
      // Until the target is known nothing else is taken: a bad first target rejects the refresh.
      const wanted = pendingTarget;
      targetHead = await git.resolve(wanted ?? `refs/heads/${target}`);
      if (pendingTarget === wanted) pendingTarget = undefined;
    }
    const heads = new Map(pending);
    pending.clear();
    const changes: MatrixChange[] = [];
    const failures: MatrixFailure[] = [];
    const wantedTarget = pendingTarget;
    pendingTarget = undefined;
    const move = await moveTarget(targetHead, wantedTarget, failures);
    const head = targetHead;

    for (const [branch, commit] of heads) if (commit === null) drop(branch, changes);
    const moved = [...heads].filter(
      (entry): entry is [string, string] => entry[1] !== null && scans.get(entry[0])?.head !== entry[1],
    );
    const movedScans = await Promise.all(
      moved.map(([branch, commit]) => {
        const before = scans.get(branch);
        // What the move rewrote, read beside the scan, for the pairs it may leave as they were.
        const modified =
          prefilter && before !== undefined && move === undefined
            ? git.modifiedInPlace(before.head, commit).catch(() => undefined)
            : undefined;
        return Promise.all([git.scan(commit, head, before?.base ?? head), modified]).catch(
          (error: unknown) => {
            failures.push({ branches: [branch], error: asError(error) });
            return undefined;
          },
        );
      }),
    );
    /** Every branch whose head moved; the move when it can be reasoned about. */
    const moves = new Map<string, BranchMove | undefined>();
    moved.forEach(([branch], i) => {
      const scanned = movedScans[i];
      if (scanned === undefined) return;
      const before = scans.get(branch);
      const [after, modified] = scanned as [BranchScan, PathSet | undefined];
      moves.set(branch, before === undefined ? undefined : { before, after, modified });
      scans.set(branch, after);
    });
    if (move !== undefined) {
      // A scan stays true while the target gains none of the branch's own commits: the branch's
      // merge base and own commits are then the same against the new head.
      const stale = [...scans].filter(
        ([branch, scan]) => !moves.has(branch) && (!move.forward || intersects(scan.own, move.added)),
      );
      await Promise.all(
        stale.map(async ([branch, scan]) => {
          try {
            scans.set(branch, await git.scan(scan.head, head, scan.base));
          } catch (error) {
            failures.push({ branches: [branch], error: asError(error) });
            scans.set(branch, { head: scan.head, base: undefined, own: new Set(), changed: NO_PATHS });
          }
        }),
      );
    }

    const dirty = new Map<string, readonly [string, string]>();
    const mark = (a: string, b: string): void => {
      const pair = b === target || a < b ? ([a, b] as const) : ([b, a] as const);
      dirty.set(pairKey(...pair), pair);
    };
    for (const branch of moves.keys()) {
      for (const other of scans.keys()) if (other !== branch) mark(branch, other);
      mark(branch, target);
    }
    if (move !== undefined) for (const branch of scans.keys()) mark(branch, target);
    for (const [a, b] of retry.values()) if (scans.has(a) && (b === target || scans.has(b))) mark(a, b);
    retry.clear();

    const outcomes = await Promise.all(
      [...dirty.values()].map(([a, b]) =>
        compute(a, b, head, moves).catch((error: unknown) => {
          failures.push({ branches: [a, b], error: asError(error) });
          retry.set(pairKey(a, b), [a, b]);
          outdated.add(pairKey(a, b));
          return undefined;
        }),
      ),
    );
    [...dirty.values()].forEach(([a, b], i) => {
      const outcome = outcomes[i];
      if (outcome !== undefined) record(a, b, outcome, changes);
    });
    return { changes: changes.sort(byPair), failures };
  };

  const sorted = (pairs: Iterable<MatrixPair>): MatrixPair[] => [...pairs].sort(byPair);

  return {
    target,
    setHead: (branch, commit) => {
      checkBranch(branch);
      checkCommit(commit, branch);
      pending.set(branch, commit);
    },
    remove: (branch) => {
      checkBranch(branch);
      pending.set(branch, null);
    },
    setTarget: (commit) => {
      checkCommit(commit, target);
      pendingTarget = commit;
    },
    refresh: () => {
      const run = chain.then(step);
      chain = run.catch(() => undefined);
      return run;
    },
    pairs: () => {
      const all: MatrixPair[] = [...vsTarget.values()];
      for (const [branch, pairs] of pairsOf)
        for (const [other, pair] of pairs) if (branch < other) all.push(pair);
      return all.sort(byPair);
    },
    conflicts: () => sorted(conflicting.values()),
    conflictsOf: (branch) => {
      const mine = [
        ...(pairsOf.get(branch)?.values() ?? []),
        ...(vsTarget.has(branch) ? [vsTarget.get(branch)!] : []),
      ];
      return sorted(mine.filter((pair) => pair.status === 'conflict'));
    },
    heads: () => new Map([...scans].map(([branch, scan]) => [branch, scan.head])),
    targetHead: () => targetHead,
    gitRuns: () => pool.runs(),
  };
}

function pairKey(a: string, b: string): string {
  return `${a}\0${b}`;
}

function byPair(x: { a: string; b: string }, y: { a: string; b: string }): number {
  return x.a < y.a ? -1 : x.a > y.a ? 1 : x.b < y.b ? -1 : x.b > y.b ? 1 : 0;
}

function samePaths(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((path, i) => path === b[i]);
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
