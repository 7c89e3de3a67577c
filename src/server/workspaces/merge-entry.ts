// workspaces/: the shared git repository: worktrees per worker, the conflict matrix, the merge queue.
// Imports src/core only (test/architecture/walls.test.ts).
import type { CheckOutcome } from './check-runner.js';

/**
 * queued → checking → landed | rejected. `checking` goes back to `queued` when the queue stops
 * in the middle of it (a crash, a restart) or defers it behind the batch it conflicted with.
 */
export type MergeState = 'queued' | 'checking' | 'landed' | 'rejected';

export type RejectReason = 'conflict' | 'check-failed' | 'check-timeout';

export interface MergeRejection {
  readonly reason: RejectReason;
  /** One sentence for the worker: the conflicting paths, or the exit and the output's last lines. */
  readonly message: string;
  /** The paths git could not merge (`conflict`). */
  readonly paths?: readonly string[];
  readonly exitCode?: number | null;
  readonly signal?: string | null;
}

export interface MergeHistoryItem {
  readonly at: number;
  readonly state: MergeState;
  readonly note: string;
}

/** One run of the check command, on a merge commit carrying one or more entries. */
export interface MergeCheck {
  /** The merge commit that was checked. */
  readonly commit: string;
  /** The entries that commit carried (the batch, or the part of it being bisected). */
  readonly entries: readonly string[];
  readonly outcome: CheckOutcome;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly durationMs: number;
  /** The tail of the check's output. */
  readonly output: string;
  readonly truncated: boolean;
}

/** An entry as callers see it. The kept check output is read separately (it is large). */
export interface MergeEntry {
  readonly id: string;
  /** Order of arrival: the queue lands entries first come, first served. */
  readonly seq: number;
  readonly branch: string;
  /** The commit to land (the branch's head when enqueued, or the one the caller named). */
  readonly head: string;
  /** Who enqueued it: a worker id or an operator. */
  readonly by: string;
  readonly state: MergeState;
  readonly enqueuedAt: number;
  readonly updatedAt: number;
  /** The target's new head by the landing that carried this entry. */
  readonly landedAs?: string;
  readonly rejection?: MergeRejection;
  /**
   * The last failure that was no entry's fault (git or the store failing: a full disk, say) and
   * put this entry back in the queue to be retried. Meaningful while queued or checking.
   */
  readonly retrying?: string;
  /** The latest transitions, oldest first (bounded: see HISTORY_LIMIT). */
  readonly history: readonly MergeHistoryItem[];
}

/** What a record of kind 'merge-entry' holds. */
export interface MergeEntryRecord extends MergeEntry {
  /** The last check this entry took part in: the passing one if landed, its own if rejected. */
  readonly check?: MergeCheck;
}

/** A target moving again and again must not grow a record without end. */
export const HISTORY_LIMIT = 32;

const STATES: readonly MergeState[] = ['queued', 'checking', 'landed', 'rejected'];

/** Reads back a stored record, or says why it cannot be (a record from a foreign or newer Baton). */
export function parseEntryRecord(body: unknown): MergeEntryRecord {
  const b = body as Partial<MergeEntryRecord> | null;
  const ok =
    typeof b === 'object' &&
    b !== null &&
    typeof b.id === 'string' &&
    typeof b.seq === 'number' &&
    typeof b.branch === 'string' &&
    typeof b.head === 'string' &&
    typeof b.by === 'string' &&
    STATES.includes(b.state as MergeState) &&
    Array.isArray(b.history);
  if (!ok) throw new Error(`unreadable merge-entry record: ${JSON.stringify(body).slice(0, 200)}`);
  return b as MergeEntryRecord;
}

/** The entry without its check output. */
export function publicEntry(record: MergeEntryRecord): MergeEntry {
  const { check: _check, ...entry } = record;
  return entry;
}
