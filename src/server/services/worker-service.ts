// services/: one file per proto service, each handler decode -> core call -> encode.
// Imports src/core, src/gen, src/wire, codec/ and runtime/ (test/architecture/walls.test.ts).
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import type { Coordinator } from '../../core/coordinator.js';
import { isBatonError } from '../../core/errors.js';
import { createAsyncQueue } from '../../wire/async-queue.js';
import { boundWorkerId, type Principal } from '../auth/policy.js';
import { PRINCIPAL } from '../auth/principal.js';
import {
  CoordinatorMessageSchema,
  ErrorCode,
  type Hello,
  type ReceiptSchema,
  type Report,
  type WorkerMessage,
  type WorkerService,
} from '../codec/proto.js';
import { errorToWire, valueToJson } from '../codec/wire.js';
import type { GroupCommit } from '../runtime/group-commit.js';
import type { SharedRepo } from '../runtime/shared-repo.js';
import type { Outbox, OutMessage, WorkerSessions } from '../runtime/worker-sessions.js';

export interface WorkerServiceDeps {
  readonly coordinator: Coordinator;
  readonly commit: GroupCommit;
  readonly sessions: WorkerSessions;
  readonly now: () => number;
  /** Unexpected errors, with the fields that say whose (workerId, the report's kind). */
  readonly log: (error: unknown, fields?: Readonly<Record<string, unknown>>) => void;
  /** The shared repository, when the server has one (`--repo`): workspaces for workers that ask. */
  readonly repo?: SharedRepo | undefined;
  /** Each refusal of what the caller's token does not allow, once (a warning in the server's log). */
  readonly refused?: (message: string, fields: Readonly<Record<string, unknown>>) => void;
}

interface WorkspaceInfo {
  readonly path: string;
  readonly branch: string;
  readonly target: string;
}

/**
 * One worker's session, whatever carries it: connect's handler below, or the session fast path
 * (session-fast-path.ts), which feeds it from the HTTP/2 stream directly. Messages to the worker
 * go to the `outbox` given to `open`; closing it (with an error, to fail the call) ends the call
 * once what was pushed before has gone out.
 */
export interface SessionCall {
  /** A message from the worker, applied now. Throws to end the call with that error. */
  receive(message: WorkerMessage): void;
  /** The worker closed its side: the call ends once what it was sent has gone out. */
  halfClose(): void;
  /** The call is over. `lost`: the client cancelled or the connection broke. */
  end(lost: boolean): void;
}

export type WorkerServiceImpl = ServiceImpl<typeof WorkerService> & {
  /**
   * Starts a session writing to `outbox`: the transport-neutral core of `session`. `principal`:
   * who the call's token named; a worker token's session may only join as its own worker id.
   */
  open(outbox: Outbox, principal?: Principal): SessionCall;
};

type ReceiptInit = MessageInitShape<typeof ReceiptSchema>;

// Plain init shapes, not create()d messages: the session fast path encodes them as they are, and
// connect's handler normalizes what a handler yields.
const ack = (receipts: ReceiptInit[]): OutMessage => ({ kind: { case: 'ack', value: { receipts } } });

/**
 * What reading the worker's stream failed with (a message that does not parse, a broken
 * envelope, bad compression): the client's fault. connect raises those as `Internal`, which Baton
 * keeps for its own bugs, so they end the call as `InvalidArgument` (as the session fast path does).
 */
const clientFault = (error: unknown): unknown =>
  error instanceof ConnectError && error.code === Code.Internal
    ? new ConnectError(error.rawMessage, Code.InvalidArgument)
    : error;

/**
 * WorkerService.Session: one worker's connection. Reports are applied to the core as they
 * arrive; their acks (and any assignments they caused) leave only after the group commit that
 * stored them.
 */
