import type { Now } from './clock.js';
import { createIndexedHeap } from './indexed-heap.js';

/**
 * Worker leases. A worker's lease covers every task it holds: any message from the worker
 * (hello, request, heartbeat, report) renews it, and when it lapses all of the worker's tasks go
 * back to the queue. One lease per worker rather than per task keeps a heartbeat O(log w)
 * instead of O(tasks held).
 */
export interface LeaseTable {
  /** Renews (or grants) `workerId`'s lease until now + ttl. Returns the new deadline. */
  touch(workerId: string): number;
  /** The deadline of the worker's lease, or undefined when it holds none. */
  expiresAt(workerId: string): number | undefined;
  /** Sets a deadline directly: for restoring leases from a store. */
  restore(workerId: string, expiresAt: number): void;
  release(workerId: string): void;
  /** Removes and returns the workers whose leases lapsed by now, earliest first. */
  takeExpired(): string[];
  /** The earliest deadline, to schedule the next sweep. */
  nextExpiry(): number | undefined;
  entries(): IterableIterator<[string, number]>;
  readonly ttlMs: number;
}

export interface LeaseTableOptions {
  readonly ttlMs: number;
  readonly now: Now;
}

interface Lease {
  readonly workerId: string;
  expiresAt: number;
  heapIndex: number;
}

export function createLeaseTable(options: LeaseTableOptions): LeaseTable {
  const { ttlMs, now } = options;
  if (!(ttlMs > 0) || !Number.isFinite(ttlMs)) throw new RangeError('lease ttlMs must be a positive number');
  const leases = new Map<string, Lease>();
  const byExpiry = createIndexedHeap<Lease>({
    before: (a, b) => a.expiresAt < b.expiresAt || (a.expiresAt === b.expiresAt && a.workerId < b.workerId),
    getIndex: (l) => l.heapIndex,
    setIndex: (l, i) => {
      l.heapIndex = i;
    },
  });

  const restore = (workerId: string, expiresAt: number): void => {
    // A NaN deadline would break the heap's order for every other lease.
    if (!Number.isFinite(expiresAt)) throw new RangeError('lease expiresAt must be a finite number');
    const lease = leases.get(workerId);
    if (lease === undefined) {
      const created: Lease = { workerId, expiresAt, heapIndex: -1 };
      leases.set(workerId, created);
      byExpiry.push(created);
    } else if (lease.expiresAt !== expiresAt) {
      // Renewals within the same millisecond leave the deadline, and so the heap, as it was.
      lease.expiresAt = expiresAt;
      byExpiry.update(lease);
    }
  };

  return {
    ttlMs,
    touch(workerId) {
      const expiresAt = now() + ttlMs;
      restore(workerId, expiresAt);
      return expiresAt;
    },
    expiresAt: (workerId) => leases.get(workerId)?.expiresAt,
    restore,
    release(workerId) {
      const lease = leases.get(workerId);
      if (lease === undefined) return;
      leases.delete(workerId);
      byExpiry.remove(lease);
    },
    takeExpired() {
      const at = now();
      const expired: string[] = [];
      for (let top = byExpiry.peek(); top !== undefined && top.expiresAt <= at; top = byExpiry.peek()) {
        byExpiry.pop();
        leases.delete(top.workerId);
        expired.push(top.workerId);
      }
      return expired;
    },
    nextExpiry: () => byExpiry.peek()?.expiresAt,
    *entries() {
      for (const [id, lease] of leases) yield [id, lease.expiresAt];
    },
  };
}
