// workspaces/: the shared git repository: worktrees per worker, the conflict matrix, the merge queue.
// Imports src/core only (test/architecture/walls.test.ts).
import { join } from 'node:path';
import { failedPrecondition, invalidArgument } from '../../core/errors.js';
import { type CheckResult, createCheckRunner, endOrphanedCheck } from './check-runner.js';
import { lowSpaceNote } from './disk-space.js';
import { createGit } from './git.js';
import { requireMergeTreeGit } from './git-version.js';
import { createMergeCommits, type Tip } from './merge-commits.js';
import {
  type MergeCheck,
  type MergeEntry,
  type MergeEntryRecord,
  type MergeRejection,
  publicEntry,
} from './merge-entry.js';
import { type MergeRecords, openMergeLedger } from './merge-ledger.js';
import { type EnqueueRequest, resolveRequest } from './merge-request.js';
import { createScratchWorktree } from './scratch-worktree.js';

export type MergeQueueEvent =
  | { readonly type: 'merge-queued'; readonly entry: MergeEntry }
  | { readonly type: 'merged'; readonly entry: MergeEntry; readonly commit: string }
  | { readonly type: 'merge-rejected'; readonly entry: MergeEntry; readonly rejection: MergeRejection };

export interface MergeQueueOptions {
  /** The repository (any of its worktrees, or a bare one). */
  readonly repo: string;
  /** The branch Baton lands onto. Default `main`. */
  readonly target?: string;
  /** The operator's check command line (`--check "npm test"`), run by `sh -c` in the scratch worktree. */
  readonly check: string;
  /** Default 10 minutes. A check still running then is killed (its whole process group). */
  readonly checkTimeoutMs?: number;
  readonly records: MergeRecords;
  /**
   * Resolves once every record written so far is stored (`() => commit.committed()` on the
   * server). Enqueues are answered, and events emitted, only after it. Default: at once.
   */
  readonly durable?: () => Promise<void>;
  readonly now: () => number;
  /** How many queued entries are merged and checked together. 1 turns batching off. Default 8. */
  readonly maxBatch?: number;
  /** Default `<git common dir>/baton-merge-scratch`. */
  readonly scratchPath?: string;
  /** How much of each check's output is kept (its tail). Default 16 KiB. */
  readonly maxOutputBytes?: number;
  /** How many landed or rejected entries stay readable. Default 1000. */
  readonly keepFinished?: number;
  /** After an error that is no entry's fault (git failing, the store refusing), retry this much later. Default 5 s. */
  readonly retryMs?: number;
  readonly onEvent?: (event: MergeQueueEvent) => void;
  readonly onError?: (error: unknown) => void;
}

export interface MergeQueue {
  readonly target: string;
  readonly scratchPath: string;
  /** Validates and queues a branch for landing; answers once the entry is stored. */
  enqueue(request: EnqueueRequest): Promise<MergeEntry>;
  get(id: string): MergeEntry | undefined;
  /** The last check the entry took part in, with its output's tail. */
  output(id: string): MergeCheck | undefined;
  /** Every active entry and the latest finished ones, oldest first. */
  list(): MergeEntry[];
  /** Resolves once nothing is queued or being checked (or the queue is closed). */
  idle(): Promise<void>;
  /** Stops: kills a running check, lands nothing more. Entries being checked stay so in the store and are re-run by the next open. */
  close(): Promise<void>;
}

/** Thrown through the queue's own stack when it is closed in the middle of a batch. */
const STOPPED = Symbol('merge queue stopped');

/** What settling a group of entries ended with, for bisection to reason about its other half. */
interface Settled {
  /** Set when every entry landed in one landing onto `onto`, which made the target `landedAs`. */
  readonly landedAs?: string;
  readonly onto?: string;
}

/**
 * The merge queue: first come, first served; each batch is merged onto the target's current head
 * in the object database, checked in the scratch worktree, and landed by one compare-and-swap of
 * the target ref. A failed batch is split in halves (the earlier half first) until the culprits
 * are alone; the rest lands. Nothing is ever forced, and nothing lands half: the only write to
 * the target is that compare-and-swap, after the check of exactly the commit it installs passed.
 */
