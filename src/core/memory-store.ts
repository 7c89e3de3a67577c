import { type CostAccountSnapshot, type FlagState, RECENT_REPORTS } from './cost-aggregator.js';
import type { CoordinatorState } from './lifecycle.js';
import type { RateLimiterSnapshot } from './rate-limiter.js';
import type { CoordinatorImage, Store, StoreRecord, TaskRow } from './store.js';

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
  let costGlobal: FlagState | undefined;
  const costAccounts = new Map<string, CostAccountSnapshot>();
  const reportIds = new Map<string, string[]>();
  const records = new Map<string, StoreRecord>();
  const recordKey = (kind: string, id: string): string => `${kind}\u0000${id}`;

  return {
    kind: 'memory',
    load(): CoordinatorImage | undefined {
      if (state === undefined) return undefined;
      return {
        state,
        tasks: { version: 1, nextSeq, tasks: [...tasks.values()].sort((a, b) => a.seq - b.seq) },
        leases: [...leases],
        rateLimiter,
        costs:
          costGlobal === undefined
            ? null
            : {
                version: 1,
                global: costGlobal,
                workers: [...costAccounts.values()].map((a) => ({
                  ...a,
                  recentReportIds: [...(reportIds.get(a.workerId) ?? [])],
                })),
              },
        records: [...records.values()],
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
      for (const r of changes.upsertRecords ?? []) records.set(recordKey(r.kind, r.id), r);
      for (const [kind, id] of changes.removeRecords ?? []) records.delete(recordKey(kind, id));
      const costs = changes.costs;
      if (costs !== undefined) {
        if (costs.replace === true) {
          costAccounts.clear();
          reportIds.clear();
        }
        costGlobal = costs.global;
        for (const account of costs.accounts) costAccounts.set(account.workerId, account);
        for (const [workerId, reportId] of costs.reportIds) {
          const ids = reportIds.get(workerId) ?? [];
          if (ids.length === 0) reportIds.set(workerId, ids);
          ids.push(reportId);
          if (ids.length > RECENT_REPORTS) ids.splice(0, ids.length - RECENT_REPORTS);
        }
      }
    },
    close() {},
  };
}
