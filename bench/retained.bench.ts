import { createMemoryStore } from '../src/core/memory-store.js';
import { createEventHub } from '../src/server/runtime/event-hub.js';
import { openCoordinator } from '../src/server/runtime/open-coordinator.js';
import { systemScheduler } from '../src/server/runtime/system-clock.js';
import { fmt } from './stats.js';

/**
 * What the server keeps alive per task (docs/benchmarks.md, "Durable at full speed"): the
 * coordinator on the memory store with the server's event hub (its replay window of 10,000
 * events), `tasks` tasks run through one worker (added, assigned, started, complete), then the
 * heap after a full GC against the heap before, per task. Run twice, with `tasks` of at most 2,500
 * (four events each: the window holds all of them) and of many more (the window is full, and the
 * rest is the task records and the memory store's rows, which a task keeps until it is purged).
 *
 * `node --expose-gc dist/bench/retained.bench.js [--tasks=2500]`
 */

const tasks = Number(process.argv.find((a) => a.startsWith('--tasks='))?.slice(8) ?? 2_500);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

let clock = 1_700_000_000_000;
const now = () => clock++;
const { coordinator, commit } = openCoordinator({
  store: createMemoryStore(),
  now,
  scheduler: systemScheduler,
  send: () => {},
  leaseTtlMs: 2_000_000_000,
});
const hub = createEventHub({
  events: coordinator.events,
  now,
  afterCommit: (deliver) => commit.afterCommit(deliver),
});
coordinator.start();
coordinator.workerJoined({ id: 'w1', maxConcurrency: 64 });
commit.flush();

const heap = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};
const before = heap();
for (let i = 0; i < tasks; i += 64) {
  const ids = Array.from({ length: Math.min(64, tasks - i) }, (_, k) => `t${i + k}`);
  coordinator.addTasks(ids.map((id) => ({ id, metadata: { prompt: `task ${id}` } })));
  coordinator.request('w1', ids.length);
  for (const id of ids) coordinator.taskStarted('w1', id, 1);
  for (const id of ids) coordinator.complete('w1', id, 1, undefined);
  commit.flush();
}
const after = heap();
console.log(
  `retained: ${fmt(tasks)} tasks, ${fmt((after - before) / 1e6, 2)} MB, ${fmt((after - before) / tasks)} bytes per task (events logged ${fmt(hub.lastSequence)})`,
);
hub.close();
await commit.close();
