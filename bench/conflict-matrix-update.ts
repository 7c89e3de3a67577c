import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConflictMatrix, createConflictMatrix } from '../src/server/workspaces/conflict-matrix.js';
import { createGit } from '../src/server/workspaces/git.js';
import { fmt, median } from './stats.js';
import { commitOnto, generateWorkspaceRepo, type WorkspaceRepo } from './workspaces-repo.js';

/**
 * The conflict matrix on a generated repository (docs/benchmarks.md, "Workspaces"): 10,000 files,
 * 32 worker branches editing 20 files each, 2 of them from a shared pool of 24 (so some pairs
 * conflict). Timed: the full matrix from cold (every one of the 496 pairs and 32 branch-vs-target
 * pairs), and one refresh after one branch gains a commit (its 31 pairs and the target: the
 * issue's ≤ 50 ms), each with the prefilter (as served) and without it (every recomputed pair a
 * `git merge-tree`: the baseline).
 */
const BRANCHES = 32;
const EDITS = 20;
/** A moved branch's new commit edits this many files, one of them from the shared pool. */
const MOVE_EDITS = 5;
export const UPDATE_TARGET_MS = 50;

export interface MatrixFigures {
  readonly updateMs: number;
  readonly updateMerges: number;
  readonly lines: readonly string[];
}

interface Timed {
  readonly ms: number;
  readonly merges: number;
  readonly conflicts: number;
}

const merges = (matrix: ConflictMatrix): number => matrix.gitRuns()['merge-tree'] ?? 0;

async function timedRefresh(matrix: ConflictMatrix): Promise<Timed> {
  const before = merges(matrix);
  const started = performance.now();
  const { failures } = await matrix.refresh();
  const ms = performance.now() - started;
  if (failures.length > 0) throw failures[0]?.error;
  return { ms, merges: merges(matrix) - before, conflicts: matrix.conflicts().length };
}

async function cold(
  repo: WorkspaceRepo,
  prefilter: boolean,
): Promise<{ matrix: ConflictMatrix; run: Timed }> {
  const matrix = createConflictMatrix({ git: repo.git, target: repo.target, prefilter });
  for (const branch of repo.branches) matrix.setHead(branch.name, branch.head);
  return { matrix, run: await timedRefresh(matrix) };
}

const spread = (ms: readonly number[]): string =>
  ms.length <= 5
    ? `runs ${ms.map((x) => fmt(x, 0)).join(', ')}`
    : `${ms.length} runs, ${fmt(Math.min(...ms), 0)} to ${fmt(Math.max(...ms), 0)}`;

const summary = (label: string, runs: readonly Timed[], extra = ''): string =>
  `${label}${fmt(median(runs.map((r) => r.ms)), 1)} ms median (${spread(runs.map((r) => r.ms))}), ` +
  `${fmt(median(runs.map((r) => r.merges)))} merge-tree runs median${extra}`;

/** `coldRuns` cold matrices and `updates` one-branch moves, each setting (prefilter on, off). */
export async function measureConflictMatrix(coldRuns: number, updates: number): Promise<MatrixFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-bench-matrix-'));
  try {
    const repo = await generateWorkspaceRepo(createGit(dir), {
      files: 10_000,
      branches: BRANCHES,
      editsPerBranch: EDITS,
    });
    const colds: Record<'on' | 'off', Timed[]> = { on: [], off: [] };
    const matrices: Partial<Record<'on' | 'off', ConflictMatrix>> = {};
    for (let r = 0; r < coldRuns; r++) {
      for (const setting of ['on', 'off'] as const) {
        const { matrix, run } = await cold(repo, setting === 'on');
        colds[setting].push(run);
        matrices[setting] = matrix;
      }
    }
    const on = matrices.on as ConflictMatrix;
    const off = matrices.off as ConflictMatrix;
    const heads = new Map(repo.branches.map((b) => [b.name, b.head]));
    const moves: Record<'on' | 'off', Timed[]> = { on: [], off: [] };
    for (let u = 0; u < updates; u++) {
      const branch = repo.branches[(u * 7) % BRANCHES]?.name as string;
      const edits = repo.pickEdits(MOVE_EDITS, 1);
      const head = await commitOnto(
        repo.git,
        heads.get(branch) as string,
        new Map(edits.map((path) => [path, `update ${u} on ${branch}\n`])),
        `refs/heads/${branch}`,
      );
      heads.set(branch, head);
      for (const [setting, matrix] of [
        ['on', on],
        ['off', off],
      ] as const) {
        matrix.setHead(branch, head);
        moves[setting].push(await timedRefresh(matrix));
      }
    }
    if (JSON.stringify(on.pairs()) !== JSON.stringify(off.pairs())) {
      throw new Error('the matrix with the prefilter differs from the one without it');
    }
    const updateMs = median(moves.on.map((r) => r.ms));
    const updateMerges = median(moves.on.map((r) => r.merges));
    const offMs = median(moves.off.map((r) => r.ms));
    const pairs = (BRANCHES * (BRANCHES - 1)) / 2 + BRANCHES;
    return {
      updateMs,
      updateMerges,
      lines: [
        `conflict matrix: ${BRANCHES} branches × ${EDITS} edited files (2 from a shared pool of 24) on a 10,000-file repo; ` +
          `${pairs} pairs, ${on.conflicts().length} in conflict at the end`,
        summary('full matrix from cold, prefilter:    ', colds.on, ` (of ${pairs} pairs)`),
        summary('full matrix from cold, no prefilter: ', colds.off),
        summary(
          `one branch moves (${MOVE_EDITS} files), prefilter:    `,
          moves.on,
          ` (of ${BRANCHES} pairs: 31 + the target)`,
        ),
        summary(`one branch moves (${MOVE_EDITS} files), no prefilter: `, moves.off),
        `update vs the ≤ ${UPDATE_TARGET_MS} ms target: ${fmt(updateMs / UPDATE_TARGET_MS, 2)}x; ` +
          `without the prefilter ${fmt(offMs / UPDATE_TARGET_MS, 2)}x; prefilter speed-up ${fmt(offMs / updateMs, 2)}x`,
      ],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
