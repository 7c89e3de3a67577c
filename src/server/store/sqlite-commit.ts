// store/: durable implementations of the core Store interface.
// Imports src/core only (test/architecture/walls.test.ts).
import type { CoordinatorState } from '../../core/lifecycle.js';
import type { CostChanges, StoreChanges } from '../../core/store.js';
import { type TaskWrites, writeTask } from './sqlite-task-rows.js';

/**
 * One group commit as the SQLite connection applies it: plain values only (JSON already
 * stringified, task rows flattened), so that it can be built on the event loop and written by a
 * connection in another thread after a structured copy.
 */
export interface EncodedCommit {
  readonly state?: CoordinatorState;
  readonly nextSeq?: number;
  readonly tasks: TaskWrites;
  readonly removeTasks: readonly string[];
  readonly upsertLeases: readonly (readonly [string, number])[];
  readonly removeLeases: readonly string[];
  /** The rate limiter's snapshot as JSON. */
  readonly rateLimiter?: string;
  readonly costs?: CostChanges;
  /** kind, id, body JSON. */
  readonly upsertRecords: readonly (readonly [string, string, string])[];
  readonly removeRecords: readonly (readonly [string, string])[];
}

/** `storedNextSeq`: the insertion counter as last committed (see writeTask). */
export function encodeCommit(changes: StoreChanges, storedNextSeq: number): EncodedCommit {
  const tasks: TaskWrites = { specs: [], states: [], results: [] };
  for (const row of changes.upsertTasks) writeTask(tasks, row, storedNextSeq);
  return {
    ...(changes.state === undefined ? {} : { state: changes.state }),
    ...(changes.nextSeq === undefined ? {} : { nextSeq: changes.nextSeq }),
    tasks,
    removeTasks: changes.removeTasks,
    upsertLeases: changes.upsertLeases,
    removeLeases: changes.removeLeases,
    ...(changes.rateLimiter === undefined ? {} : { rateLimiter: JSON.stringify(changes.rateLimiter) }),
    ...(changes.costs === undefined ? {} : { costs: changes.costs }),
    upsertRecords: (changes.upsertRecords ?? []).map((r) => [r.kind, r.id, JSON.stringify(r.body)] as const),
    removeRecords: changes.removeRecords ?? [],
  };
}
