// workspaces/: the shared git repository: worktrees per worker, the conflict matrix, the merge queue.
// Imports src/core only (test/architecture/walls.test.ts).
import { execFile } from 'node:child_process';

/** What one git command left: its output and exit code (non-zero codes the caller allowed). */
export interface GitResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

export interface GitOptions {
  /** Exit codes that are answers rather than failures (`merge-tree` says 1 for "conflicts"). */
  readonly okCodes?: readonly number[];
  readonly timeoutMs?: number;
  readonly input?: string;
}

/** A git command that failed: the arguments, the exit code and git's own words. */
export class GitError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(
      `git ${args.join(' ')} failed (${exitCode === null ? 'killed' : `exit ${exitCode}`}): ${stderr.trim()}`,
    );
    this.name = 'GitError';
  }
}

/** Runs git in one repository or worktree. */
export interface Git {
  readonly cwd: string;
  run(args: readonly string[], options?: GitOptions): Promise<GitResult>;
  /** stdout without its trailing newline, for commands that answer one value (rev-parse). */
  line(args: readonly string[], options?: GitOptions): Promise<string>;
}

const DEFAULT_TIMEOUT_MS = 60_000;
// Git's words must be parseable whatever the operator's locale; it must never wait on a terminal.
const GIT_ENV = { LC_ALL: 'C', GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0' };

/**
 * Git with an argument vector, never a shell: branch names, paths and globs from users reach git
 * as single arguments, so no string can become a command.
 */
export function createGit(cwd: string, binary = 'git'): Git {
  const env = { ...process.env, ...GIT_ENV };
  const run = (args: readonly string[], options: GitOptions = {}): Promise<GitResult> =>
    new Promise((resolve, reject) => {
      const child = execFile(
        binary,
        args as string[],
        { cwd, env, timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS, maxBuffer: 256 * 1024 * 1024 },
        (error, stdout, stderr) => {
          const exitCode = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
          if (exitCode === 0 || (exitCode !== null && options.okCodes?.includes(exitCode))) {
            resolve({ stdout, stderr, exitCode });
          } else {
            reject(new GitError(args, exitCode, stderr || (error?.message ?? '')));
          }
        },
      );
      child.stdin?.end(options.input);
    });
  return {
    cwd,
    run,
    line: async (args, options) => (await run(args, options)).stdout.replace(/\n$/, ''),
  };
}
