import type { Cancel, Now, Scheduler } from './clock.js';
import { BatonError, invalidArgument, notFound } from './errors.js';
import { createIndexedHeap } from './indexed-heap.js';

/**
 * Bucket levels are kept in sixty-thousandths of a request or token: refill at N per minute is
 * then exactly N units per millisecond, so with integer clocks all bucket arithmetic is integer
 * and waits are exact instead of drifting with floating-point error.
 */
const SCALE = 60_000;
const MAX_PER_MINUTE = Math.floor(Number.MAX_SAFE_INTEGER / SCALE);
const DEFAULT_RESERVATION_TTL_MS = 120_000;

export interface RateLimiterOptions {
  /** Capacity and refill rate of the shared request bucket: a positive integer. */
  readonly maxRequestsPerMinute: number;
  /** Capacity and refill rate of the shared LLM-token bucket: a positive integer. */
  readonly maxTokensPerMinute: number;
  readonly now: Now;
  /**
   * With a scheduler, queued requests are decided on their own: a timer fires when the head can
   * be granted or a deadline passes. Without one, whoever owns the limiter calls
   * `processWaiters()` at `nextWakeAt()` (the server's rate pump does).
   */
  readonly scheduler?: Scheduler | undefined;
  /** How long a grant may stay unsettled before it counts as fully used. Default 120 000. */
  readonly reservationTtlMs?: number | undefined;
  /**
   * Prefix of reservation ids (`<prefix><counter>`, default `r-`; must not end with a digit). The
   * counter is in the snapshot; a server that starts without restoring one should pass a per-boot
   * prefix so that a late `settle` from a previous run can never hit a new reservation.
   */
  readonly idPrefix?: string | undefined;
  /** State to start from, as returned by `snapshot()`. */
  readonly initial?: RateLimiterSnapshot | undefined;
}

/** Whole requests and tokens; negative while a bucket is in debt after an overrun was charged. */
export interface RateAmounts {
  readonly requests: number;
  readonly tokens: number;
}

export interface Reservation {
  readonly id: string;
  readonly workerId: string;
  readonly tokens: number;
  /** After this instant the reservation can no longer be settled and counts as fully used. */
  readonly expiresAt: number;
  /** The worker's own id for the request, when it gave one: a repeat gets this reservation back. */
  readonly requestId?: string;
}

export interface RateGrant {
  readonly granted: true;
  readonly reservation: Reservation;
  readonly remaining: RateAmounts;
}

export interface RateDenial {
  readonly granted: false;
  /**
   * Whole milliseconds (rounded up) until both buckets could grant this request. Exact when no
   * one is queued; with a queue it assumes everyone ahead is served as soon as the buckets allow
   * (a lower bound: timeouts, cancels and refunds can only shorten it, one bucket capping while
   * the other refills can lengthen it).
   */
  readonly waitMs: number;
  readonly remaining: RateAmounts;
}

export type RateDecision = RateGrant | RateDenial;

export interface RateQueued {
  readonly granted: false;
  /** For `cancel` and `position`. */
  readonly waiterId: string;
  /** 1-based: 1 means next to be served. */
  readonly position: number;
  /** Estimated as for `RateDenial.waitMs`, counting this waiter and everyone ahead. */
  readonly waitMs: number;
  readonly remaining: RateAmounts;
}

export interface WaiterRejection {
  readonly granted: false;
  readonly reason: 'timeout' | 'reset';
  /** `resource-exhausted` on timeout, `aborted` on reset. */
  readonly error: BatonError;
}

export type WaiterOutcome = RateGrant | WaiterRejection;

export interface SettleOutcome {
  readonly reservationId: string;
  readonly workerId: string;
  readonly reservedTokens: number;
  readonly actualTokens: number;
  /** Put back into the bucket (capped at capacity). */
  readonly refundedTokens: number;
  /** Taken from the bucket beyond the reservation (may leave it in debt). */
  readonly chargedTokens: number;
}

export interface WorkerRateUsage {
  /** Requests granted. */
  readonly requests: number;
  /** Tokens granted, net of settles. */
  readonly tokens: number;
  /** `tryAcquire` denials and queue timeouts. */
  readonly denials: number;
}

export interface RateLimiterStatus {
  readonly capacity: RateAmounts;
  readonly available: RateAmounts;
  readonly workers: readonly (WorkerRateUsage & { readonly workerId: string })[];
  readonly queueLength: number;
  /** Granted, not yet settled, not yet expired. */
  readonly outstandingReservations: number;
}

