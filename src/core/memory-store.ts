import type { CostSnapshot } from './cost-aggregator.js';
import type { CoordinatorState } from './lifecycle.js';
import type { RateLimiterSnapshot } from './rate-limiter.js';
import type { CoordinatorImage, Store, TaskRow } from './store.js';

/**
 * The in-memory store (`--store memory`, tests): the same commit contract as SQLite, so the
 * server's group-commit path is exercised identically, but nothing outlives the process.
 */
export function createMemoryStore(): Store {
  let state: CoordinatorState | undefined;
  let nextSeq = 0;
  const tasks = new Map<string, TaskRow>();
  const leases = new Map<string, number>();
  let rateLimiter: RateLimiterSnapshot | null = null;
  let costs: CostSnapshot | null = null;

  return {
    kind: 'memory',
    load(): CoordinatorImage | undefined {
      if (state === undefined) return undefined;
      return {
        state,
        tasks: { version: 1, nextSeq, tasks: [...tasks.values()].sort((a, b) => a.seq - b.seq) },
        leases: [...leases],
        rateLimiter,
        costs,
      };
    },
    commit(changes) {
      state = changes.state ?? state ?? 'init';
      nextSeq = changes.nextSeq ?? nextSeq;
      for (const row of changes.upsertTasks) tasks.set(row.id, row);
      for (const id of changes.removeTasks) tasks.delete(id);
      for (const [id, at] of changes.upsertLeases) leases.set(id, at);
      for (const id of changes.removeLeases) leases.delete(id);
      rateLimiter = changes.rateLimiter ?? rateLimiter;
      costs = changes.costs ?? costs;
    },
    close() {},
  };
}
