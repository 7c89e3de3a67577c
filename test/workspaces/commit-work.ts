import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskContext } from '../../src/client/index.js';
import { createGit } from '../../src/server/workspaces/git.js';

/** Writes `files` in the task's worktree and commits them, as an agent would. */
export async function commitWork(context: TaskContext, files: Record<string, string>): Promise<void> {
  const space = context.workspace;
  if (space === undefined) throw new Error('no workspace');
  for (const [name, content] of Object.entries(files)) writeFileSync(join(space.path, name), content);
  const git = createGit(space.path);
  await git.run(['add', '-A']);
  await git.run(['commit', '-q', '-m', `work of ${space.branch}`]);
}