/** Plain JSON: everything but the waiters, which are live connections. */
export interface RateLimiterSnapshot {
  readonly version: 1;
  /** Bucket levels in sixty-thousandths of a request / token (see `SCALE`). */
  readonly requestLevel: number;
  readonly tokenLevel: number;
  readonly refilledAt: number;
  readonly nextId: number;
  /** In grant order (which is expiry order). `settledTokens` is null until settled. */
  readonly reservations: readonly (Reservation & { readonly settledTokens: number | null })[];
  readonly usage: readonly (WorkerRateUsage & { readonly workerId: string })[];
}

/**
 * The fleet's shared rate budget: two continuously refilled token buckets (requests and LLM
 * tokens per minute). Synchronous and timer-free: queued waiters advance on `processWaiters()`
 * (the server calls it when `nextWakeAt()` comes due) and on every other call that finds them
 * servable (`tryAcquire`, `enqueue`, `settle` with a refund).
 */
export interface RateLimiter {
  /**
   * Grants now or denies with the wait. Never jumps the queue: while anyone is queued, it denies.
   * Throws `invalid-argument` for an empty `workerId`, a `tokens` that is not a non-negative
   * integer, or one above `maxTokensPerMinute` (it could never be granted).
   *
   * `requestId` (the worker's own id for the request) makes a repeat idempotent: while the
   * reservation granted to that worker's request is live, asking again returns it, charging
   * nothing. A worker that lost the answer to a dropped connection or a server restart resends
   * its request and gets its grant back instead of a second one.
   */
  tryAcquire(workerId: string, tokens: number, requestId?: string): RateDecision;
  /**
   * Grants now if the queue is empty and the buckets allow, else queues FIFO until `deadline`
   * (an instant of `now()`, exclusive; `Infinity` for none). `onDecision` is called exactly once,
   * later, for a queued request — unless it is cancelled — and never for an immediate grant.
   * `requestId` as for `tryAcquire`, also for a grant made from the queue.
   */
  enqueue(
    workerId: string,
    tokens: number,
    deadline: number,
    onDecision: (outcome: WaiterOutcome) => void,
    requestId?: string,
  ): RateGrant | RateQueued;
  /**
   * `enqueue` as a promise: rejects with `resource-exhausted` once `timeoutMs` has passed (at once
   * with a scheduler, else when the queue is next processed), `aborted` on `reset`, and
   * `invalid-argument` for bad input.
   */
  acquire(workerId: string, tokens: number, timeoutMs: number): Promise<RateGrant>;
  /** Removes a queued request without calling its `onDecision`. False if it was not queued. */
  cancel(waiterId: string): boolean;
  /** 1-based queue position, or null when not queued. O(position). */
  position(waiterId: string): number | null;
  /** Times out overdue waiters, then grants from the head while the buckets allow. Returns how many were decided. */
  processWaiters(): number;
  /** When the head could be granted or the earliest deadline passes; null when no one waits. */
  nextWakeAt(): number | null;
  /**
   * Reports what a grant really used: refunds or charges the difference. Idempotent (a repeat
   * returns the first outcome, whatever its `actualTokens`). `not-found` once unknown or expired.
   */
  settle(reservationId: string, actualTokens: number): SettleOutcome;
  usage(workerId: string): WorkerRateUsage;
  status(): RateLimiterStatus;
  /** Full buckets, no usage, no reservations; queued requests are rejected with `aborted`. */
  reset(): void;
  snapshot(): RateLimiterSnapshot;
  /**
   * Replaces all state but the queue, at startup: the id counter is taken from the snapshot, so
   * ids issued before a restore may be issued again. Bucket levels are capped at the current
   * capacities.
   */
  restore(snapshot: RateLimiterSnapshot): void;
}

interface Waiter {
  readonly id: string;
  readonly seq: number;
  readonly workerId: string;
  readonly requestId: string | undefined;
  readonly tokens: number;
  readonly deadline: number;
  readonly onDecision: (outcome: WaiterOutcome) => void;
  prev: Waiter | null;
  next: Waiter | null;
  heapIndex: number;
}

interface MutableUsage {
  requests: number;
  tokens: number;
  denials: number;
}

