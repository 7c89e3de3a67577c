// The operators' calls on the shared repository (WorkspaceService), part of the admin client.
import { type CallOptions, createClient, type Transport } from '@connectrpc/connect';
import { type Conflict, type MergeEntry, type Workspace, WorkspaceService } from './proto.js';
import { required } from './required-field.js';

/** Every worker's workspace, and the branch Baton lands on. */
export interface WorkspaceList {
  /** By worker id. */
  readonly workspaces: Workspace[];
  readonly target: string;
}

/** What removing a workspace did to its branch. */
export interface WorkspaceRemoval {
  readonly branch: string;
  /** False when the branch was kept because it holds commits the target lacks. */
  readonly branchDeleted: boolean;
  /** Commits on the branch that are not on the target. */
  readonly unmergedCommits: number;
}

/** The live conflict matrix's conflicting pairs. */
export interface ConflictReport {
  /** Pairs that do not merge cleanly; clean pairs are not listed. */
  readonly conflicts: Conflict[];
  /** Every branch in the matrix, the target included. */
  readonly branches: string[];
}

/** A branch to queue for landing. */
export interface MergeRequest {
  /** Usually a worker's `baton/<worker id>`. */
  readonly branch: string;
  /** The commit to land. Unset: the branch's head now. */
  readonly head?: string;
  /** Who asks. Unset: "operator". */
  readonly by?: string;
}

/**
 * WorkspaceService's calls with plain arguments. Each answers FAILED_PRECONDITION when the server
 * has no repository (`baton serve --repo`), and the merge-queue calls when it has no check
 * (`--check`): the message names the flag.
 */
export interface WorkspaceAdmin {
  listWorkspaces(options?: CallOptions): Promise<WorkspaceList>;
  /**
   * Removes a worker's worktree; its branch stays while it holds unmerged commits, and a worktree
   * with uncommitted changes is refused (FAILED_PRECONDITION), unless `force`. NOT_FOUND for a
   * worker without a workspace.
   */
  removeWorkspace(workerId: string, force?: boolean, options?: CallOptions): Promise<WorkspaceRemoval>;
  /** Waits until every head reported so far is in the matrix, then lists the conflicts. */
  getConflicts(options?: CallOptions): Promise<ConflictReport>;
  /** Queues a branch; answers once the entry is stored. NOT_FOUND for an unknown branch or commit. */
  enqueueMerge(request: MergeRequest, options?: CallOptions): Promise<MergeEntry>;
  /** Queued and checking entries, and the recent history, oldest first. */
  listMergeQueue(options?: CallOptions): Promise<MergeEntry[]>;
  /** One entry with the kept output of its check; NOT_FOUND if there is none. */
  getMergeEntry(id: string, options?: CallOptions): Promise<MergeEntry>;
}

export function createWorkspaceAdmin(transport: Transport): WorkspaceAdmin {
  const client = createClient(WorkspaceService, transport);
  return {
    listWorkspaces: async (options) => {
      const { workspaces, target } = await client.listWorkspaces({}, options);
      return { workspaces, target };
    },
    removeWorkspace: async (workerId, force, options) => {
      const res = await client.removeWorkspace({ workerId, force: force ?? false }, options);
      return { branch: res.branch, branchDeleted: res.branchDeleted, unmergedCommits: res.unmergedCommits };
    },
    getConflicts: async (options) => {
      const { conflicts, branches } = await client.getConflicts({}, options);
      return { conflicts, branches };
    },
    enqueueMerge: async (request, options) => {
      const res = await client.enqueueMerge(
        { branch: request.branch, head: request.head ?? '', by: request.by ?? '' },
        options,
      );
      return required(res.entry, 'entry');
    },
    listMergeQueue: async (options) => (await client.listMergeQueue({}, options)).entries,
    getMergeEntry: async (id, options) =>
      required((await client.getMergeEntry({ id }, options)).entry, 'entry'),
  };
}
