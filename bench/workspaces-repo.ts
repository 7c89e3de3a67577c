import type { Git } from '../src/server/workspaces/git.js';
import { prng } from './prng.js';

/**
 * Builders of git repositories for the workspaces benchmarks and tests: `git fast-import` writes
 * any number of commits in one process, where `git commit` would cost a process (and an index)
 * each. The merge-queue benchmark reuses `generateWorkspaceRepo` and `commitOnto`.
 */

/** One commit to import. Paths are plain (no newline, no leading quote). */
export interface CommitSpec {
  /** Parents: object ids, or `:n` for the n-th commit (from 1) of the same import. */
  readonly parents: readonly string[];
  /** The whole tree (path → content); without it the first parent's tree with `edits`. */
  readonly tree?: ReadonlyMap<string, string>;
  /** Path → new content, or null to delete it (applied after `tree`). */
  readonly edits?: ReadonlyMap<string, string | null>;
  /** Also point this ref at the commit. */
  readonly ref?: string;
  readonly message?: string;
}

const SCRATCH_REF = 'refs/baton-import/scratch';
const EPOCH_SECONDS = 1_750_000_000;

/** Imports the commits in order and returns their object ids. */
export async function fastImport(git: Git, commits: readonly CommitSpec[]): Promise<string[]> {
  const out: string[] = [];
  commits.forEach((spec, i) => {
    const message = spec.message ?? `commit ${i + 1}`;
    // `reset` first so that a commit without parents is a root, not a child of the last one.
    out.push(`reset ${SCRATCH_REF}\n`, `commit ${SCRATCH_REF}\nmark :${i + 1}\n`);
    out.push(`committer Baton <baton@example.invalid> ${EPOCH_SECONDS + i} +0000\n`, data(message));
    spec.parents.forEach((parent, p) => {
      out.push(`${p === 0 ? 'from' : 'merge'} ${parent}\n`);
    });
    if (spec.tree !== undefined) {
      out.push('deleteall\n');
      for (const [path, content] of spec.tree) out.push(`M 100644 inline ${path}\n`, data(content));
    }
    for (const [path, content] of spec.edits ?? []) {
      out.push(content === null ? `D ${path}\n` : `M 100644 inline ${path}\n${data(content)}`);
    }
    out.push('\n');
    if (spec.ref !== undefined) out.push(`reset ${spec.ref}\nfrom :${i + 1}\n\n`);
  });
  for (let i = 1; i <= commits.length; i++) out.push(`get-mark :${i}\n`);
  const { stdout } = await git.run(['fast-import', '--quiet', '--done'], { input: `${out.join('')}done\n` });
  await git.run(['update-ref', '-d', SCRATCH_REF]);
  return stdout.split('\n').filter((line) => line !== '');
}

function data(content: string): string {
  return `data ${Buffer.byteLength(content)}\n${content}\n`;
}

/** One commit on top of `parent` changing `edits`; returns its id. */
export async function commitOnto(
  git: Git,
  parent: string,
  edits: ReadonlyMap<string, string | null>,
  ref?: string,
): Promise<string> {
  const [id] = await fastImport(git, [{ parents: [parent], edits, ...(ref === undefined ? {} : { ref }) }]);
  return id as string;
}

export interface WorkspaceRepoOptions {
  /** Files in the base commit (default 10,000), in directories of 100. */
  readonly files?: number;
  /** Worker branches forked from the base (default 32). */
  readonly branches?: number;
  /** Files each branch edits (default 20). */
  readonly editsPerBranch?: number;
  /** How many of those come from a small pool shared by all branches: the overlaps (default 2). */
  readonly sharedPerBranch?: number;
  /** Size of that shared pool (default 24). */
  readonly sharedPool?: number;
  readonly seed?: number;
}

export interface WorkspaceBranch {
  readonly name: string;
  readonly head: string;
  readonly edited: readonly string[];
}

export interface WorkspaceRepo {
  readonly git: Git;
  /** The target branch (`main`) and its head: the base every branch forks from. */
  readonly target: string;
  readonly base: string;
  readonly files: readonly string[];
  readonly branches: readonly WorkspaceBranch[];
  /** Picks `count` distinct files the way the branches' edits were picked (shared pool first). */
  pickEdits(count: number, shared: number): string[];
}

/**
 * A repository of `files` files on `main` and `branches` branches `baton/w00`... each forked from
 * main and editing `editsPerBranch` files, `sharedPerBranch` of them from a small shared pool so
 * that some pairs overlap (and conflict: every edit writes the branch's own line).
 */
export async function generateWorkspaceRepo(
  git: Git,
  options: WorkspaceRepoOptions = {},
): Promise<WorkspaceRepo> {
  const fileCount = options.files ?? 10_000;
  const branchCount = options.branches ?? 32;
  const editsPerBranch = options.editsPerBranch ?? 20;
  const sharedPerBranch = options.sharedPerBranch ?? 2;
  const random = prng(options.seed ?? 1);
  const files = Array.from({ length: fileCount }, (_, i) => `src/d${Math.floor(i / 100)}/f${i % 100}.txt`);
  const shared = files.slice(0, options.sharedPool ?? 24);
  const pickEdits = (count: number, fromShared: number): string[] => {
    const picked = new Set<string>();
    while (picked.size < Math.min(fromShared, shared.length)) {
      picked.add(shared[Math.floor(random() * shared.length)] as string);
    }
    while (picked.size < count) picked.add(files[Math.floor(random() * files.length)] as string);
    return [...picked];
  };

  await git.run(['init', '-q', '-b', 'main']);
  const tree = new Map(files.map((path, i) => [path, `file ${i}\n`.repeat(8)]));
  const plans = Array.from({ length: branchCount }, (_, i) => ({
    name: `baton/w${String(i).padStart(2, '0')}`,
    edited: pickEdits(editsPerBranch, sharedPerBranch),
  }));
  const ids = await fastImport(git, [
    { parents: [], tree, ref: 'refs/heads/main', message: 'base' },
    ...plans.map((plan) => ({
      parents: [':1'],
      edits: new Map(plan.edited.map((path) => [path, `${tree.get(path)}edited on ${plan.name}\n`])),
      ref: `refs/heads/${plan.name}`,
      message: `work on ${plan.name}`,
    })),
  ]);
  return {
    git,
    target: 'main',
    base: ids[0] as string,
    files,
    branches: plans.map((plan, i) => ({ ...plan, head: ids[i + 1] as string })),
    pickEdits,
  };
}
