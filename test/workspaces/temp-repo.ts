import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createGit, type Git } from '../../src/server/workspaces/git.js';

/** A real git repository in a temp directory, with a first commit on `main`. */
export interface TempRepo {
  readonly dir: string;
  readonly git: Git;
  /** Writes files (path → content) in `cwd` (default the main checkout) and commits them there. */
  commit(files: Record<string, string>, message?: string, cwd?: string): Promise<string>;
  remove(): void;
}

const IDENTITY = ['-c', 'user.name=Baton Test', '-c', 'user.email=test@baton.invalid'];

export async function createTempRepo(
  files: Record<string, string> = { 'README.md': 'hello\n' },
): Promise<TempRepo> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-repo-'));
  const git = createGit(dir);
  await git.run(['init', '-q', '-b', 'main']);
  const commit = async (changes: Record<string, string>, message = 'change', cwd = dir): Promise<string> => {
    for (const [path, content] of Object.entries(changes)) {
      await mkdir(dirname(join(cwd, path)), { recursive: true });
      writeFileSync(join(cwd, path), content);
    }
    const at = createGit(cwd);
    await at.run(['add', '-A']);
    await at.run([...IDENTITY, 'commit', '-q', '-m', message]);
    return at.line(['rev-parse', 'HEAD']);
  };
  await commit(files, 'initial');
  return { dir, git, commit, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
