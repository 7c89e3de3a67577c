// workspaces/: the shared git repository: worktrees per worker, the conflict matrix, the merge queue.
// Imports src/core only (test/architecture/walls.test.ts).
import { mkdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { failedPrecondition, invalidArgument, notFound } from '../../core/errors.js';
import { createGit, type Git, GitError } from './git.js';

/** One worker's own worktree and branch, created from the target's head. */
export interface Workspace {
  readonly workerId: string;
  readonly branch: string;
  /** Absolute path of the worktree. */
  readonly path: string;
  /** The target's head the branch was created from. */
  readonly base: string;
  readonly createdAt: number;
}

/** What removing a workspace did: its branch is kept while it holds commits the target lacks. */
export interface Removal {
  readonly workerId: string;
  readonly branch: string;
  readonly branchDeleted: boolean;
  /** Commits on the branch that are not on the target (kept unless forced). */
  readonly unmerged: number;
}

/** Where workspace records are kept: `openCoordinator(...).records`, riding the group commit. */
export interface WorkspaceRecords {
  restored(kind: string): readonly { readonly id: string; readonly body: unknown }[];
  put(kind: string, id: string, body: unknown): void;
  remove(kind: string, id: string): void;
}

export interface WorkspaceManagerOptions {
  /** A path inside the repository (its main checkout, a worktree or a bare repository). */
  readonly repo: string;
  /** The branch Baton owns and lands on. Default `main`. */
  readonly target?: string;
  /** Where worktrees live. Default `<git common dir>/baton-worktrees`. */
  readonly worktreesDir?: string;
  readonly records: WorkspaceRecords;
  readonly now: () => number;
}

export interface WorkspaceManager {
  readonly target: string;
  /** The repository's common git directory (absolute). */
  readonly gitDir: string;
  readonly worktreesDir: string;
  /** Git in the repository, for the conflict matrix and the merge queue. */
  readonly git: Git;
  /** The worker's workspace, created on first use and re-created if its directory was deleted. */
  ensure(workerId: string): Promise<Workspace>;
  get(workerId: string): Workspace | undefined;
  list(): Workspace[];
  remove(workerId: string, options?: { force?: boolean }): Promise<Removal>;
  /** The commit a branch (or the target) points at. */
  head(branch: string): Promise<string>;
}

export const WORKSPACE_KIND = 'workspace';
const BRANCH_PREFIX = 'baton/';

const exists = async (p: string): Promise<boolean> => {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
};

/** `git worktree list --porcelain` as path → branch (`refs/heads/...`, or '' when detached). */
async function worktrees(git: Git): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let current: string | undefined;
  for (const line of (await git.run(['worktree', 'list', '--porcelain'])).stdout.split('\n')) {
    if (line.startsWith('worktree ')) {
      current = line.slice('worktree '.length);
      out.set(current, '');
    } else if (line.startsWith('branch ') && current !== undefined) {
      out.set(current, line.slice('branch '.length));
    }
  }
  return out;
}

/**
 * Opens the repository: checks that it is one, that the target exists and that no checkout of
 * the target has uncommitted changes (landing moves the target's ref; a dirty checkout of it
 * would then show the operator's edits as reverting what landed). Restores the workspaces the
 * store knows.
 */
