// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import { type Client, Code, ConnectError, createClient, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-web';
import { CoordinatorService, WorkspaceService } from './proto.js';

export interface Api {
  readonly coordinator: Client<typeof CoordinatorService>;
  readonly workspaces: Client<typeof WorkspaceService>;
}

/**
 * Clients of the page's own origin, over the Connect protocol in binary: the same port serves the
 * page, the RPCs and their streams (WatchEvents is a Connect server stream over fetch). Every call
 * carries the bearer token when the operator gave one.
 */
export function createApi(baseUrl: string, token: () => string | undefined): Api {
  const bearer: Interceptor = (next) => (request) => {
    const value = token();
    if (value !== undefined) request.header.set('authorization', `Bearer ${value}`);
    return next(request);
  };
  const transport = createConnectTransport({ baseUrl, useBinaryFormat: true, interceptors: [bearer] });
  return {
    coordinator: createClient(CoordinatorService, transport),
    workspaces: createClient(WorkspaceService, transport),
  };
}

/** What a refused call said, for the page: the coordinator's own message, without the code prefix. */
export const errorText = (error: unknown): string =>
  error instanceof Error ? ConnectError.from(error).rawMessage : String(error);

/** The server checks tokens and this one (or none) does not let the page read. */
export const isRefusal = (error: unknown): boolean => {
  const code = ConnectError.from(error).code;
  return code === Code.Unauthenticated || code === Code.PermissionDenied;
};

/**
 * The coordinator no longer has the events after the sequence the page resumed from (older than
 * its replay window, or it restarted): nothing to retry, the page reloads and watches from now.
 */
export const isReplayGap = (error: unknown): boolean => ConnectError.from(error).code === Code.OutOfRange;
