import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import type { Coordinator } from '../core/coordinator.js';
import { isBatonError } from '../core/errors.js';
import { createAsyncQueue } from './async-queue.js';
import type { GroupCommit } from './group-commit.js';
import {
  type CoordinatorMessage,
  CoordinatorMessageSchema,
  ErrorCode,
  type Hello,
  type Receipt,
  ReceiptSchema,
  type Report,
  type WorkerMessage,
  type WorkerService,
} from './proto.js';
import { errorToWire, valueToJson } from './wire.js';
import type { WorkerSessions } from './worker-sessions.js';

export interface WorkerServiceDeps {
  readonly coordinator: Coordinator;
  readonly commit: GroupCommit;
  readonly sessions: WorkerSessions;
  readonly now: () => number;
  readonly log: (error: unknown) => void;
}

const ack = (receipts: Receipt[]): CoordinatorMessage =>
  create(CoordinatorMessageSchema, { kind: { case: 'ack', value: { receipts } } });

/**
 * WorkerService.Session: one worker's connection. Reports are applied to the core as they
 * arrive; their acks (and any assignments they caused) leave only after the group commit that
 * stored them.
 */
export function createWorkerService(deps: WorkerServiceDeps): ServiceImpl<typeof WorkerService> {
  const { coordinator, commit, sessions, now, log } = deps;

  const receipt = (seq: number, apply: () => void): Receipt => {
    try {
      commit.ensureWritable();
      apply();
      return create(ReceiptSchema, { seq, ok: true });
    } catch (error) {
      if (error instanceof ConnectError) {
        return create(ReceiptSchema, {
          seq,
          ok: false,
          error: { code: ErrorCode.UNAVAILABLE, message: error.rawMessage },
        });
      }
      if (!isBatonError(error)) {
        log(error);
        return create(ReceiptSchema, {
          seq,
          ok: false,
          error: { code: ErrorCode.INTERNAL, message: 'internal error' },
        });
      }
      return create(ReceiptSchema, { seq, ok: false, error: errorToWire(error) });
    }
  };

  const applyReport = (workerId: string, report: Report['kind']): Receipt | undefined => {
    switch (report.case) {
      case 'started': {
        const r = report.value;
        return receipt(r.seq, () => coordinator.taskStarted(workerId, r.taskId, r.attempt));
      }
      case 'complete': {
        const r = report.value;
        return receipt(r.seq, () =>
          coordinator.complete(workerId, r.taskId, r.attempt, valueToJson(r.result)),
        );
      }
      case 'failed': {
        const r = report.value;
        return receipt(r.seq, () => coordinator.fail(workerId, r.taskId, r.attempt, r.error, r.retryable));
      }
      case 'cost': {
        const r = report.value;
        return receipt(r.seq, () =>
          coordinator.recordCost(workerId, {
            reportId: r.reportId,
            totalUsd: r.totalUsd,
            inputTokens: Number(r.inputTokens),
            outputTokens: Number(r.outputTokens),
          }),
        );
      }
      default:
        return undefined;
    }
  };

  const join = (hello: Hello, outbox: ReturnType<typeof createAsyncQueue<CoordinatorMessage>>): string => {
    const workerId = hello.workerId;
    if (workerId === '') throw new ConnectError('hello.worker_id is required', Code.InvalidArgument);
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
        },
      },
    });
    commit.afterCommit(() => outbox.push(welcome));
    coordinator.dispatch();
    return workerId;
  };

  const handle = (
    workerId: string,
    message: WorkerMessage,
    outbox: { push(m: CoordinatorMessage): void },
  ): void => {
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
        const reports = kind.case === 'reports' ? kind.value.reports.map((r) => r.kind) : [kind];
        const receipts = reports.map((r) => applyReport(workerId, r)).filter((r) => r !== undefined);
        if (receipts.length === 0) return;
        commit.afterCommit(
          () => outbox.push(ack(receipts)),
          (error) =>
            outbox.push(
              ack(
                receipts.map((r) =>
                  create(ReceiptSchema, {
                    seq: r.seq,
                    ok: false,
                    error: { code: ErrorCode.UNAVAILABLE, message: error.rawMessage },
                  }),
                ),
              ),
            ),
        );
      }
    }
  };

  return {
    async *session(requests: AsyncIterable<WorkerMessage>, context: HandlerContext) {
      const outbox = createAsyncQueue<CoordinatorMessage>();
      let workerId: string | undefined;
      const read = async (): Promise<void> => {
        try {
          for await (const message of requests) {
            if (workerId === undefined) {
              if (message.kind.case !== 'hello') {
                throw new ConnectError(
                  'the first message of a session must be hello',
                  Code.FailedPrecondition,
                );
              }
              workerId = join(message.kind.value, outbox);
            } else {
              handle(workerId, message, outbox);
            }
          }
          // The worker closed its side: it is leaving once what it was sent has gone out.
          commit.afterCommit(() => outbox.close());
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
        outbox.close();
        if (workerId !== undefined && sessions.detach(workerId, outbox)) {
          coordinator.workerLeft(workerId, context.signal.aborted ? 'connection lost' : 'disconnected');
        }
        void reading;
      }
    },
  };
}
