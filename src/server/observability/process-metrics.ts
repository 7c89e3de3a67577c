// observability/: what operators read of a running server: Prometheus metrics, structured logs.
// Imports src/core; runtime/ and transport/ for types only (test/architecture/walls.test.ts).
import { collectDefaultMetrics, Registry } from 'prom-client';

let shared: Registry | undefined;

/**
 * The process's own metrics (CPU, memory, event-loop lag, GC, handles), in one registry for the
 * whole process: they describe the process, not one server, and prom-client's collectors install
 * an event-loop monitor and a GC observer that are never removed, so one set per process, however
 * many servers a test suite starts.
 */
export function processRegistry(): Registry {
  if (shared === undefined) {
    shared = new Registry();
    collectDefaultMetrics({ register: shared });
  }
  return shared;
}