const positiveRate = (value: number, field: string): number => {
  if (!Number.isSafeInteger(value) || value <= 0 || value > MAX_PER_MINUTE) {
    throw invalidArgument(`${field} must be an integer between 1 and ${MAX_PER_MINUTE}, got ${value}`, {
      field,
    });
  }
  return value;
};

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const maxRequests = positiveRate(options.maxRequestsPerMinute, 'maxRequestsPerMinute');
  const maxTokens = positiveRate(options.maxTokensPerMinute, 'maxTokensPerMinute');
  const ttl = options.reservationTtlMs ?? DEFAULT_RESERVATION_TTL_MS;
  if (!Number.isFinite(ttl) || ttl <= 0) {
    throw invalidArgument(`reservationTtlMs must be a positive number, got ${ttl}`, {
      field: 'reservationTtlMs',
    });
  }
  const { now } = options;
  const idPrefix = options.idPrefix ?? 'r-';
  if (typeof idPrefix !== 'string' || /\d$/.test(idPrefix)) {
    throw invalidArgument('idPrefix must be a string not ending with a digit', { field: 'idPrefix' });
  }
  const requestCap = maxRequests * SCALE;
  const tokenCap = maxTokens * SCALE;

  let requestLevel = requestCap;
  let tokenLevel = tokenCap;
  let refilledAt = now();
  let nextId = 0;
  const usageByWorker = new Map<string, MutableUsage>();
  /**
   * Live reservations in grant order, which is expiry order (the TTL is constant), so expired ones
   * are dropped from the front. Ids are consecutive, so an id's counter is its index: no Map, no
   * hashing on the hot path. `outcomes` runs parallel, set once settled.
   */
  let live: Reservation[] = [];
  let outcomes: (SettleOutcome | undefined)[] = [];
  let liveHead = 0;
  let settledCount = 0;
  /** `workerId \n requestId` → reservation id, for live reservations granted to a request id. */
  const byRequest = new Map<string, string>();
  const requestKey = (workerId: string, requestId: string): string => `${workerId}\n${requestId}`;

  const waiters = new Map<string, Waiter>();
  let head: Waiter | null = null;
  let tail: Waiter | null = null;
  let queuedTokens = 0;
  let waiterSeq = 0;
  let draining = false;
  const deadlines = createIndexedHeap<Waiter>({
    before: (a, b) => a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq),
    getIndex: (w) => w.heapIndex,
    setIndex: (w, index) => {
      w.heapIndex = index;
    },
  });

  const refill = (t: number): void => {
    const elapsed = t - refilledAt;
    if (!(elapsed > 0)) return; // a clock that steps back refills nothing and moves nothing
    refilledAt = t;
    requestLevel = Math.min(requestCap, requestLevel + elapsed * maxRequests);
    tokenLevel = Math.min(tokenCap, tokenLevel + elapsed * maxTokens);
  };

  const dropExpired = (t: number): void => {
    while (liveHead < live.length && (live[liveHead] as Reservation).expiresAt <= t) {
      const expired = live[liveHead] as Reservation;
      if (expired.requestId !== undefined) byRequest.delete(requestKey(expired.workerId, expired.requestId));
      if (outcomes[liveHead] !== undefined) settledCount--;
      liveHead++;
    }
    if (liveHead > 1024 && liveHead * 2 > live.length) {
      live = live.slice(liveHead);
      outcomes = outcomes.slice(liveHead);
      liveHead = 0;
    }
  };

  /** Index in `live` of the reservation with this id, or -1. */
  const indexOf = (reservationId: string): number => {
    const index = live.length - nextId + counterOf(reservationId);
    return index >= liveHead && index < live.length && (live[index] as Reservation).id === reservationId
      ? index
      : -1;
  };

  const clearReservations = (): void => {
    live = [];
    outcomes = [];
    liveHead = 0;
    settledCount = 0;
    byRequest.clear();
  };

  const addReservation = (reservation: Reservation, outcome: SettleOutcome | undefined): void => {
    live.push(reservation);
    outcomes.push(outcome);
    if (outcome !== undefined) settledCount++;
    if (reservation.requestId !== undefined) {
      byRequest.set(requestKey(reservation.workerId, reservation.requestId), reservation.id);
    }
  };

  /** The live reservation already granted to this request, if it is a repeat. */
  const repeatOf = (workerId: string, requestId: string | undefined): Reservation | undefined => {
    if (requestId === undefined || requestId === '') return undefined;
    const id = byRequest.get(requestKey(workerId, requestId));
    return id === undefined ? undefined : live[indexOf(id)];
  };

  const remaining = (): RateAmounts => ({
    requests: Math.floor(requestLevel / SCALE),
    tokens: Math.floor(tokenLevel / SCALE),
  });

  /** Milliseconds until the buckets hold `requests` and `tokens`, if nothing else is taken meanwhile. */
  const waitFor = (requests: number, tokens: number): number =>
    Math.max(
      0,
      Math.ceil((requests * SCALE - requestLevel) / maxRequests),
      Math.ceil((tokens * SCALE - tokenLevel) / maxTokens),
    );

  const fits = (tokens: number): boolean => requestLevel >= SCALE && tokenLevel >= tokens * SCALE;

  const usageOf = (workerId: string): MutableUsage => {
    let u = usageByWorker.get(workerId);
    if (u === undefined) {
      u = { requests: 0, tokens: 0, denials: 0 };
      usageByWorker.set(workerId, u);
    }
    return u;
  };

  const grant = (workerId: string, tokens: number, t: number, requestId: string | undefined): RateGrant => {
    requestLevel -= SCALE;
    tokenLevel -= tokens * SCALE;
    const reservation: Reservation = {
      id: idPrefix + nextId++,
      workerId,
      tokens,
      expiresAt: t + ttl,
      ...(requestId === undefined || requestId === '' ? {} : { requestId }),
    };
    addReservation(reservation, undefined);
    const u = usageOf(workerId);
    u.requests++;
    u.tokens += tokens;
    return { granted: true, reservation, remaining: remaining() };
  };

  const checkRequest = (workerId: string, tokens: number): void => {
    if (typeof workerId !== 'string' || workerId.length === 0) {
      throw invalidArgument('workerId must be a non-empty string', { field: 'workerId' });
    }
    if (!Number.isSafeInteger(tokens) || tokens < 0) {
      throw invalidArgument(`tokens must be a non-negative integer, got ${tokens}`, { field: 'tokens' });
    }
    if (tokens > maxTokens) {
      throw invalidArgument(
        `a request for ${tokens} tokens exceeds the bucket capacity of ${maxTokens} tokens and could never be granted`,
        { field: 'tokens', data: { tokens, capacity: maxTokens } },
      );
    }
  };

  const unlink = (w: Waiter): void => {
    if (w.prev === null) head = w.next;
    else w.prev.next = w.next;
    if (w.next === null) tail = w.prev;
    else w.next.prev = w.prev;
    w.prev = null;
    w.next = null;
    waiters.delete(w.id);
    deadlines.remove(w);
    queuedTokens -= w.tokens;
  };

  const drain = (t: number): number => {
    if (draining || head === null) return 0;
    draining = true;
    let decided = 0;
    try {
      for (let w = deadlines.peek(); w !== undefined && w.deadline <= t; w = deadlines.peek()) {
        unlink(w);
        usageOf(w.workerId).denials++;
        decided++;
        const error = new BatonError(
          'resource-exhausted',
          `no rate budget for ${w.tokens} tokens became available before the deadline`,
          { data: { workerId: w.workerId, tokens: w.tokens, deadline: w.deadline } },
        );
        w.onDecision({ granted: false, reason: 'timeout', error });
      }
      while (head !== null && fits(head.tokens)) {
        const w: Waiter = head;
        unlink(w);
        decided++;
        w.onDecision(grant(w.workerId, w.tokens, t, w.requestId));
      }
    } finally {
      draining = false;
    }
    return decided;
  };

  const nextWakeAt = (): number | null => {
    if (head === null) return null;
    const t = now();
    refill(t);
    const ready = t + waitFor(1, head.tokens);
    const overdue = deadlines.peek();
    return overdue === undefined ? ready : Math.min(ready, overdue.deadline);
  };

  const { scheduler } = options;
  let wake: Cancel | undefined;
  let wakeAt: number | null = null;
  /** Keeps the scheduler's one timer at the next wake-up; called after anything that moves it. */
  const arm = (): void => {
    if (scheduler === undefined || (head === null && wake === undefined)) return;
    const next = nextWakeAt();
    if (next === wakeAt) return;
    wake?.();
    wake = undefined;
    wakeAt = next;
    if (next === null) return;
    wake = scheduler.setTimeout(
      () => {
        wake = undefined;
        wakeAt = null;
        processWaiters();
        arm();
      },
      Math.max(0, next - now()),
    );
  };

  const processWaiters = (): number => {
    const t = now();
    refill(t);
    dropExpired(t);
    return drain(t);
  };

  /** Brings the buckets and reservations up to `t` and serves whoever can now be served. */
  const advance = (t: number): void => {
    refill(t);
    dropExpired(t);
    if (head !== null) drain(t);
  };

  /**
   * Where tryAcquire and enqueue start: the limiter brought up to now, then the reservation of a
   * repeated request, or a grant when nobody is queued and the buckets hold enough; undefined
   * when the request would have to wait.
   */
  const grantAtOnce = (
    workerId: string,
    tokens: number,
    requestId: string | undefined,
  ): RateGrant | undefined => {
    const t = now();
    advance(t);
    arm();
    const repeat = repeatOf(workerId, requestId);
    if (repeat !== undefined) return { granted: true, reservation: repeat, remaining: remaining() };
    if (head === null && fits(tokens)) return grant(workerId, tokens, t, requestId);
    return undefined;
  };

  const enqueue: RateLimiter['enqueue'] = (workerId, tokens, deadline, onDecision, requestId) => {
    checkRequest(workerId, tokens);
    if (typeof deadline !== 'number' || Number.isNaN(deadline)) {
      throw invalidArgument(`deadline must be a number, got ${deadline}`, { field: 'deadline' });
    }
    const granted = grantAtOnce(workerId, tokens, requestId);
    if (granted !== undefined) return granted;
    const w: Waiter = {
      id: `q-${waiterSeq}`,
      seq: waiterSeq++,
      workerId,
      requestId,
      tokens,
      deadline,
      onDecision,
      prev: tail,
      next: null,
      heapIndex: -1,
    };
    if (tail === null) head = w;
    else tail.next = w;
    tail = w;
    waiters.set(w.id, w);
    if (deadline !== Number.POSITIVE_INFINITY) deadlines.push(w);
    queuedTokens += tokens;
    arm();
    return {
      granted: false,
      waiterId: w.id,
      position: waiters.size,
      waitMs: waitFor(waiters.size, queuedTokens),
      remaining: remaining(),
    };
  };

  const restore = (snapshot: RateLimiterSnapshot): void => {
    if (snapshot?.version !== 1) {
      throw invalidArgument('unsupported rate limiter snapshot version', { field: 'snapshot' });
    }
    requestLevel = Math.min(requestCap, snapshot.requestLevel);
    tokenLevel = Math.min(tokenCap, snapshot.tokenLevel);
    refilledAt = snapshot.refilledAt;
    nextId = snapshot.nextId;
    clearReservations();
    const firstCounter = nextId - snapshot.reservations.length;
    for (const [i, r] of snapshot.reservations.entries()) {
      if (counterOf(r.id) !== firstCounter + i) {
        throw invalidArgument(`snapshot reservation ${r.id} breaks the consecutive id sequence`, {
          field: 'snapshot',
        });
      }
      const reservation: Reservation = {
        id: r.id,
        workerId: r.workerId,
        tokens: r.tokens,
        expiresAt: r.expiresAt,
        ...(r.requestId === undefined ? {} : { requestId: r.requestId }),
      };
      addReservation(
        reservation,
        r.settledTokens === null ? undefined : outcomeOf(reservation, r.settledTokens),
      );
    }
    usageByWorker.clear();
    for (const { workerId, requests, tokens, denials } of snapshot.usage) {
      usageByWorker.set(workerId, { requests, tokens, denials });
    }
    arm();
  };

  if (options.initial !== undefined) restore(options.initial);

  return {
    tryAcquire(workerId, tokens, requestId) {
      checkRequest(workerId, tokens);
      const granted = grantAtOnce(workerId, tokens, requestId);
      if (granted !== undefined) return granted;
      usageOf(workerId).denials++;
      return {
        granted: false,
        waitMs: waitFor(waiters.size + 1, queuedTokens + tokens),
        remaining: remaining(),
      };
    },

    enqueue,

    acquire(workerId, tokens, timeoutMs) {
      if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0)) {
        return Promise.reject(
          invalidArgument(`timeoutMs must be a non-negative number, got ${timeoutMs}`, {
            field: 'timeoutMs',
          }),
        );
      }
      return new Promise<RateGrant>((resolve, reject) => {
        const result = enqueue(workerId, tokens, now() + timeoutMs, (outcome) => {
          if (outcome.granted) resolve(outcome);
          else reject(outcome.error);
        });
        if (result.granted) resolve(result);
      });
    },

    cancel(waiterId) {
      const w = waiters.get(waiterId);
      if (w === undefined) return false;
      unlink(w);
      arm();
      return true;
    },

    position(waiterId) {
      if (!waiters.has(waiterId)) return null;
      let position = 1;
      for (let w = head; w !== null && w.id !== waiterId; w = w.next) position++;
      return position;
    },

    processWaiters() {
      const decided = processWaiters();
      arm();
      return decided;
    },

    nextWakeAt,

    settle(reservationId, actualTokens) {
      if (!Number.isSafeInteger(actualTokens) || actualTokens < 0) {
        throw invalidArgument(`actualTokens must be a non-negative integer, got ${actualTokens}`, {
          field: 'actualTokens',
        });
      }
      const t = now();
      refill(t);
      dropExpired(t);
      const index = typeof reservationId === 'string' ? indexOf(reservationId) : -1;
      const reservation = live[index];
      if (reservation === undefined || reservation.expiresAt <= t) {
        throw notFound(
          `reservation ${reservationId} is unknown or has expired (expired ones count as used)`,
          {
            field: 'reservationId',
            data: { reservationId },
          },
        );
      }
      const previous = outcomes[index];
      if (previous !== undefined) return previous;
      const outcome = outcomeOf(reservation, actualTokens);
      outcomes[index] = outcome;
      settledCount++;
      usageOf(reservation.workerId).tokens += actualTokens - reservation.tokens;
      tokenLevel = Math.min(tokenCap, tokenLevel + (outcome.refundedTokens - outcome.chargedTokens) * SCALE);
      if (outcome.refundedTokens > 0) drain(t);
      arm();
      return outcome;
    },

    usage(workerId) {
      const u = usageByWorker.get(workerId);
      return u === undefined ? { requests: 0, tokens: 0, denials: 0 } : { ...u };
    },

    status() {
      const t = now();
      refill(t);
      dropExpired(t);
      return {
        capacity: { requests: maxRequests, tokens: maxTokens },
        available: remaining(),
        workers: Array.from(usageByWorker, ([workerId, u]) => ({ workerId, ...u })),
        queueLength: waiters.size,
        outstandingReservations: live.length - liveHead - settledCount,
      };
    },

    reset() {
      requestLevel = requestCap;
      tokenLevel = tokenCap;
      refilledAt = now();
      usageByWorker.clear();
      clearReservations();
      const rejected = Array.from(waiters.values());
      for (const w of rejected) unlink(w);
      for (const w of rejected) {
        const error = new BatonError('aborted', 'the rate limiter was reset while the request was queued', {
          data: { workerId: w.workerId, tokens: w.tokens },
        });
        w.onDecision({ granted: false, reason: 'reset', error });
      }
      arm();
    },

    snapshot() {
      const t = now();
      refill(t);
      dropExpired(t);
      return {
        version: 1,
        requestLevel,
        tokenLevel,
        refilledAt,
        nextId,
        reservations: live
          .slice(liveHead)
          .map((r, i) => ({ ...r, settledTokens: outcomes[liveHead + i]?.actualTokens ?? null })),
        usage: Array.from(usageByWorker, ([workerId, u]) => ({ workerId, ...u })),
      };
    },

    restore,
  };
}

/** The decimal counter ending a reservation id, or -1. */
function counterOf(reservationId: string): number {
  let counter = 0;
  let scale = 1;
  let i = reservationId.length - 1;
  for (; i >= 0; i--) {
    const digit = reservationId.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) break;
    counter += digit * scale;
    scale *= 10;
  }
  return i === reservationId.length - 1 || scale > Number.MAX_SAFE_INTEGER ? -1 : counter;
}

function outcomeOf(reservation: Reservation, actualTokens: number): SettleOutcome {
  return {
    reservationId: reservation.id,
    workerId: reservation.workerId,
    reservedTokens: reservation.tokens,
    actualTokens,
    refundedTokens: Math.max(0, reservation.tokens - actualTokens),
    chargedTokens: Math.max(0, actualTokens - reservation.tokens),
  };
}
