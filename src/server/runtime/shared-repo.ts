// runtime/: the running coordinator wired to its store and listeners: group commit, sessions, events.
// Imports src/core, src/wire, codec/ and workspaces/ (test/architecture/walls.test.ts).

import { failedPrecondition } from '../../core/errors.js';
import type { EventBus } from '../../core/event-bus.js';
import type { CoordEvents } from '../../core/events.js';
import type { StoreRecord } from '../../core/store.js';
import {
  type ConflictMatrix,
  createConflictMatrix,
  type MatrixChange,
} from '../workspaces/conflict-matrix.js';
import { requireMergeTreeGit } from '../workspaces/git-version.js';
import type { MergeEntry } from '../workspaces/merge-entry.js';
import { type MergeQueue, type MergeQueueEvent, openMergeQueue } from '../workspaces/merge-queue.js';
import {
  openWorkspaces,
  type Removal,
  type Workspace,
  type WorkspaceManager,
} from '../workspaces/workspace-manager.js';
import type { WorkerSessions } from './worker-sessions.js';

export interface SharedRepoOptions {
  /** The repository (`baton serve --repo`). */
  readonly repo: string;
  /** The branch Baton lands on. Default `main`. */
  readonly target?: string;
  readonly worktreesDir?: string;
  /** The check a merge must pass (`--check "npm test"`); without it the merge queue is off. */
  readonly check?: string;
  readonly checkTimeoutMs?: number;
  /** How many queued entries are merged and checked together. Default 8. */
  readonly maxBatch?: number;
  readonly records: {
    restored(kind: string): readonly StoreRecord[];
    put(kind: string, id: string, body: unknown): void;
    remove(kind: string, id: string): void;
  };
  /** Resolves once every record written so far is stored. */
  readonly durable: () => Promise<void>;
  readonly events: EventBus<CoordEvents>;
  readonly sessions: WorkerSessions;
  readonly now: () => number;
  readonly log: (message: string, error?: unknown) => void;
}

/**
 * The repository the fleet shares: each worker's workspace, the conflict matrix over their
 * branches, and the merge queue, kept in step. A worker's branch moving (it joined, or a Complete
 * carried its head) refreshes the matrix for that branch's pairs; a landing moves the target and
 * refreshes every branch against it. Conflicts and merge outcomes become coord:* events and
 * notices to the workers concerned.
 */
