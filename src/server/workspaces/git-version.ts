// workspaces/: the shared git repository: worktrees per worker, the conflict matrix, the merge queue.
// Imports src/core only (test/architecture/walls.test.ts).
import { failedPrecondition } from '../../core/errors.js';
import type { Git } from './git.js';

/** `git merge-tree --write-tree`, which the matrix and the queue merge with, came in git 2.38. */
export const MIN_GIT_VERSION: readonly [number, number] = [2, 38];

/** The version `git version` printed (`git version 2.39.5`, `git version 2.38.0.windows.1`), or undefined. */
export function parseGitVersion(text: string): readonly [number, number, number] | undefined {
  const match = /^git version (\d+)\.(\d+)(?:\.(\d+))?/.exec(text.trim());
  if (match === null) return undefined;
  return [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
}

/** True when `version` is at least MIN_GIT_VERSION. */
export function mergesWithWriteTree(version: readonly [number, number, number]): boolean {
  const [major, minor] = version;
  const [needMajor, needMinor] = MIN_GIT_VERSION;
  return major > needMajor || (major === needMajor && minor >= needMinor);
}

/**
 * Refuses, at start and naming both versions, a git too old for `merge-tree --write-tree`:
 * otherwise every merge would fail later with git's usage text.
 */
export async function requireMergeTreeGit(git: Git): Promise<void> {
  const text = await git.line(['version']);
  const version = parseGitVersion(text);
  if (version === undefined || !mergesWithWriteTree(version)) {
    throw failedPrecondition(
      `${text || 'git'} is too old: workspaces need git ${MIN_GIT_VERSION.join('.')} or later (git merge-tree --write-tree)`,
      { field: 'git' },
    );
  }
}
