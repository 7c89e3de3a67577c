import type { Value } from '@bufbuild/protobuf/wkt';
import type { ConnectError } from '@connectrpc/connect';
import { connectErrorFromDetail } from './errors.js';
import { type BatonErrorDetail, ErrorCode } from './proto.js';

/**
 * One report as it goes on the wire, seq included: the `kind` of a WorkerMessage or of a Report
 * inside a Reports batch (the two oneofs share these cases).
 */
export type ReportBody =
  | { readonly case: 'started'; readonly value: { seq: number; taskId: string; attempt: number } }
  | {
      readonly case: 'complete';
      readonly value: { seq: number; taskId: string; attempt: number; result?: Value };
    }
  | {
      readonly case: 'failed';
      readonly value: { seq: number; taskId: string; attempt: number; error: string; retryable: boolean };
    }
  | {
      readonly case: 'cost';
      readonly value: {
        seq: number;
        totalUsd: number;
        inputTokens: bigint;
        outputTokens: bigint;
        taskId: string;
        reportId: string;
      };
    };

/**
 * What became of a report the coordinator answered: `applied`, or `stale` when it was refused with
 * ABORTED (the attempt is no longer current; the task belongs to someone else now, which is not
 * an error for the worker). UNAVAILABLE (the coordinator could not store it) is not an answer:
 * the report is resent until it gets one. Any other refusal rejects with a ConnectError.
 */
export type ReportOutcome = 'applied' | 'stale';

/**
 * How a report ended: its outcome, or the ConnectError that refused it (or closed the ledger).
 * A callback rather than a promise: a worker makes two reports per task, and a promise with its
 * reactions per report was most of the SDK's allocation per task.
 */
export type ReportSettled = (outcome: ReportOutcome | ConnectError, body: ReportBody) => void;

interface Entry {
  readonly body: ReportBody;
  /** The session generation the report was last written to; 0 when never. */
  sentOn: number;
  readonly settled: ReportSettled;
}

/**
 * The worker's unacknowledged reports, by seq. A report stays here from the moment it is made
 * until its receipt arrives, whatever happens to the stream in between: after a reconnect every
 * entry not yet written to the new session is written again (the coordinator applies a repeat of
 * an applied report as a no-op success), so no report is ever dropped.
 */
export interface ReportLedger {
  /**
   * Records `body` under a fresh seq, written into it (unique among unacknowledged reports).
   * `settled` runs once: from `settle` when the receipt arrives, or in a microtask after `close`.
   */
  add(body: ReportBody, settled: ReportSettled): void;
  /** The reports not yet written to session `generation`, in seq order, now marked as written. */
  takeUnsent(generation: number): ReportBody[];
  /**
   * Settles the report a receipt names. False when no report has that seq (a duplicate receipt).
   * An UNAVAILABLE receipt settles nothing: the report is kept and counts as not yet written.
   */
  settle(receipt: { seq: number; ok: boolean; error?: BatonErrorDetail | undefined }): boolean;
  /** Settles every outstanding report and every later `add` with `error`. */
  close(error: ConnectError): void;
  readonly size: number;
}

const maxSeq = 0xffff_ffff;

export function createReportLedger(): ReportLedger {
  const entries = new Map<number, Entry>();
  let next = 1;
  let closedWith: ConnectError | undefined;

  const allocate = (): number => {
    for (;;) {
      const seq = next;
      next = next === maxSeq ? 1 : next + 1;
      if (!entries.has(seq)) return seq;
    }
  };

  return {
    add(body, settled) {
      const error = closedWith;
      if (error !== undefined) {
        queueMicrotask(() => settled(error, body));
        return;
      }
      const seq = allocate();
      body.value.seq = seq;
      entries.set(seq, { body, sentOn: 0, settled });
    },
    takeUnsent(generation) {
      const out: ReportBody[] = [];
      for (const entry of entries.values()) {
        if (entry.sentOn === generation) continue;
        entry.sentOn = generation;
        out.push(entry.body);
      }
      return out;
    },
    settle(receipt) {
      const entry = entries.get(receipt.seq);
      if (entry === undefined) return false;
      if (!receipt.ok && receipt.error?.code === ErrorCode.UNAVAILABLE) {
        // The coordinator could not store it, so it may or may not have been applied: keep it and
        // write it again later (a repeat of an applied report is a no-op success).
        entry.sentOn = 0;
        return true;
      }
      entries.delete(receipt.seq);
      const outcome = receipt.ok
        ? 'applied'
        : receipt.error?.code === ErrorCode.ABORTED
          ? 'stale'
          : connectErrorFromDetail(receipt.error, `report ${receipt.seq} refused`);
      entry.settled(outcome, entry.body);
      return true;
    },
    close(error) {
      closedWith ??= error;
      const pending = [...entries.values()];
      entries.clear();
      // Later, as a rejection would: the closer finishes its own work first.
      if (pending.length > 0) {
        queueMicrotask(() => {
          for (const entry of pending) entry.settled(error, entry.body);
        });
      }
    },
    get size() {
      return entries.size;
    },
  };
}
