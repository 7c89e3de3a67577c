// services/: one file per proto service, each handler decode -> core call -> encode.
// Imports src/core, src/gen, src/wire, codec/ and runtime/ (test/architecture/walls.test.ts).
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import { notFound } from '../../core/errors.js';
import type { WorkspaceService } from '../codec/proto.js';
import { conflictToWire, mergeEntryToWire, workspaceToWire } from '../codec/workspace-wire.js';
import type { GroupCommit } from '../runtime/group-commit.js';
import type { SharedRepo } from '../runtime/shared-repo.js';

export interface WorkspaceServiceDeps {
  /** Undefined when the server has no repository: every method says how to turn it on. */
  readonly repo: SharedRepo | undefined;
  readonly commit: GroupCommit;
}

const required = (value: string, field: string): string => {
  if (value === '') throw new ConnectError(`${field} is required`, Code.InvalidArgument);
  return value;
};

/** Workspaces, the conflict matrix and the merge queue: decode, call the shared repo, encode. */
export function createWorkspaceService(deps: WorkspaceServiceDeps): ServiceImpl<typeof WorkspaceService> {
  const { commit } = deps;
  const repo = (): SharedRepo => {
    if (deps.repo === undefined) {
      throw new ConnectError(
        'workspaces are off: start the server with --repo PATH',
        Code.FailedPrecondition,
      );
    }
    return deps.repo;
  };

  return {
    async listWorkspaces() {
      const { workspaces } = repo();
      const spaces = workspaces.list().sort((a, b) => (a.workerId < b.workerId ? -1 : 1));
      const heads = await Promise.all(spaces.map((s) => workspaces.head(s.branch).catch(() => '')));
      return {
        workspaces: spaces.map((s, i) => workspaceToWire(s, heads[i] ?? '')),
        target: workspaces.target,
      };
    },

    async removeWorkspace(request) {
      const workerId = required(request.workerId, 'worker_id');
      commit.ensureWritable();
      const removal = await repo().removeWorkspace(workerId, request.force);
      await commit.committed();
      return {
        branch: removal.branch,
        branchDeleted: removal.branchDeleted,
        unmergedCommits: removal.unmerged,
      };
    },

    async getConflicts() {
      const { matrix } = repo();
      await repo().settled();
      const heads = matrix.heads();
      const headOf = (branch: string) =>
        (branch === matrix.target ? matrix.targetHead() : heads.get(branch)) ?? '';
      return {
        conflicts: matrix.conflicts().map((p) => conflictToWire(p, { a: headOf(p.a), b: headOf(p.b) })),
        branches: [...heads.keys(), matrix.target].sort(),
      };
    },

    async enqueueMerge(request) {
      const queue = repo().requireQueue();
      commit.ensureWritable();
      const entry = await queue.enqueue({
        branch: required(request.branch, 'branch'),
        ...(request.head === '' ? {} : { head: request.head }),
        by: request.by === '' ? 'operator' : request.by,
      });
      return { entry: mergeEntryToWire(entry) };
    },

    listMergeQueue() {
      return {
        entries: repo()
          .requireQueue()
          .list()
          .map((e) => mergeEntryToWire(e)),
      };
    },

    getMergeEntry(request) {
      const queue = repo().requireQueue();
      const id = required(request.id, 'id');
      const entry = queue.get(id);
      if (entry === undefined) throw notFound(`merge queue entry ${id} not found`, { field: 'id' });
      return { entry: mergeEntryToWire(entry, queue.output(id)) };
    },
  };
}
