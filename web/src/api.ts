// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import { type Client, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-web';
import { CoordinatorService, WorkspaceService } from './proto.js';

export interface Api {
  readonly coordinator: Client<typeof CoordinatorService>;
  readonly workspaces: Client<typeof WorkspaceService>;
}

/**
 * Clients of the page's own origin, over the Connect protocol in binary: the same port serves the
 * page, the RPCs and their streams (WatchEvents is a Connect server stream over fetch).
 */
export function createApi(baseUrl: string): Api {
  const transport = createConnectTransport({ baseUrl, useBinaryFormat: true });
  return {
    coordinator: createClient(CoordinatorService, transport),
    workspaces: createClient(WorkspaceService, transport),
  };
}

/** What a refused call said, for the page: the coordinator's own message, without the code prefix. */
export const errorText = (error: unknown): string =>
  error instanceof Error ? ConnectError.from(error).rawMessage : String(error);