export function createWorkerService(deps: WorkerServiceDeps): WorkerServiceImpl {
  const { coordinator, commit, sessions, now, log, repo } = deps;
  const refused = deps.refused ?? (() => {});

  const refusal = (seq: number, error: unknown, fields: Readonly<Record<string, unknown>>): ReceiptInit => {
    if (isBatonError(error) && error.code === 'permission-denied') refused(error.message, fields);
    if (error instanceof ConnectError) {
      return { seq, ok: false, error: { code: ErrorCode.UNAVAILABLE, message: error.rawMessage } };
    }
    if (!isBatonError(error)) {
      log(error, fields);
      return { seq, ok: false, error: { code: ErrorCode.INTERNAL, message: 'internal error' } };
    }
    return { seq, ok: false, error: errorToWire(error) };
  };

  /** Applies one report (unless the store refuses writes) and says how it went; undefined for no report. */
  const applyReport = (workerId: string, report: Report['kind']): ReceiptInit | undefined => {
    if (report.case === undefined) return undefined;
    const r = report.value;
    try {
      commit.ensureWritable();
      switch (report.case) {
        case 'started':
          coordinator.taskStarted(workerId, report.value.taskId, report.value.attempt);
          break;
        case 'complete': {
          const c = report.value;
          coordinator.complete(workerId, c.taskId, c.attempt, valueToJson(c.result));
          if (c.headCommit !== '' && repo !== undefined) {
            const land = coordinator.taskQueue.peek(c.taskId)?.land ?? false;
            repo.headMoved(workerId, c.headCommit, land);
          }
          break;
        }
        case 'failed': {
          const f = report.value;
          coordinator.fail(workerId, f.taskId, f.attempt, f.error, f.retryable);
          break;
        }
        case 'cost': {
          const c = report.value;
          coordinator.recordCost(workerId, {
            reportId: c.reportId,
            totalUsd: c.totalUsd,
            inputTokens: Number(c.inputTokens),
            outputTokens: Number(c.outputTokens),
          });
          break;
        }
      }
      return { seq: r.seq, ok: true };
    } catch (error) {
      return refusal(r.seq, error, { workerId, report: report.case });
    }
  };

  const join = (hello: Hello, outbox: Outbox, workspace?: WorkspaceInfo): string => {
    const workerId = hello.workerId;
    commit.ensureWritable();
    if (sessions.has(workerId)) {
      // The same worker reconnected before its old stream was noticed dead: the new one wins.
      sessions.kick(workerId, Code.Aborted, 'replaced by a newer session of the same worker');
      coordinator.workerLeft(workerId, 'replaced by a newer session');
    }
    const info = coordinator.workerJoined({
      id: workerId,
      capabilities: hello.capabilities,
      labels: hello.labels,
      maxConcurrency: hello.maxConcurrency === 0 ? 1 : hello.maxConcurrency,
    });
    sessions.attach(workerId, outbox);
    const welcome = create(CoordinatorMessageSchema, {
      kind: {
        case: 'welcome',
        value: {
          workerId,
          serverTime: timestampFromMs(now()),
          leaseTtlMs: coordinator.leaseTtlMs,
          heartbeatIntervalMs: coordinator.heartbeatIntervalMs,
          maxConcurrency: info.maxConcurrency,
          ...(workspace === undefined
            ? {}
            : { worktreePath: workspace.path, branch: workspace.branch, targetBranch: workspace.target }),
        },
      },
    });
    commit.afterCommit(() => outbox.push(welcome));
    coordinator.dispatch();
    return workerId;
  };

  const handle = (workerId: string, message: WorkerMessage, outbox: { push(m: OutMessage): void }): void => {
    const kind = message.kind;
    switch (kind.case) {
      case 'hello':
        throw new ConnectError('hello may only be sent once, first', Code.FailedPrecondition);
      case 'request':
        coordinator.request(workerId, kind.value.count);
        return;
      case 'heartbeat':
        coordinator.heartbeat(workerId);
        return;
      case undefined:
        return;
      default: {
        const receipts: ReceiptInit[] = [];
        if (kind.case === 'reports') {
          for (const report of kind.value.reports) {
            const receipt = applyReport(workerId, report.kind);
            if (receipt !== undefined) receipts.push(receipt);
          }
        } else {
          const receipt = applyReport(workerId, kind);
          if (receipt !== undefined) receipts.push(receipt);
        }
        if (receipts.length === 0) return;
        commit.afterCommit(
          () => outbox.push(ack(receipts)),
          (error) =>
            outbox.push(
              ack(
                receipts.map((r) => ({
                  seq: r.seq ?? 0,
                  ok: false,
                  error: { code: ErrorCode.UNAVAILABLE, message: error.rawMessage },
                })),
              ),
            ),
        );
      }
    }
  };

  const open = (outbox: Outbox, principal?: Principal): SessionCall => {
    const bound = boundWorkerId(principal);
    let workerId: string | undefined;
    /** Messages that arrived while the worker's workspace was being made: applied once it joined. */
    let early: WorkerMessage[] | undefined;
    let ended = false;

    /** Makes (or finds) the worker's worktree, then joins; until then the session only listens. */
    const joinWithWorkspace = (hello: Hello): void => {
      if (repo === undefined) {
        throw new ConnectError(
          'hello.workspace: this server has no repository (start it with --repo PATH)',
          Code.FailedPrecondition,
        );
      }
      early = [];
      repo.join(hello.workerId).then(
        (space) => {
          if (ended) return;
          try {
            const id = join(hello, outbox, {
              path: space.path,
              branch: space.branch,
              target: repo.workspaces.target,
            });
            workerId = id;
            for (const message of early ?? []) handle(id, message, outbox);
            early = undefined;
          } catch (error) {
            outbox.close(error);
          }
        },
        (error: unknown) => outbox.close(error),
      );
    };

    return {
      receive(message) {
        if (early !== undefined) early.push(message);
        else if (workerId === undefined) {
          if (message.kind.case !== 'hello') {
            throw new ConnectError('the first message of a session must be hello', Code.FailedPrecondition);
          }
          const hello = message.kind.value;
          if (hello.workerId === '')
            throw new ConnectError('hello.worker_id is required', Code.InvalidArgument);
          if (bound !== undefined && hello.workerId !== bound) {
            const message = `hello.worker_id ${JSON.stringify(hello.workerId)}: this token is for worker ${bound}`;
            refused(message, { workerId: bound, route: 'coord.v1.WorkerService/Session' });
            throw new ConnectError(message, Code.PermissionDenied);
          }
          if (hello.workspace) joinWithWorkspace(hello);
          else workerId = join(hello, outbox);
        } else {
          handle(workerId, message, outbox);
        }
      },
      // The worker closed its side: it is leaving once what it was sent has gone out.
      halfClose: () => commit.afterCommit(() => outbox.close()),
      end(lost) {
        ended = true;
        outbox.close();
        if (workerId !== undefined && sessions.detach(workerId, outbox)) {
          coordinator.workerLeft(workerId, lost ? 'connection lost' : 'disconnected');
        }
      },
    };
  };

  return {
    open,
    async *session(requests: AsyncIterable<WorkerMessage>, context: HandlerContext) {
      const outbox = createAsyncQueue<OutMessage>();
      const call = open(outbox, context.values.get(PRINCIPAL));
      const read = async (): Promise<void> => {
        const messages = requests[Symbol.asyncIterator]();
        try {
          for (;;) {
            const next = await messages.next().catch((error: unknown) => {
              throw clientFault(error);
            });
            if (next.done === true) break;
            call.receive(next.value);
          }
          call.halfClose();
        } catch (error) {
          outbox.close(error);
        }
      };
      const abort = () => outbox.close();
      context.signal.addEventListener('abort', abort, { once: true });
      const reading = read();
      try {
        yield* outbox;
      } finally {
        context.signal.removeEventListener('abort', abort);
        call.end(context.signal.aborted);
        void reading;
      }
    },
  };
}
