import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { createGit, GitError } from '../../src/server/workspaces/git.js';

describe('Git', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'baton-git-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('runs git with arguments in its directory and answers one line', async () => {
    const git = createGit(dir);
    await git.run(['init', '-q', '-b', 'main']);
    expect(await git.line(['symbolic-ref', '--short', 'HEAD'])).to.equal('main');
    expect(await git.line(['rev-parse', '--show-toplevel'])).to.contain('baton-git-');
  });

  it('passes a user string as one argument, never through a shell', async () => {
    const git = createGit(dir);
    await git.run(['init', '-q']);
    const hostile = 'x; touch pwned $(id)';
    const error = await git.run(['check-ref-format', '--branch', hostile]).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(GitError);
    expect((error as GitError).message).to.contain('check-ref-format');
    expect((await git.run(['status', '--porcelain', '--untracked-files=all'])).stdout).to.equal('');
  });

  it('treats an allowed exit code as an answer and any other as a GitError naming the command', async () => {
    const git = createGit(dir);
    const allowed = await git.run(['rev-parse', '--is-inside-work-tree'], { okCodes: [128] });
    expect(allowed.exitCode).to.equal(128);
    const error = await git.run(['rev-parse', '--is-inside-work-tree']).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(GitError);
    expect((error as GitError).exitCode).to.equal(128);
    expect((error as GitError).message).to.match(/not a git repository/);
  });
});
