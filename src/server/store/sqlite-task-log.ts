// store/: durable implementations of the core Store interface.
// Imports src/core only (test/architecture/walls.test.ts).
import type Database from 'better-sqlite3';
import { STATE_COLUMNS, STATE_WIDTH, type StoredTask } from './sqlite-task-rows.js';

/**
 * Tasks' state changes as an append-only log (schema 6) over task_state, the folded base. A
 * commit's transitions are one appended row, so writing them costs about the same however
 * scattered the tasks are; folding many commits' rows at once writes each task once, in seq
 * order, however many transitions it made meanwhile.
 */
export interface TaskLog {
  /** States held in the log, not yet folded. */
  readonly size: number;
  /** Appends one commit's `TaskWrites.states` (inside the commit's transaction). */
  append(states: readonly (number | string | null)[]): void;
  /**
   * Folds the oldest log rows into task_state and deletes them, about `states` task states, in
   * the caller's transaction. Superseded states are skipped, and so are tasks removed since.
   */
  fold(states: number): void;
  /** Brings the tasks read from task_specs and task_state (ordered by seq) up to the log. */
  overlay(tasks: StoredTask[]): void;
  /** Reads the log again: after a transaction that appended or folded was rolled back. */
  recount(): void;
}

type Value = number | string | null;

/** Opens the log of a database at schema 6 or later. */
export function openTaskLog(db: Database.Database): TaskLog {
  const append = db.prepare<[number, string]>('INSERT INTO task_log (count, states) VALUES (?, ?)');
  const oldest = db.prepare<[number], { n: number; count: number; states: string }>(
    'SELECT n, count, states FROM task_log ORDER BY n LIMIT ?',
  );
  const all = db.prepare<[], { n: number; count: number; states: string }>(
    'SELECT n, count, states FROM task_log ORDER BY n',
  );
  const drop = db.prepare<[number]>('DELETE FROM task_log WHERE n <= ?');
  const exists = db.prepare<[number]>('SELECT 1 FROM task_specs WHERE seq = ?').pluck();
  const upsert = db.prepare(
    `INSERT INTO task_state VALUES (${Array(STATE_WIDTH).fill('?').join(', ')}) ON CONFLICT(seq) DO UPDATE SET
       ${STATE_COLUMNS.map((c) => `${c} = excluded.${c}`).join(', ')}`,
  );
  /** States and rows in the log (a row holds one commit's tasks, `size / rows` on average). */
  let size = 0;
  let rows = 0;
  /**
   * Each task in the log and the row of its latest state: a fold writes a task only from that
   * row, and skips the states a later row supersedes, so a task is written to task_state once
   * however many transitions the log held.
   */
  let newest = new Map<number, number>();
  const each = (states: readonly Value[], visit: (seq: number, at: number) => void): void => {
    for (let i = 0; i < states.length; i += STATE_WIDTH) visit(states[i] as number, i);
  };
  const recount = (): void => {
    size = 0;
    rows = 0;
    newest = new Map();
    for (const row of all.iterate()) {
      each(JSON.parse(row.states) as Value[], (seq) => newest.set(seq, row.n));
      size += row.count;
      rows++;
    }
  };
  recount();

  return {
    get size() {
      return size;
    },
    append(states) {
      const count = states.length / STATE_WIDTH;
      const n = Number(append.run(count, JSON.stringify(states)).lastInsertRowid);
      each(states, (seq) => newest.set(seq, n));
      size += count;
      rows++;
    },
    fold(states) {
      const want = Math.max(1, Math.ceil(states / Math.max(1, size / Math.max(1, rows))));
      const latest: Value[][] = [];
      let last = -1;
      let folded = 0;
      for (const row of oldest.all(want)) {
        const values = JSON.parse(row.states) as Value[];
        each(values, (seq, at) => {
          if (newest.get(seq) !== row.n) return;
          newest.delete(seq);
          latest.push(values.slice(at, at + STATE_WIDTH));
        });
        last = row.n;
        folded += row.count;
        rows--;
      }
      if (last < 0) return recount();
      // In seq order, so that tasks sharing a page of task_state are written together.
      latest.sort((a, b) => (a[0] as number) - (b[0] as number));
      for (const state of latest) if (exists.get(state[0] as number) !== undefined) upsert.run(state);
      drop.run(last);
      size -= folded;
    },
    overlay(tasks) {
      if (size === 0) return;
      const at = new Map<number, number>();
      for (let i = 0; i < tasks.length; i++) at.set((tasks[i] as StoredTask).seq, i);
      for (const row of all.iterate()) {
        const values = JSON.parse(row.states) as Value[];
        each(values, (seq, from) => {
          const index = at.get(seq);
          if (index === undefined) return; // removed since
          const task = tasks[index] as unknown as Record<string, unknown>;
          for (let c = 0; c < STATE_COLUMNS.length; c++)
            task[STATE_COLUMNS[c] as string] = values[from + 1 + c];
        });
      }
    },
    recount,
  };
}