export async function openMergeQueue(options: MergeQueueOptions): Promise<MergeQueue> {
  const target = options.target ?? 'main';
  const maxBatch = options.maxBatch ?? 8;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) {
    throw invalidArgument(`maxBatch must be a positive integer, got ${maxBatch}`, { field: 'maxBatch' });
  }
  const git = createGit(options.repo);
  const commonDir = await git.line(['rev-parse', '--path-format=absolute', '--git-common-dir']).catch(() => {
    throw invalidArgument(`not a git repository: ${options.repo}`, { field: 'repo' });
  });
  await requireMergeTreeGit(git);
  const format = await git.run(['check-ref-format', '--branch', target], { okCodes: [1, 128] });
  if (format.exitCode !== 0)
    throw invalidArgument(`${JSON.stringify(target)} is not a valid branch name`, { field: 'target' });
  const commits = createMergeCommits(git, target);
  await commits.targetTip().catch(() => {
    throw failedPrecondition(`the target branch ${target} does not exist in ${options.repo}`, {
      field: 'target',
    });
  });
  const scratchPath = options.scratchPath ?? join(commonDir, 'baton-merge-scratch');
  const pidFile = `${scratchPath}.check-pid`;
  // A check a crashed Baton left running would write into the worktree the next check uses.
  endOrphanedCheck(pidFile);
  const checker = createCheckRunner({
    command: options.check,
    timeoutMs: options.checkTimeoutMs ?? 600_000,
    maxOutputBytes: options.maxOutputBytes ?? 16 * 1024,
    pidFile,
  });
  const scratch = createScratchWorktree(git, scratchPath);
  const { now } = options;
  const ledger = openMergeLedger({
    records: options.records,
    now,
    keepFinished: options.keepFinished ?? 1000,
  });
  const durable = options.durable ?? (() => Promise.resolve());
  const emit = options.onEvent ?? (() => {});
  const onError = options.onError ?? (() => {});
  const retryMs = options.retryMs ?? 5000;
  const stopping = new AbortController();
  let closed = false;
  let draining: Promise<void> | undefined;
  let retry: NodeJS.Timeout | undefined;
  let idleWaiters: (() => void)[] = [];

  const entry = (id: string): MergeEntryRecord => ledger.get(id) as MergeEntryRecord;
  const short = (commit: string): string => commit.slice(0, 12);

  const land = async (ids: readonly string[], commit: string, note: string, check?: MergeCheck) => {
    const landed = ids.map((id) =>
      ledger.move(id, 'landed', note, { landedAs: commit, ...(check ? { check } : {}) }),
    );
    await durable();
    for (const record of landed) emit({ type: 'merged', entry: publicEntry(record), commit });
  };

  const reject = async (id: string, rejection: MergeRejection, check?: MergeCheck) => {
    const record = ledger.move(id, 'rejected', rejection.message, { rejection, ...(check ? { check } : {}) });
    await durable();
    emit({ type: 'merge-rejected', entry: publicEntry(record), rejection });
  };

  /** Runs the check on `commit` in the scratch worktree; a worktree deleted under it is made again once. */
  const runCheck = async (commit: string, ids: readonly string[]): Promise<MergeCheck> => {
    let result: CheckResult | undefined;
    for (let attempt = 0; result === undefined; attempt++) {
      await scratch.checkout(commit);
      const r = await checker.run(scratch.path, stopping.signal);
      if (closed) throw STOPPED;
      if (r.outcome === 'pass' || (await scratch.intact())) result = r;
      else if (attempt > 0)
        throw new Error(`the scratch worktree ${scratch.path} vanished during the check, twice`);
    }
    return { commit, entries: [...ids], ...result };
  };

  const checkRejection = (check: MergeCheck): MergeRejection => {
    const lines = check.output.trimEnd().split('\n').slice(-5).join('\n');
    const how =
      check.outcome === 'timeout'
        ? `timed out after ${check.durationMs} ms`
        : check.signal !== null
          ? `was killed by ${check.signal}`
          : `failed with exit code ${check.exitCode}`;
    return {
      reason: check.outcome === 'timeout' ? 'check-timeout' : 'check-failed',
      message: `the check ${JSON.stringify(checker.command)} ${how} on ${short(check.commit)}${lines === '' ? '' : `:\n${lines}`}`,
      exitCode: check.exitCode,
      signal: check.signal,
    };
  };

  /**
   * Merges the entries in order onto `base`. An entry whose changes are on the target already has
   * landed (an earlier run landed it and stopped before saying so); one whose changes an entry
   * ahead of it carries rides along; one that conflicts with the target is rejected; one that
   * conflicts only with entries ahead of it in this group goes back to the queue, to be merged
   * again once they are settled.
   */
  const build = async (base: Tip, ids: readonly string[]) => {
    let chain = base;
    const carried: string[] = [];
    for (const id of ids) {
      const { branch, head } = entry(id);
      const message = `Merge ${branch} into ${target} (merge queue entry ${id})`;
      const step = await commits.merge(chain, head, message);
      if (step.kind !== 'conflict') {
        if (step.kind === 'merged') chain = step.tip;
        if (step.kind === 'unchanged' && chain === base)
          await land([id], base.commit, `its changes are on ${target} already`);
        else carried.push(id);
        continue;
      }
      const alone = chain === base ? step : await commits.merge(base, head, message);
      if (alone.kind === 'conflict') {
        const paths = alone.paths;
        await reject(id, {
          reason: 'conflict',
          message: `${branch} at ${short(head)} conflicts with ${target} at ${short(base.commit)} in ${paths.join(', ')}`,
          paths,
        });
      } else {
        ledger.move(
          id,
          'queued',
          `conflicts with entries ${carried.join(', ')} ahead of it in ${step.paths.join(', ')}: retried after them`,
        );
      }
    }
    return { commit: chain.commit, carried, complete: carried.length === ids.length };
  };

  /**
   * Lands what of `ids` passes its check. `knownBadOn`: a head onto which these entries are known
   * to fail (the whole batch failed and its earlier half then landed alone), so a group of them
   * is split without checking it again.
   */
  const settle = async (ids: readonly string[], knownBadOn?: string): Promise<Settled> => {
    let group = ids;
    for (;;) {
      const tip = await commits.targetTip();
      const base = tip.commit;
      const built = await build(tip, group);
      const { carried } = built;
      if (carried.length === 0) return {};
      if (!(knownBadOn === base && built.complete && carried.length > 1)) {
        const check = await runCheck(built.commit, carried);
        if (check.outcome === 'pass') {
          if (closed) throw STOPPED;
          const together = carried.length > 1 ? ` with entries ${carried.join(', ')}` : '';
          if (await commits.land(built.commit, base, `baton merge queue: entries ${carried.join(', ')}`)) {
            await land(carried, built.commit, `landed as ${short(built.commit)}${together}`, check);
            return built.complete ? { landedAs: built.commit, onto: base } : {};
          }
          for (const id of carried)
            ledger.noteCheck(id, check, `${target} moved during the check: merged again`);
          group = carried;
          knownBadOn = undefined;
          continue;
        }
        if (carried.length === 1) {
          await reject(carried[0] as string, checkRejection(check), check);
          return {};
        }
        for (const id of carried)
          ledger.noteCheck(id, check, `the batch ${carried.join(', ')} failed its check: bisecting`);
      }
      const half = Math.ceil(carried.length / 2);
      const left = await settle(carried.slice(0, half));
      await settle(carried.slice(half), left.onto === base ? left.landedAs : undefined);
      return {};
    }
  };

  const drain = async (): Promise<void> => {
    while (!closed && ledger.queued > 0) {
      const batch = ledger.take(maxBatch, `merging onto ${target}`).map((r) => r.id);
      try {
        await durable();
        await settle(batch);
      } catch (error) {
        if (error === STOPPED) return;
        // Git failing (a full disk, a broken object) or the store: no entry's fault, so none is
        // rejected; each says why it waits, with the filesystems that are nearly full.
        const why = `${error instanceof Error ? error.message : String(error)}${lowSpaceNote([scratchPath, commonDir])}`;
        for (const id of batch) {
          if (ledger.get(id)?.state === 'checking')
            ledger.move(id, 'queued', `not settled (${why}): retried`, { retrying: why });
        }
        onError(error);
        retry = setTimeout(() => {
          retry = undefined;
          kick();
        }, retryMs);
        retry.unref();
        return;
      }
    }
  };

  const wakeIdle = (): void => {
    if (!closed && (draining !== undefined || ledger.queued > 0)) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  };

  function kick(): void {
    if (draining !== undefined || closed || retry !== undefined || ledger.queued === 0) return;
    draining = drain().finally(() => {
      draining = undefined;
      wakeIdle();
    });
  }

  kick();
  return {
    target,
    scratchPath,
    async enqueue(request) {
      if (closed) throw failedPrecondition('the merge queue is closed');
      const resolved = await resolveRequest(git, target, request);
      const record = ledger.add(resolved);
      await durable();
      emit({ type: 'merge-queued', entry: publicEntry(record) });
      kick();
      return publicEntry(record);
    },
    get: (id) => {
      const record = ledger.get(id);
      return record === undefined ? undefined : publicEntry(record);
    },
    output: (id) => ledger.get(id)?.check,
    list: () => ledger.list().map(publicEntry),
    idle: () =>
      new Promise<void>((resolve) => {
        idleWaiters.push(resolve);
        wakeIdle();
      }),
    async close() {
      closed = true;
      clearTimeout(retry);
      stopping.abort();
      await draining;
      wakeIdle();
    },
  };
}
