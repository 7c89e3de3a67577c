// observability/: what operators read of a running server: Prometheus metrics, structured logs.
// Imports src/core; runtime/ and transport/ for types only (test/architecture/walls.test.ts).
import { Histogram, Registry } from 'prom-client';
import type { Coordinator } from '../../core/coordinator.js';
import type { Store } from '../../core/store.js';
import type { NodeHandler } from '../transport/one-port.js';
import { coordinatorMetrics } from './coordinator-metrics.js';
import { instrumentHandler } from './http-metrics.js';
import { processRegistry } from './process-metrics.js';
import { timedStore } from './store-metrics.js';

export interface ServerMetrics {
  /** The store with its commits timed: what the group commit should write through. */
  timeStore(store: Store): Store;
  /** Listens to the coordinator's events and reads its counters at scrape time. */
  watch(coordinator: Coordinator): void;
  /** The server's handler, counted and timed, with `GET /metrics` answered in front of it. */
  instrument(handler: NodeHandler, rpcPaths: ReadonlySet<string>): NodeHandler;
  /** The Prometheus text exposition of this server's metrics and the process's. */
  scrape(): Promise<string>;
  close(): void;
}

export interface ServerMetricsOptions {
  readonly onScrapeError: (error: unknown) => void;
}

/**
 * One server's metrics registry (two servers in one process, as in tests, never mix their
 * numbers), exposed together with the process-wide Node.js metrics.
 */
export function createServerMetrics(options: ServerMetricsOptions): ServerMetrics {
  const registry = new Registry();
  const commits = new Histogram({
    name: 'baton_store_commit_seconds',
    help: 'How long one group commit (one transaction: all of one event-loop turn) takes in the store.',
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
    registers: [registry],
  });
  const unsubscribe: (() => void)[] = [];
  const scrape = async (): Promise<string> => {
    const own = await registry.metrics();
    return `${own}\n${await processRegistry().metrics()}`;
  };
  return {
    timeStore: (store) => timedStore(store, commits),
    watch(coordinator) {
      unsubscribe.push(coordinatorMetrics(registry, coordinator));
    },
    instrument: (handler, rpcPaths) =>
      instrumentHandler(handler, {
        registry,
        rpcPaths,
        scrape: async () => ({ contentType: registry.contentType, body: await scrape() }),
        onScrapeError: options.onScrapeError,
      }),
    scrape,
    close() {
      for (const off of unsubscribe.splice(0)) off();
    },
  };
}
