// workspaces/: the shared git repository: worktrees per worker, the conflict matrix, the merge queue.
// Imports src/core only (test/architecture/walls.test.ts).
import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { invalidArgument } from '../../core/errors.js';

export type CheckOutcome = 'pass' | 'fail' | 'timeout';

/** What one run of the check left: how it ended and the tail of what it wrote. */
export interface CheckResult {
  readonly outcome: CheckOutcome;
  /** The exit code, or null when a signal ended it (its own or our timeout's). */
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** The last `maxOutputBytes` of stdout and stderr, interleaved as they arrived. */
  readonly output: string;
  /** True when earlier output was dropped to keep the tail bounded. */
  readonly truncated: boolean;
  readonly durationMs: number;
}

export interface CheckRunnerOptions {
  /** The operator's command line, e.g. `npm test`; run by `sh -c` (the only shell Baton uses). */
  readonly command: string;
  readonly timeoutMs: number;
  /** How much of the output to keep (its tail). Default 64 KiB. */
  readonly maxOutputBytes?: number;
  /** How long after SIGTERM a timed-out check's process group gets SIGKILL. Default 2 s. */
  readonly killGraceMs?: number;
  /**
   * Where to note the running check's process group, so that after a crash of Baton the next
   * start can end the check it orphaned (`endOrphanedCheck`) before reusing its directory.
   */
  readonly pidFile?: string;
}

/** Runs the configured check command in a directory. */
export interface CheckRunner {
  readonly command: string;
  /** Aborting `signal` kills the check's process group at once (the queue is closing). */
  run(cwd: string, signal?: AbortSignal): Promise<CheckResult>;
}

const DEFAULT_MAX_OUTPUT = 64 * 1024;
// A check runs in the scratch worktree; git variables inherited from whoever started Baton (a
// hook sets GIT_DIR) would point its git commands at another repository.
const GIT_LOCATION_VARS = ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_COMMON_DIR'];

/**
 * The check runs in a process group of its own (`detached`), so a timeout kills everything it
 * started (test runners fork), and so do we once its shell exits: a background child left behind
 * would otherwise hold the output pipes open and the next check's worktree busy.
 */
export function createCheckRunner(options: CheckRunnerOptions): CheckRunner {
  const command = options.command.trim();
  if (command === '') throw invalidArgument('the check command is empty', { field: 'check' });
  if (!(options.timeoutMs > 0)) {
    throw invalidArgument(`the check timeout must be positive, got ${options.timeoutMs}`, {
      field: 'checkTimeoutMs',
    });
  }
  const maxOutput = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  const killGraceMs = options.killGraceMs ?? 2000;
  const env = { ...process.env };
  for (const name of GIT_LOCATION_VARS) delete env[name];

  const run = (cwd: string, signal?: AbortSignal): Promise<CheckResult> =>
    new Promise((resolve) => {
      const started = Date.now();
      const tail = createTail(maxOutput);
      const child = spawn('sh', ['-c', command], {
        cwd,
        env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const { pidFile } = options;
      if (pidFile !== undefined && child.pid !== undefined) {
        // /proc shows the real path of a process's directory.
        writeFileSync(pidFile, JSON.stringify({ pid: child.pid, cwd: realpathSync(cwd) }));
      }
      child.stdout.on('data', tail.push);
      child.stderr.on('data', tail.push);
      const killGroup = (sig: NodeJS.Signals): void => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, sig);
        } catch {
          // ESRCH: the group is already gone.
        }
      };
      let timedOut = false;
      let grace: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup('SIGTERM');
        grace = setTimeout(() => killGroup('SIGKILL'), killGraceMs);
      }, options.timeoutMs);
      const abort = (): void => killGroup('SIGKILL');
      signal?.addEventListener('abort', abort, { once: true });
      if (signal?.aborted) abort();
      let exit: { code: number | null; signal: string | null } = { code: null, signal: null };
      child.on('exit', (code, signal) => {
        exit = { code, signal };
        killGroup('SIGKILL');
      });
      let settled = false;
      const finish = (): void => {
        if (settled) return;
        settled = true;
        if (pidFile !== undefined) rmSync(pidFile, { force: true });
        signal?.removeEventListener('abort', abort);
        clearTimeout(timer);
        clearTimeout(grace);
        const outcome: CheckOutcome = timedOut ? 'timeout' : exit.code === 0 ? 'pass' : 'fail';
        resolve({
          outcome,
          exitCode: exit.code,
          signal: exit.signal,
          output: tail.text(),
          truncated: tail.truncated(),
          durationMs: Date.now() - started,
        });
      };
      // 'close' (pipes drained) rather than 'exit', so the tail holds everything written.
      child.on('close', finish);
      // A check that cannot start (its directory is gone) fails; nothing else will end it.
      child.on('error', (error) => {
        tail.push(Buffer.from(`baton: cannot run the check: ${error.message}\n`));
        if (child.pid === undefined) finish();
      });
    });
  return { command, run };
}

/**
 * Kills the process group a crashed Baton's check left running, if the pid file names one that
 * still runs in the check's directory (so a reused pid of someone else's is never killed; where
 * /proc is missing nothing is killed). Removes the pid file.
 */
export function endOrphanedCheck(pidFile: string): boolean {
  let noted: { pid: number; cwd: string };
  try {
    noted = JSON.parse(readFileSync(pidFile, 'utf8')) as { pid: number; cwd: string };
  } catch {
    return false;
  }
  rmSync(pidFile, { force: true });
  if (!Number.isInteger(noted.pid) || noted.pid <= 1) return false;
  try {
    const cwd = readlinkSync(`/proc/${noted.pid}/cwd`).replace(/ \(deleted\)$/, '');
    if (cwd !== noted.cwd) return false;
    process.kill(-noted.pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

/** The last `max` bytes of a stream, kept in chunks so a chatty check costs O(max) memory. */
function createTail(max: number) {
  const chunks: Buffer[] = [];
  let size = 0;
  let dropped = false;
  return {
    push: (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      while (size - (chunks[0]?.length ?? 0) >= max && chunks.length > 1) {
        size -= chunks.shift()?.length ?? 0;
        dropped = true;
      }
    },
    text: (): string => {
      const all = Buffer.concat(chunks);
      return all.subarray(Math.max(0, all.length - max)).toString('utf8');
    },
    truncated: (): boolean => dropped || size > max,
  };
}
