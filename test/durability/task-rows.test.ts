import { expect } from 'chai';
import { createTaskQueue } from '../../src/core/task-queue.js';
import {
  readTask,
  STATE_COLUMNS,
  STORED_FIELDS,
  type StoredTask,
  type TaskWrites,
  writeTask,
} from '../../src/server/store/sqlite-task-rows.js';

describe('durability: where SQLite keeps each field of a task', () => {
  it('every field of a stored task row is placed (spec, state, key, result or live)', () => {
    const queue = createTaskQueue({ now: () => 1 });
    queue.add({ id: 'a', deps: [], metadata: { k: 1 }, paths: ['src/**'], land: true });
    const row = queue.rowOf('a') as object;
    const unplaced = Object.keys(row).filter((k) => !(k in STORED_FIELDS));
    expect(unplaced, 'add them to STORED_FIELDS in src/server/store/sqlite-task-rows.ts').to.deep.equal([]);
  });

  it('a row written (spec and state) reads back as it was', () => {
    const queue = createTaskQueue({ now: () => 5 });
    queue.add({ id: 'a', category: 'gpu', requireCapability: true, metadata: { k: [1] }, priority: 3 });
    queue.assign('a', 'w1');
    queue.complete('a', { out: 'yes' }, { workerId: 'w1', attempt: 1 });
    const row = queue.rowOf('a');
    if (row === undefined) throw new Error('no row');
    const writes: TaskWrites = { specs: [], states: [], results: [] };
    writeTask(writes, row, 0);
    const state = Object.fromEntries(STATE_COLUMNS.map((c, i) => [c, writes.states[i + 1]]));
    const stored = {
      seq: row.seq,
      id: writes.specs[1],
      spec: writes.specs[2],
      ...state,
      result: writes.results[1],
    } as StoredTask;
    expect(readTask(stored)).to.deep.equal(row);
  });
});
