// observability/: what operators read of a running server: Prometheus metrics, structured logs.
// Imports src/core; runtime/ and transport/ for types only (test/architecture/walls.test.ts).
import { Counter, type Registry } from 'prom-client';

/** Counts by one label's value: a Map increment on the hot path, read into prom-client on scrape. */
export interface Tally {
  /** `value` is the label's value; a tally without a label takes none. */
  add(value?: string, by?: number): void;
}

/**
 * A Prometheus counter kept as plain numbers. prom-client hashes the label set on every `inc`;
 * the coordinator counts several times per task, so it counts here and the counter is filled from
 * these numbers only when scraped.
 */
export function createTally(registry: Registry, name: string, help: string, label?: string): Tally {
  const counts = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames: label === undefined ? [] : [label],
    registers: [registry],
    collect() {
      this.reset();
      for (const [value, n] of counts) this.inc(label === undefined ? {} : { [label]: value }, n);
    },
  });
  return {
    add(value = '', by = 1) {
      counts.set(value, (counts.get(value) ?? 0) + by);
    },
  };
}

/** A counter whose value is read from the core at scrape time (the core already counts it). */
export function readCounter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}
