// The worker SDK's side of the shared repository: reading the worktree's HEAD, queueing a landing.
import { execFile } from 'node:child_process';
import type { Transport } from '@connectrpc/connect';
import { type ConnectionOptions, grpcTransport } from './connection.js';
import type { MergeEntry } from './proto.js';
import { createReplicaTransport } from './replica-transport.js';
import type { WorkerWorkspace } from './worker-api.js';
import { createWorkspaceAdmin } from './workspace-admin.js';

/** The commit the worktree's HEAD is at, or '' when git cannot say (the work goes unreported, not wrong). */
export function readHead(workspace: WorkerWorkspace): Promise<string> {
  return new Promise((resolve) => {
    execFile('git', ['rev-parse', '--verify', 'HEAD'], { cwd: workspace.path }, (error, stdout) =>
      resolve(error === null ? stdout.trim() : ''),
    );
  });
}

/** Queues the worker's branch (at `head`, default its HEAD now) in the coordinator's merge queue. */
export async function enqueueMerge(
  connection: ConnectionOptions & {
    /** Every replica's URL (the leader is followed); used only when no transport is given. */
    readonly urls: readonly string[];
    readonly transport?: Transport | undefined;
  },
  workerId: string,
  workspace: WorkerWorkspace,
  head?: string,
): Promise<MergeEntry> {
  const transport =
    connection.transport ??
    createReplicaTransport({ urls: connection.urls, transportAt: (url) => grpcTransport(url, connection) });
  return createWorkspaceAdmin(transport).enqueueMerge({
    branch: workspace.branch,
    head: head ?? (await readHead(workspace)),
    by: workerId,
  });
}
