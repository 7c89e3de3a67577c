// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import { Code, ConnectError } from '@connectrpc/connect';
import type { Api } from './api.js';
import type { Conflict, MergeEntry, Workspace } from './proto.js';

/** What the repository views show, read together from WorkspaceService. */
export interface RepoView {
  readonly target: string;
  readonly workspaces: readonly Workspace[];
  readonly branches: readonly string[];
  readonly conflicts: readonly Conflict[];
  readonly entries: readonly MergeEntry[];
}

/**
 * `off` when the server has no repository (WorkspaceService answers FAILED_PRECONDITION naming
 * --repo), `unknown` before the first answer or when it could not be read.
 */
export type RepoState =
  | { readonly state: 'unknown' }
  | { readonly state: 'off' }
  | { readonly state: 'on'; readonly view: RepoView };

export async function readRepo(api: Api): Promise<RepoState> {
  try {
    const [spaces, conflicts, queue] = await Promise.all([
      api.workspaces.listWorkspaces({}),
      api.workspaces.getConflicts({}),
      api.workspaces.listMergeQueue({}),
    ]);
    return {
      state: 'on',
      view: {
        target: spaces.target,
        workspaces: spaces.workspaces,
        branches: conflicts.branches,
        conflicts: conflicts.conflicts,
        entries: queue.entries,
      },
    };
  } catch (error) {
    return ConnectError.from(error).code === Code.FailedPrecondition
      ? { state: 'off' }
      : { state: 'unknown' };
  }
}
