// Reports for the worker SDK: task and cost reports into the ledger, batched onto the session.
import { randomUUID } from 'node:crypto';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import type { WorkerMessageSchema } from './proto.js';
import {
  createReportLedger,
  type ReportBody,
  type ReportLedger,
  type ReportOutcome,
  type ReportSettled,
} from './report-ledger.js';
import type { TaskReportBody } from './task-runner.js';
import type { CostReport, WorkerEvent } from './worker-api.js';

export type WorkerMessageInit = MessageInitShape<typeof WorkerMessageSchema>;

export interface WorkerReportsHooks {
  /** The generation of the welcomed, open session, or undefined while there is none. */
  openSession(): number | undefined;
  write(message: WorkerMessageInit): void;
  emit(event: WorkerEvent): void;
  /** A report showed that attempt is stale. */
  stale(taskId: string, attempt: number): void;
  /** A report was answered (or given up): the worker may be done. */
  settled(): void;
}

export interface WorkerReports {
  /** Reports about a task; they go out together with the others made in the same tick. */
  task(body: TaskReportBody): void;
  /** Spend since the last cost report; resolves once the coordinator applied it. */
  cost(cost: CostReport): Promise<ReportOutcome>;
  /** Writes every report the open session has not seen yet, in batches. */
  flush(): void;
  settle(receipt: Parameters<ReportLedger['settle']>[0]): void;
  /** Gives up every outstanding and later report with `error`. */
  close(error: ConnectError): void;
  /** Reports not acknowledged yet. */
  readonly outstanding: number;
}

const maxBatch = 256;

export function createWorkerReports(hooks: WorkerReportsHooks): WorkerReports {
  const ledger = createReportLedger();
  // Cost reports carry `<instance>-<n>` so a resent one is counted once even across a restart of
  // the coordinator that lost the first receipt; the instance part keeps ids unique per process.
  const instance = randomUUID();
  let costReports = 0;
  let flushScheduled = false;

  const flush = (): void => {
    const generation = hooks.openSession();
    if (generation === undefined) return;
    const bodies = ledger.takeUnsent(generation);
    for (let i = 0; i < bodies.length; i += maxBatch) {
      const chunk = bodies.slice(i, i + maxBatch);
      if (chunk.length === 1) hooks.write({ kind: chunk[0]! });
      else hooks.write({ kind: { case: 'reports', value: { reports: chunk.map((kind) => ({ kind })) } } });
    }
  };

  /** Reports made in the same tick go out together, in one Reports batch. */
  const scheduleFlush = (): void => {
    if (flushScheduled) return;
    flushScheduled = true;
    queueMicrotask(() => {
      flushScheduled = false;
      flush();
    });
  };

  /**
   * The end of a task's report: a stale attempt aborts the handler still running it (if any);
   * any other refusal becomes an event. One function for every report, so a report costs no closure.
   */
  const taskReportSettled: ReportSettled = (outcome, body) => {
    hooks.settled();
    if (outcome === 'applied' || body.case === 'cost') return;
    if (outcome === 'stale') {
      const { taskId, attempt } = body.value;
      hooks.emit({ type: 'stale', taskId, attempt, report: body.case });
      hooks.stale(taskId, attempt);
      return;
    }
    hooks.emit({ type: 'report-refused', report: body.case, error: outcome });
  };

  const cost = (report: CostReport): Promise<ReportOutcome> => {
    if (!Number.isFinite(report.totalUsd) || report.totalUsd < 0) {
      return Promise.reject(
        new ConnectError(
          `totalUsd must be a non-negative number, got ${report.totalUsd}`,
          Code.InvalidArgument,
        ),
      );
    }
    let inputTokens: bigint;
    let outputTokens: bigint;
    try {
      inputTokens = BigInt(report.inputTokens);
      outputTokens = BigInt(report.outputTokens);
    } catch (e) {
      return Promise.reject(
        new ConnectError('token counts must be integers', Code.InvalidArgument, undefined, undefined, e),
      );
    }
    const body: ReportBody = {
      case: 'cost',
      value: {
        seq: 0,
        totalUsd: report.totalUsd,
        inputTokens,
        outputTokens,
        taskId: report.taskId ?? '',
        reportId: `${instance}-${++costReports}`,
      },
    };
    return new Promise<ReportOutcome>((resolve, reject) => {
      ledger.add(body, (outcome) => {
        hooks.settled();
        if (outcome instanceof ConnectError) reject(outcome);
        else resolve(outcome);
      });
      scheduleFlush();
    });
  };

  return {
    task(body) {
      ledger.add(body, taskReportSettled);
      scheduleFlush();
    },
    cost,
    flush,
    settle(receipt) {
      ledger.settle(receipt);
    },
    close: (error) => ledger.close(error),
    get outstanding() {
      return ledger.size;
    },
  };
}