export async function openWorkspaces(options: WorkspaceManagerOptions): Promise<WorkspaceManager> {
  const { records, now } = options;
  const target = options.target ?? 'main';
  if (!(await exists(options.repo))) {
    throw invalidArgument(`--repo ${options.repo} does not exist`, { field: 'repo' });
  }
  const repoGit = createGit(path.resolve(options.repo));
  let gitDir: string;
  try {
    gitDir = await repoGit.line(['rev-parse', '--path-format=absolute', '--git-common-dir']);
  } catch (error) {
    if (!(error instanceof GitError)) throw error;
    throw invalidArgument(`--repo ${options.repo} is not a git repository: ${error.stderr.trim()}`, {
      field: 'repo',
    });
  }
  const git = createGit(gitDir);
  const refOk = await git.run(['check-ref-format', '--branch', target], { okCodes: [1, 128] });
  if (refOk.exitCode !== 0) {
    throw invalidArgument(`--target ${target} is not a valid branch name`, { field: 'target' });
  }
  const targetHead = await git.run(['rev-parse', '--verify', '--quiet', `refs/heads/${target}^{commit}`], {
    okCodes: [1],
  });
  if (targetHead.exitCode !== 0) {
    throw invalidArgument(`the target branch ${target} does not exist in ${options.repo}`, {
      field: 'target',
    });
  }
  for (const [dir, branch] of await worktrees(git)) {
    if (branch !== `refs/heads/${target}`) continue;
    const dirty = await createGit(dir).line(['status', '--porcelain', '--untracked-files=no']);
    if (dirty !== '') {
      throw failedPrecondition(
        `the target ${target} is checked out at ${dir} with uncommitted changes: commit or stash them first`,
        { field: 'repo' },
      );
    }
  }
  const worktreesDir = path.resolve(options.worktreesDir ?? path.join(gitDir, 'baton-worktrees'));
  await mkdir(worktreesDir, { recursive: true });

  const spaces = new Map<string, Workspace>();
  for (const record of records.restored(WORKSPACE_KIND)) spaces.set(record.id, record.body as Workspace);

  // Git's worktree commands lock the repository's admin files: one at a time.
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = chain.then(fn, fn);
    chain = next.catch(() => undefined);
    return next;
  };

  const branchOf = async (workerId: string): Promise<string> => {
    if (typeof workerId !== 'string' || workerId === '') {
      throw invalidArgument('worker id must be a non-empty string', { field: 'worker_id' });
    }
    const branch = `${BRANCH_PREFIX}${workerId}`;
    const check = await git.run(['check-ref-format', '--branch', branch], { okCodes: [1, 128] });
    if (check.exitCode !== 0) {
      throw invalidArgument(`worker id ${JSON.stringify(workerId)} cannot name a git branch (${branch})`, {
        field: 'worker_id',
      });
    }
    return branch;
  };

  const branchExists = async (branch: string): Promise<boolean> =>
    (await git.run(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], { okCodes: [1] }))
      .exitCode === 0;

  const head = async (branch: string): Promise<string> => {
    const found = await git.run(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`], {
      okCodes: [1],
    });
    if (found.exitCode !== 0) throw notFound(`branch ${branch} does not exist`, { field: 'branch' });
    return found.stdout.trim();
  };

  const create = async (workerId: string): Promise<Workspace> => {
    const branch = await branchOf(workerId);
    const dir = path.join(worktreesDir, encodeURIComponent(workerId));
    const known = spaces.get(workerId);
    const registered = await worktrees(git);
    if (registered.get(dir) === `refs/heads/${branch}` && (await exists(dir))) {
      if (known !== undefined) return known;
      return adopt(workerId, branch, dir, await head(branch));
    }
    // A directory deleted behind Baton's back leaves git's admin entry: prune it, then add again.
    await git.run(['worktree', 'prune']);
    if (await exists(dir)) {
      throw failedPrecondition(`${dir} exists but is not the worktree of ${branch}: move it away`, {
        field: 'worktrees_dir',
      });
    }
    let base: string;
    if (await branchExists(branch)) {
      base = known?.base ?? (await head(branch));
      await git.run(['worktree', 'add', dir, branch]);
    } else {
      base = await head(target);
      await git.run(['worktree', 'add', '-b', branch, dir, base]);
    }
    return adopt(workerId, branch, dir, base);
  };

  const adopt = (workerId: string, branch: string, dir: string, base: string): Workspace => {
    const space: Workspace = { workerId, branch, path: dir, base, createdAt: now() };
    spaces.set(workerId, space);
    records.put(WORKSPACE_KIND, workerId, space);
    return space;
  };

  return {
    target,
    gitDir,
    worktreesDir,
    git,
    ensure: (workerId) => serial(() => create(workerId)),
    get: (workerId) => spaces.get(workerId),
    list: () => [...spaces.values()],
    head,
    remove: (workerId, removeOptions = {}) =>
      serial(async () => {
        const space = spaces.get(workerId);
        if (space === undefined)
          throw notFound(`worker ${workerId} has no workspace`, { field: 'worker_id' });
        const force = removeOptions.force === true;
        if (await exists(space.path)) {
          const removed = await git.run(['worktree', 'remove', ...(force ? ['--force'] : []), space.path], {
            okCodes: [128],
          });
          if (removed.exitCode !== 0) {
            throw failedPrecondition(
              `the workspace of ${workerId} has uncommitted changes (${removed.stderr.trim()}); commit them or force`,
              { field: 'force' },
            );
          }
        }
        await git.run(['worktree', 'prune']);
        let unmerged = 0;
        let branchDeleted = false;
        if (await branchExists(space.branch)) {
          unmerged = Number(
            await git.line(['rev-list', '--count', `refs/heads/${target}..refs/heads/${space.branch}`]),
          );
          if (unmerged === 0 || force) {
            await git.run(['branch', '-D', space.branch]);
            branchDeleted = true;
          }
        }
        spaces.delete(workerId);
        records.remove(WORKSPACE_KIND, workerId);
        return { workerId, branch: space.branch, branchDeleted, unmerged };
      }),
  };
}
