// workspaces/: the shared git repository: worktrees per worker, the conflict matrix, the merge queue.
// Imports src/core only (test/architecture/walls.test.ts).
import type { Git, GitOptions, GitResult } from './git.js';

/** A Git that runs at most `parallelism` commands at once and counts them by subcommand. */
export interface GitPool extends Git {
  /** Commands started so far, by subcommand (`merge-tree`, `rev-list`...; `-c` pairs skipped). */
  runs(): Readonly<Record<string, number>>;
}

/**
 * Bounds how many git processes run at once: on a machine of few cores, thirty merge-trees started
 * together only queue in the kernel and each one's latency grows; a FIFO of `parallelism` keeps
 * the first answers early and the machine usable for everything else.
 */
export function createGitPool(git: Git, parallelism: number): GitPool {
  if (!Number.isInteger(parallelism) || parallelism < 1) {
    throw new RangeError(`parallelism must be a positive integer, got ${parallelism}`);
  }
  const counts: Record<string, number> = {};
  const waiting: Array<() => void> = [];
  let active = 0;

  const acquire = (): Promise<void> => {
    if (active < parallelism) {
      active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => waiting.push(resolve));
  };
  const release = (): void => {
    const next = waiting.shift();
    if (next === undefined) active--;
    else next();
  };

  const run = async (args: readonly string[], options?: GitOptions): Promise<GitResult> => {
    await acquire();
    const name = subcommand(args);
    counts[name] = (counts[name] ?? 0) + 1;
    try {
      return await git.run(args, options);
    } finally {
      release();
    }
  };
  return {
    cwd: git.cwd,
    run,
    line: async (args, options) => (await run(args, options)).stdout.replace(/\n$/, ''),
    runs: () => ({ ...counts }),
  };
}

function subcommand(args: readonly string[]): string {
  let i = 0;
  while (args[i] === '-c') i += 2;
  return args[i] ?? '';
}
