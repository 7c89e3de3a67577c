// workspaces/: the shared git repository: worktrees per worker, the conflict matrix, the merge queue.
// Imports src/core only (test/architecture/walls.test.ts).
import { createIndexedHeap } from '../../core/indexed-heap.js';
import type { StoreRecord } from '../../core/store.js';
import {
  HISTORY_LIMIT,
  type MergeCheck,
  type MergeEntryRecord,
  type MergeRejection,
  type MergeState,
  parseEntryRecord,
} from './merge-entry.js';

/** The durable records the queue writes through (`openCoordinator(...).records` on the server). */
export interface MergeRecords {
  restored(kind: string): readonly StoreRecord[];
  put(kind: string, id: string, body: unknown): void;
  remove(kind: string, id: string): void;
}

export const ENTRY_KIND = 'merge-entry';
/** One record, id 'next': the next entry number, so ids are never reused after old ones are dropped. */
export const META_KIND = 'merge-queue';

export interface Transition {
  readonly landedAs?: string;
  readonly rejection?: MergeRejection;
  readonly check?: MergeCheck;
  readonly retrying?: string;
}

/** The entries, their order and their states, each change written to the records as it is made. */
export interface MergeLedger {
  readonly queued: number;
  add(fields: { branch: string; head: string; by: string }): MergeEntryRecord;
  get(id: string): MergeEntryRecord | undefined;
  /** Entries kept (every active one and the latest finished ones), oldest first. */
  list(): MergeEntryRecord[];
  /** Takes up to `n` queued entries, first come first served, and marks them `checking`. */
  take(n: number, note: string): MergeEntryRecord[];
  move(id: string, state: MergeState, note: string, change?: Transition): MergeEntryRecord;
  /** Records a check an entry took part in without changing its state. */
  noteCheck(id: string, check: MergeCheck, note: string): void;
}

interface Slot {
  record: MergeEntryRecord;
  heapIndex: number;
}

export interface MergeLedgerOptions {
  readonly records: MergeRecords;
  readonly now: () => number;
  /** How many landed or rejected entries to keep readable (oldest are dropped). */
  readonly keepFinished: number;
}

/**
 * Restores the ledger from the records: an entry found `checking` was interrupted (nothing of
 * it landed, since landing is one compare-and-swap after which it is `landed`) and is queued
 * again to be merged and checked from scratch.
 */
export function openMergeLedger(options: MergeLedgerOptions): MergeLedger {
  const { records, now, keepFinished } = options;
  const active = new Map<string, Slot>();
  // Insertion order is finishing order, so the first key is the one to drop.
  const finished = new Map<string, MergeEntryRecord>();
  const queue = createIndexedHeap<Slot>({
    before: (a, b) => a.record.seq < b.record.seq,
    getIndex: (s) => s.heapIndex,
    setIndex: (s, i) => {
      s.heapIndex = i;
    },
  });

  const write = (record: MergeEntryRecord): void => records.put(ENTRY_KIND, record.id, record);
  const finish = (record: MergeEntryRecord): void => {
    finished.set(record.id, record);
    while (finished.size > keepFinished) {
      const oldest = finished.keys().next().value as string;
      finished.delete(oldest);
      records.remove(ENTRY_KIND, oldest);
    }
  };
  const withHistory = (
    record: MergeEntryRecord,
    state: MergeState,
    note: string,
    change: Transition,
  ): MergeEntryRecord => {
    const at = now();
    return {
      ...record,
      ...change,
      state,
      updatedAt: at,
      history: [...record.history, { at, state, note }].slice(-HISTORY_LIMIT),
    };
  };

  let nextSeq = 1;
  for (const r of records.restored(META_KIND)) {
    const next = (r.body as { next?: unknown }).next;
    if (typeof next === 'number' && next > nextSeq) nextSeq = next;
  }
  const restored = records.restored(ENTRY_KIND).map((r) => parseEntryRecord(r.body));
  for (const record of restored.sort((a, b) => a.seq - b.seq)) {
    nextSeq = Math.max(nextSeq, record.seq + 1);
    if (record.state === 'landed' || record.state === 'rejected') {
      finish(record);
      continue;
    }
    const slot: Slot = { record, heapIndex: -1 };
    if (record.state === 'checking') {
      slot.record = withHistory(record, 'queued', 'interrupted during its check (restart): re-run', {});
      write(slot.record);
    }
    active.set(record.id, slot);
    queue.push(slot);
  }

  return {
    get queued() {
      return queue.size;
    },
    add(fields) {
      const seq = nextSeq++;
      const at = now();
      const record: MergeEntryRecord = {
        id: String(seq),
        seq,
        ...fields,
        state: 'queued',
        enqueuedAt: at,
        updatedAt: at,
        history: [{ at, state: 'queued', note: `enqueued by ${fields.by}` }],
      };
      const slot: Slot = { record, heapIndex: -1 };
      active.set(record.id, slot);
      queue.push(slot);
      records.put(META_KIND, 'next', { next: nextSeq });
      write(record);
      return record;
    },
    get: (id) => active.get(id)?.record ?? finished.get(id),
    list: () =>
      [...[...active.values()].map((s) => s.record), ...finished.values()].sort((a, b) => a.seq - b.seq),
    take(n, note) {
      const taken: MergeEntryRecord[] = [];
      while (taken.length < n && queue.size > 0) {
        const slot = queue.pop() as Slot;
        slot.record = withHistory(slot.record, 'checking', note, {});
        write(slot.record);
        taken.push(slot.record);
      }
      return taken;
    },
    move(id, state, note, change = {}) {
      const slot = active.get(id);
      if (slot === undefined) throw new Error(`merge entry ${id} is not active`);
      slot.record = withHistory(slot.record, state, note, change);
      write(slot.record);
      if (state === 'landed' || state === 'rejected') {
        active.delete(id);
        finish(slot.record);
      } else if (state === 'queued' && !queue.has(slot)) {
        queue.push(slot);
      }
      return slot.record;
    },
    noteCheck(id, check, note) {
      const slot = active.get(id);
      if (slot === undefined) return;
      slot.record = withHistory(slot.record, slot.record.state, note, { check });
      write(slot.record);
    },
  };
}
