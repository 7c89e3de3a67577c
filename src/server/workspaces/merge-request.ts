// workspaces/: the shared git repository: worktrees per worker, the conflict matrix, the merge queue.
// Imports src/core only (test/architecture/walls.test.ts).
import { failedPrecondition, invalidArgument, notFound } from '../../core/errors.js';
import type { Git } from './git.js';
import { isAncestor } from './merge-commits.js';

export interface EnqueueRequest {
  /** The branch to land, e.g. `baton/agent-1`. */
  readonly branch: string;
  /**
   * The commit of that branch to land (a worker's completed head). Default: the branch's head now.
   * It must be on the branch, so what lands is what the worker reported, not a later push.
   */
  readonly head?: string;
  /** Who asks: a worker id or an operator's name. */
  readonly by: string;
}

export interface ResolvedRequest {
  readonly branch: string;
  /** The full commit id. */
  readonly head: string;
  readonly by: string;
}

const COMMIT_ID = /^[0-9a-f]{4,64}$/i;

/**
 * Checks a request against the repository, reading only: a refused request changes nothing.
 * Git gets each user string as one argument; a name git refuses as a branch never reaches a
 * command that could read it as an option or a revision expression.
 */
export async function resolveRequest(
  git: Git,
  target: string,
  request: EnqueueRequest,
): Promise<ResolvedRequest> {
  const { branch, by } = request;
  if (typeof by !== 'string' || by.trim() === '') {
    throw invalidArgument('say who enqueues the merge (a worker id or an operator)', { field: 'by' });
  }
  if (typeof branch !== 'string' || branch === '')
    throw invalidArgument('the branch is empty', { field: 'branch' });
  const format = await git.run(['check-ref-format', '--branch', branch], { okCodes: [1, 128] });
  if (format.exitCode !== 0)
    throw invalidArgument(`${JSON.stringify(branch)} is not a valid branch name`, { field: 'branch' });
  if (branch === target) {
    throw invalidArgument(`${branch} is the target branch: it cannot be merged onto itself`, {
      field: 'branch',
    });
  }
  const tip = await commitOf(git, `refs/heads/${branch}`);
  if (tip === undefined) throw notFound(`unknown branch ${branch}`, { field: 'branch' });

  let head = tip;
  if (request.head !== undefined && request.head !== '') {
    const named = COMMIT_ID.test(request.head) ? await commitOf(git, request.head) : undefined;
    if (named === undefined)
      throw notFound(`unknown commit ${JSON.stringify(request.head)}`, { field: 'head' });
    if (!(await isAncestor(git, named, tip))) {
      throw failedPrecondition(`commit ${named} is not on branch ${branch} (its head is ${tip})`, {
        field: 'head',
      });
    }
    head = named;
  }
  const targetRef = `refs/heads/${target}`;
  const base = await git.run(['merge-base', head, targetRef], { okCodes: [1] });
  if (base.exitCode === 1) {
    throw failedPrecondition(`${branch} shares no history with ${target}: nothing to merge onto it`, {
      field: 'branch',
    });
  }
  if (await isAncestor(git, head, targetRef)) {
    throw failedPrecondition(`${branch} at ${head} is already on ${target}: nothing to land`, {
      field: 'branch',
    });
  }
  return { branch, head, by };
}

async function commitOf(git: Git, rev: string): Promise<string | undefined> {
  const r = await git.run(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], { okCodes: [1, 128] });
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}
