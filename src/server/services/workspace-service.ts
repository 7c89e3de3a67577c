// services/: one file per proto service, each handler decode -> core call -> encode.
// Imports src/core, src/gen, src/wire, codec/ and runtime/ (test/architecture/walls.test.ts).
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import { notFound } from '../../core/errors.js';
import { boundWorkerId } from '../auth/policy.js';
import { PRINCIPAL } from '../auth/principal.js';
import type { WorkspaceService } from '../codec/proto.js';
import { conflictToWire, mergeEntryToWire, workspaceToWire } from '../codec/workspace-wire.js';
import type { GroupCommit } from '../runtime/group-commit.js';
import type { SharedRepo } from '../runtime/shared-repo.js';

export interface WorkspaceServiceDeps {
  /** Undefined when the server has no repository: every method says how to turn it on. */
  readonly repo: SharedRepo | undefined;
  readonly commit: GroupCommit;
  /** Each refusal of what the caller's token does not allow, once (a warning in the server's log). */
  readonly refused?: (message: string, fields: Readonly<Record<string, unknown>>) => void;
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

    async enqueueMerge(request, context) {
      const queue = repo().requireQueue();
      const branch = required(request.branch, 'branch');
      // A worker token queues only its own workspace's branch, and only in its own name.
      const worker = boundWorkerId(context.values.get(PRINCIPAL));
      if (worker !== undefined) {
        const own = repo().workspaces.get(worker)?.branch;
        const wrong =
          branch !== own
            ? `branch ${branch}: a worker token may only queue its own workspace branch (${own ?? `worker ${worker} has none`})`
            : request.by !== '' && request.by !== worker
              ? `by ${request.by}: this token is for worker ${worker}`
              : undefined;
        if (wrong !== undefined) {
          deps.refused?.(wrong, { workerId: worker, route: 'coord.v1.WorkspaceService/EnqueueMerge' });
          throw new ConnectError(wrong, Code.PermissionDenied);
        }
      }
      commit.ensureWritable();
      const entry = await queue.enqueue({
        branch,
        ...(request.head === '' ? {} : { head: request.head }),
        by: worker ?? (request.by === '' ? 'operator' : request.by),
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