export interface SharedRepo {
  readonly workspaces: WorkspaceManager;
  readonly matrix: ConflictMatrix;
  /** Undefined when no check command was configured: nothing lands unchecked. */
  readonly queue: MergeQueue | undefined;
  /** The worker's workspace (created on first join), in the matrix from now on. */
  join(workerId: string): Promise<Workspace>;
  /** The worker's branch is at `head` (a Complete said so); `land` queues that commit. */
  headMoved(workerId: string, head: string, land: boolean): void;
  /** Removes the worker's workspace (see WorkspaceManager.remove) and its branch from the matrix. */
  removeWorkspace(workerId: string, force: boolean): Promise<Removal>;
  /** The queue, or FAILED_PRECONDITION naming the flag that turns it on. */
  requireQueue(): MergeQueue;
  /** Resolves once the matrix has applied every head reported so far. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

const workerOfBranch = (branch: string): string | undefined =>
  branch.startsWith('baton/') ? branch.slice('baton/'.length) : undefined;

export async function openSharedRepo(options: SharedRepoOptions): Promise<SharedRepo> {
  const { events, sessions, log } = options;
  const workspaces = await openWorkspaces({
    repo: options.repo,
    records: options.records,
    now: options.now,
    ...(options.target === undefined ? {} : { target: options.target }),
    ...(options.worktreesDir === undefined ? {} : { worktreesDir: options.worktreesDir }),
  });
  const { target, git } = workspaces;
  await requireMergeTreeGit(git);
  const matrix = createConflictMatrix({ git, target });

  const notifyConflict = (change: MatrixChange): void => {
    events.emit(change.kind === 'conflict' ? 'coord:conflict' : 'coord:conflict-cleared', {
      branch: change.a,
      other: change.b,
      paths: change.paths,
    });
    const cleared = change.kind === 'conflict-cleared';
    for (const [own, other] of [
      [change.a, change.b],
      [change.b, change.a],
    ] as const) {
      const workerId = workerOfBranch(own);
      if (workerId === undefined) continue;
      sessions.push(workerId, {
        kind: {
          case: 'conflict',
          value: { branch: own, other, paths: cleared ? [] : [...change.paths], cleared },
        },
      });
    }
  };

  // One refresh at a time; a head reported meanwhile is taken by the next one.
  let refreshing: Promise<void> = Promise.resolve();
  const refresh = (): Promise<void> => {
    refreshing = refreshing.then(async () => {
      try {
        const { changes, failures } = await matrix.refresh();
        for (const change of changes) notifyConflict(change);
        for (const failure of failures)
          log(`conflict matrix: ${failure.branches.join(' ~ ')}`, failure.error);
      } catch (error) {
        log('conflict matrix refresh failed', error);
      }
    });
    return refreshing;
  };

  const mergeEvent = (entry: MergeEntry) => ({
    entryId: entry.id,
    branch: entry.branch,
    head: entry.head,
    by: entry.by,
  });
  const onQueueEvent = (event: MergeQueueEvent): void => {
    const { entry } = event;
    if (event.type === 'merge-queued') {
      events.emit('coord:merge-queued', mergeEvent(entry));
      return;
    }
    const landed = event.type === 'merged';
    const reason = event.type === 'merge-rejected' ? event.rejection.message : '';
    const landedAs = landed ? event.commit : '';
    events.emit(landed ? 'coord:merged' : 'coord:merge-rejected', {
      ...mergeEvent(entry),
      ...(landed ? { landedAs } : { reason }),
    });
    const owners = new Set([entry.by, workerOfBranch(entry.branch)]);
    for (const workerId of owners) {
      if (workerId === undefined) continue;
      sessions.push(workerId, {
        kind: { case: 'merge', value: { entryId: entry.id, landed, reason, landedAs } },
      });
    }
    if (landed) {
      matrix.setTarget(event.commit);
      void refresh();
    }
  };

  const queue =
    options.check === undefined
      ? undefined
      : await openMergeQueue({
          repo: options.repo,
          target,
          check: options.check,
          records: options.records,
          durable: options.durable,
          now: options.now,
          onEvent: onQueueEvent,
          onError: (error) => log('merge queue', error),
          ...(options.checkTimeoutMs === undefined ? {} : { checkTimeoutMs: options.checkTimeoutMs }),
          ...(options.maxBatch === undefined ? {} : { maxBatch: options.maxBatch }),
        });

  const requireQueue = (): MergeQueue => {
    if (queue === undefined) {
      throw failedPrecondition('the merge queue is off: start the server with --check "<command>"', {
        field: 'check',
      });
    }
    return queue;
  };

  // The matrix starts from what the store knew: every workspace at its branch's head now.
  for (const space of workspaces.list()) {
    try {
      matrix.setHead(space.branch, await workspaces.head(space.branch));
    } catch (error) {
      log(`workspace of ${space.workerId}: its branch ${space.branch} is gone`, error);
    }
  }
  void refresh();

  return {
    workspaces,
    matrix,
    queue,
    requireQueue,
    async join(workerId) {
      const space = await workspaces.ensure(workerId);
      matrix.setHead(space.branch, await workspaces.head(space.branch));
      void refresh();
      return space;
    },
    headMoved(workerId, head, land) {
      const space = workspaces.get(workerId);
      if (space === undefined) return;
      matrix.setHead(space.branch, head);
      void refresh();
      if (land && queue !== undefined) {
        queue.enqueue({ branch: space.branch, head, by: workerId }).catch((error: unknown) => {
          log(`landing ${space.branch} at ${head} for ${workerId}`, error);
          sessions.push(workerId, {
            kind: {
              case: 'merge',
              value: { entryId: '', landed: false, reason: (error as Error).message, landedAs: '' },
            },
          });
        });
      }
    },
    async removeWorkspace(workerId, force) {
      const removal = await workspaces.remove(workerId, { force });
      matrix.remove(removal.branch);
      void refresh();
      return removal;
    },
    settled: () => refreshing,
    async close() {
      await queue?.close();
      await refreshing;
    },
  };
}
