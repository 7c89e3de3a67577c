import { expect } from 'chai';
import fc from 'fast-check';
import { createManualClock, type ManualClock } from '../../src/core/clock.js';
import { BatonError, type BatonErrorCode } from '../../src/core/errors.js';
import {
  createRateLimiter,
  type RateLimiter,
  type RateLimiterOptions,
  type Reservation,
  type WaiterOutcome,
} from '../../src/core/rate-limiter.js';
import { expectFieldError } from './expect-baton-error.js';

const rejected = async (promise: Promise<unknown>, code: BatonErrorCode): Promise<BatonError> => {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(BatonError);
    expect((error as BatonError).code).to.equal(code);
    return error as BatonError;
  }
  expect.fail(`expected a rejection with ${code}`);
};

/** 60 requests and 6000 tokens per minute: one request and 100 tokens refill every second. */
const setup = (overrides: Partial<RateLimiterOptions> = {}): { clock: ManualClock; limiter: RateLimiter } => {
  const clock = createManualClock(1_000_000);
  const limiter = createRateLimiter({
    maxRequestsPerMinute: 60,
    maxTokensPerMinute: 6000,
    now: clock.now,
    ...overrides,
  });
  return { clock, limiter };
};

const collect = (): { outcomes: WaiterOutcome[]; onDecision: (o: WaiterOutcome) => void } => {
  const outcomes: WaiterOutcome[] = [];
  return { outcomes, onDecision: (o) => outcomes.push(o) };
};

const drainTokens = (limiter: RateLimiter, workerId = 'drain'): void => {
  expect(limiter.tryAcquire(workerId, 6000).granted).to.equal(true);
};

describe('RateLimiter', () => {
  describe('options', () => {
    it('requires positive integer per-minute rates, naming the field', () => {
      const now = () => 0;
      expectFieldError(
        () => createRateLimiter({ maxRequestsPerMinute: 0, maxTokensPerMinute: 1, now }),
        'invalid-argument',
        'maxRequestsPerMinute',
      );
      expectFieldError(
        () => createRateLimiter({ maxRequestsPerMinute: 1.5, maxTokensPerMinute: 1, now }),
        'invalid-argument',
        'maxRequestsPerMinute',
      );
      expectFieldError(
        () => createRateLimiter({ maxRequestsPerMinute: 1, maxTokensPerMinute: Number.NaN, now }),
        'invalid-argument',
        'maxTokensPerMinute',
      );
      expectFieldError(
        () => createRateLimiter({ maxRequestsPerMinute: 1, maxTokensPerMinute: 1e300, now }),
        'invalid-argument',
        'maxTokensPerMinute',
      );
    });

    it('requires a positive reservation TTL and an id prefix that does not end with a digit', () => {
      const base = { maxRequestsPerMinute: 1, maxTokensPerMinute: 1, now: () => 0 };
      expectFieldError(
        () => createRateLimiter({ ...base, reservationTtlMs: 0 }),
        'invalid-argument',
        'reservationTtlMs',
      );
      expectFieldError(
        () => createRateLimiter({ ...base, idPrefix: 'boot7' }),
        'invalid-argument',
        'idPrefix',
      );
    });
  });

  describe('tryAcquire', () => {
    it('grants one request and the tokens from full buckets, as a reservation', () => {
      const { clock, limiter } = setup();
      const decision = limiter.tryAcquire('w1', 500);
      expect(decision).to.deep.equal({
        granted: true,
        reservation: { id: 'r-0', workerId: 'w1', tokens: 500, expiresAt: clock.now() + 120_000 },
        remaining: { requests: 59, tokens: 5500 },
      });
    });

    it('grants a request-only call for 0 tokens', () => {
      const { limiter } = setup();
      drainTokens(limiter);
      const decision = limiter.tryAcquire('w1', 0);
      expect(decision.granted).to.equal(true);
      expect(decision.remaining).to.deep.equal({ requests: 58, tokens: 0 });
    });

    it('denies on an empty request bucket', () => {
      const { limiter } = setup({ maxRequestsPerMinute: 2 });
      expect(limiter.tryAcquire('w1', 1).granted).to.equal(true);
      expect(limiter.tryAcquire('w1', 1).granted).to.equal(true);
      const decision = limiter.tryAcquire('w1', 1);
      expect(decision).to.deep.equal({
        granted: false,
        waitMs: 30_000,
        remaining: { requests: 0, tokens: 5998 },
      });
    });

    it('denies when the token budget is short although requests remain', () => {
      const { limiter } = setup();
      expect(limiter.tryAcquire('w1', 5950).granted).to.equal(true);
      const decision = limiter.tryAcquire('w1', 100);
      expect(decision.granted).to.equal(false);
      expect(decision.remaining).to.deep.equal({ requests: 59, tokens: 50 });
    });

    it('denies with the exact wait until the bucket refills', () => {
      const { clock, limiter } = setup();
      drainTokens(limiter);
      const denial = limiter.tryAcquire('w1', 250);
      expect(denial).to.include({ granted: false, waitMs: 2500 });
      clock.advance(2499);
      expect(limiter.tryAcquire('w1', 250)).to.include({ granted: false, waitMs: 1 });
      clock.advance(1);
      expect(limiter.tryAcquire('w1', 250).granted).to.equal(true);
    });

    it('rounds a fractional wait up to the next whole millisecond', () => {
      // 7 requests per minute: one every 8571.43 ms.
      const { clock, limiter } = setup({ maxRequestsPerMinute: 7 });
      for (let i = 0; i < 7; i++) limiter.tryAcquire('w1', 0);
      expect(limiter.tryAcquire('w1', 0)).to.include({ granted: false, waitMs: 8572 });
      clock.advance(8571);
      expect(limiter.tryAcquire('w1', 0).granted).to.equal(false);
      clock.advance(1);
      expect(limiter.tryAcquire('w1', 0).granted).to.equal(true);
    });

    it('waits for the slower of the two buckets', () => {
      const { limiter } = setup({ maxRequestsPerMinute: 1 });
      expect(limiter.tryAcquire('w1', 6000).granted).to.equal(true);
      // Requests: 60 s for one; tokens: 10 s for 1000.
      expect(limiter.tryAcquire('w1', 1000)).to.include({ waitMs: 60_000 });
    });

    it('refuses a request larger than the bucket can ever hold, naming both numbers', () => {
      const { limiter } = setup();
      const error = expectFieldError(() => limiter.tryAcquire('w1', 6001), 'invalid-argument', 'tokens');
      expect(error.message).to.contain('6001').and.to.contain('6000');
      expect(error.data).to.deep.equal({ tokens: 6001, capacity: 6000 });
    });

    it('rejects an empty workerId or a tokens that is not a non-negative integer, leaving state unchanged', () => {
      const { limiter } = setup();
      limiter.tryAcquire('w1', 10);
      const before = limiter.snapshot();
      expectFieldError(() => limiter.tryAcquire('', 1), 'invalid-argument', 'workerId');
      for (const tokens of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '3' as unknown as number]) {
        expectFieldError(() => limiter.tryAcquire('w1', tokens), 'invalid-argument', 'tokens');
      }
      expect(limiter.snapshot()).to.deep.equal(before);
    });
  });

  describe('refill', () => {
    it('refills in proportion to elapsed time', () => {
      const { clock, limiter } = setup();
      drainTokens(limiter);
      clock.advance(1000);
      expect(limiter.status().available).to.deep.equal({ requests: 60, tokens: 100 });
    });

    it('refills partially: half a minute brings back half the capacity', () => {
      const { clock, limiter } = setup();
      for (let i = 0; i < 60; i++) limiter.tryAcquire('w1', 100);
      expect(limiter.status().available).to.deep.equal({ requests: 0, tokens: 0 });
      clock.advance(30_000);
      expect(limiter.status().available).to.deep.equal({ requests: 30, tokens: 3000 });
    });

    it('never refills beyond capacity', () => {
      const { clock, limiter } = setup();
      limiter.tryAcquire('w1', 100);
      clock.advance(3_600_000);
      expect(limiter.status().available).to.deep.equal({ requests: 60, tokens: 6000 });
    });

    it('refills nothing while the clock steps back', () => {
      let t = 10_000;
      const limiter = createRateLimiter({ maxRequestsPerMinute: 60, maxTokensPerMinute: 6000, now: () => t });
      drainTokens(limiter);
      t = 5000;
      expect(limiter.status().available.tokens).to.equal(0);
      t = 11_000;
      expect(limiter.status().available.tokens).to.equal(100);
    });
  });

  describe('per-worker usage', () => {
    it('tracks requests and tokens granted per worker', () => {
      const { limiter } = setup();
      limiter.tryAcquire('w1', 100);
      limiter.tryAcquire('w1', 200);
      limiter.tryAcquire('w2', 50);
      expect(limiter.usage('w1')).to.deep.equal({ requests: 2, tokens: 300, denials: 0 });
      expect(limiter.usage('w2')).to.deep.equal({ requests: 1, tokens: 50, denials: 0 });
      expect(limiter.usage('nobody')).to.deep.equal({ requests: 0, tokens: 0, denials: 0 });
    });

    it('counts denials per worker', () => {
      const { limiter } = setup();
      drainTokens(limiter);
      limiter.tryAcquire('w1', 1);
      limiter.tryAcquire('w1', 1);
      limiter.tryAcquire('w2', 1);
      expect(limiter.usage('w1').denials).to.equal(2);
      expect(limiter.usage('w2').denials).to.equal(1);
    });
  });

  describe('FIFO queue', () => {
    it('does not let tryAcquire jump the queue, and counts the queue ahead in its wait', () => {
      const { limiter } = setup();
      drainTokens(limiter);
      const { onDecision } = collect();
      limiter.enqueue('big', 3000, Number.POSITIVE_INFINITY, onDecision);
      // 3000 queued + 100 asked at 100 tokens/s.
      expect(limiter.tryAcquire('small', 100)).to.include({ granted: false, waitMs: 31_000 });
      expect(limiter.tryAcquire('small', 0)).to.include({ granted: false, waitMs: 30_000 });
    });

    it('does not starve a large waiting request with a stream of small ones', () => {
      const { clock, limiter } = setup({ maxRequestsPerMinute: 6000 });
      drainTokens(limiter);
      const { outcomes, onDecision } = collect();
      const queued = limiter.enqueue('big', 5000, Number.POSITIVE_INFINITY, onDecision);
      expect(queued).to.include({ granted: false, position: 1, waitMs: 50_000 });
      let smallGrants = 0;
      for (let ms = 0; ms < 50_000; ms += 10) {
        clock.advance(10);
        if (limiter.tryAcquire('small', 1).granted) smallGrants++;
      }
      expect(outcomes).to.have.length(1);
      expect(outcomes[0]?.granted).to.equal(true);
      expect(smallGrants).to.equal(0);
      clock.advance(10);
      expect(limiter.tryAcquire('small', 1).granted).to.equal(true);
    });

    it('grants queued requests in arrival order as processWaiters finds capacity', () => {
      const { clock, limiter } = setup();
      drainTokens(limiter);
      const order: string[] = [];
      for (const [id, tokens] of [
        ['a', 300],
        ['b', 100],
        ['c', 200],
      ] as const) {
        limiter.enqueue(
          id,
          tokens,
          Number.POSITIVE_INFINITY,
          (o) => o.granted && order.push(o.reservation.workerId),
        );
      }
      expect(limiter.nextWakeAt()).to.equal(clock.now() + 3000);
      clock.advance(3000);
      expect(limiter.processWaiters()).to.equal(1);
      expect(order).to.deep.equal(['a']);
      expect(limiter.nextWakeAt()).to.equal(clock.now() + 1000);
      clock.advance(3000);
      expect(limiter.processWaiters()).to.equal(2);
      expect(order).to.deep.equal(['a', 'b', 'c']);
      expect(limiter.nextWakeAt()).to.equal(null);
    });

    it('reports 1-based queue positions and cancels without calling back', () => {
      const { limiter } = setup();
      drainTokens(limiter);
      const { outcomes, onDecision } = collect();
      const a = limiter.enqueue('a', 100, Number.POSITIVE_INFINITY, onDecision);
      const b = limiter.enqueue('b', 100, Number.POSITIVE_INFINITY, onDecision);
      const c = limiter.enqueue('c', 100, Number.POSITIVE_INFINITY, onDecision);
      if (a.granted || b.granted || c.granted) expect.fail('expected all three queued');
      expect([a.position, b.position, c.position]).to.deep.equal([1, 2, 3]);
      expect(limiter.cancel(b.waiterId)).to.equal(true);
      expect(limiter.cancel(b.waiterId)).to.equal(false);
      expect(limiter.position(a.waiterId)).to.equal(1);
      expect(limiter.position(b.waiterId)).to.equal(null);
      expect(limiter.position(c.waiterId)).to.equal(2);
      expect(limiter.status().queueLength).to.equal(2);
      expect(outcomes).to.deep.equal([]);
    });

    it('serves the queue when a settle refunds tokens', () => {
      const { limiter } = setup();
      const first = limiter.tryAcquire('w1', 6000);
      if (!first.granted) expect.fail('expected a grant');
      const { outcomes, onDecision } = collect();
      limiter.enqueue('w2', 1000, Number.POSITIVE_INFINITY, onDecision);
      limiter.settle(first.reservation.id, 5000);
      expect(outcomes.map((o) => o.granted)).to.deep.equal([true]);
    });
  });

  describe('acquire', () => {
    it('resolves at once when the buckets allow', async () => {
      const { limiter } = setup();
      const grant = await limiter.acquire('w1', 100, 1000);
      expect(grant.reservation).to.include({ workerId: 'w1', tokens: 100 });
    });

    it('resolves once processWaiters runs after enough refill', async () => {
      const { clock, limiter } = setup();
      drainTokens(limiter);
      const pending = limiter.acquire('w1', 200, 10_000);
      expect(limiter.status().queueLength).to.equal(1);
      clock.advance(2000);
      limiter.processWaiters();
      const grant = await pending;
      expect(grant.remaining.tokens).to.equal(0);
    });

    it('rejects with resource-exhausted when the timeout passes first', async () => {
      const { clock, limiter } = setup();
      drainTokens(limiter);
      const pending = limiter.acquire('w1', 500, 1000);
      expect(limiter.nextWakeAt()).to.equal(clock.now() + 1000);
      clock.advance(999);
      expect(limiter.processWaiters()).to.equal(0);
      clock.advance(1);
      expect(limiter.processWaiters()).to.equal(1);
      await rejected(pending, 'resource-exhausted');
      expect(limiter.usage('w1').denials).to.equal(1);
      expect(limiter.status().queueLength).to.equal(0);
    });

    it('times out a waiter behind the head at its own deadline', async () => {
      const { clock, limiter } = setup();
      drainTokens(limiter);
      const head = limiter.acquire('w1', 5000, 60_000);
      const behind = limiter.acquire('w2', 100, 1000);
      expect(limiter.nextWakeAt()).to.equal(clock.now() + 1000);
      clock.advance(1000);
      limiter.processWaiters();
      await rejected(behind, 'resource-exhausted');
      expect(limiter.nextWakeAt()).to.equal(clock.now() + 49_000);
      clock.advance(49_000);
      limiter.processWaiters();
      expect((await head).reservation.tokens).to.equal(5000);
    });

    it('with a scheduler, grants and times out on its own, keeping one timer at the next wake-up', async () => {
      const clock = createManualClock(1_000_000);
      const limiter = createRateLimiter({
        maxRequestsPerMinute: 60,
        maxTokensPerMinute: 6000,
        now: clock.now,
        scheduler: clock,
      });
      drainTokens(limiter);
      const head = limiter.acquire('w1', 5000, 60_000);
      const behind = limiter.acquire('w2', 100, 1000);
      expect(clock.pending()).to.equal(1);
      clock.advance(1000);
      await rejected(behind, 'resource-exhausted');
      clock.advance(49_000);
      expect((await head).reservation).to.include({ workerId: 'w1', tokens: 5000 });
      expect(clock.pending()).to.equal(0);
      // Queued and cancelled requests leave exactly the timer the rest of the queue needs.
      const next = limiter.acquire('w4', 1000, 60_000);
      expect(clock.pending()).to.equal(1);
      const queued = limiter.enqueue('w5', 10, Number.POSITIVE_INFINITY, () => {});
      if (queued.granted) return expect.fail('expected to queue');
      limiter.cancel(queued.waiterId);
      expect(clock.pending()).to.equal(1);
      clock.advance(10_000);
      expect((await next).reservation.tokens).to.equal(1000);
      expect(clock.pending()).to.equal(0);
    });

    it('rejects bad input with invalid-argument instead of throwing', async () => {
      const { limiter } = setup();
      await rejected(limiter.acquire('w1', 100, -1), 'invalid-argument');
      await rejected(limiter.acquire('w1', 7000, 1000), 'invalid-argument');
      await rejected(limiter.acquire('', 1, 1000), 'invalid-argument');
    });
  });

  describe('reservations', () => {
    const granted = (limiter: RateLimiter, workerId: string, tokens: number): Reservation => {
      const decision = limiter.tryAcquire(workerId, tokens);
      if (!decision.granted) return expect.fail('expected a grant');
      return decision.reservation;
    };

    it('issues unique ids with the injected prefix, never reused after a reset', () => {
      const { limiter } = setup({ idPrefix: 'boot-a/' });
      expect(granted(limiter, 'w1', 1).id).to.equal('boot-a/0');
      expect(granted(limiter, 'w1', 1).id).to.equal('boot-a/1');
      limiter.reset();
      expect(granted(limiter, 'w1', 1).id).to.equal('boot-a/2');
    });

    it('refunds unused tokens on settle, capped at capacity', () => {
      const { limiter } = setup();
      const r = granted(limiter, 'w1', 1000);
      expect(limiter.settle(r.id, 400)).to.deep.equal({
        reservationId: r.id,
        workerId: 'w1',
        reservedTokens: 1000,
        actualTokens: 400,
        refundedTokens: 600,
        chargedTokens: 0,
      });
      expect(limiter.status().available.tokens).to.equal(5600);
      expect(limiter.usage('w1').tokens).to.equal(400);

      const full = setup();
      const small = granted(full.limiter, 'w1', 10);
      full.clock.advance(60_000);
      full.limiter.settle(small.id, 0);
      expect(full.limiter.status().available.tokens).to.equal(6000);
    });

    it('charges an overrun, leaving the bucket in debt so later grants wait', () => {
      const { limiter } = setup();
      const r = granted(limiter, 'w1', 5000);
      expect(limiter.settle(r.id, 7000)).to.include({ refundedTokens: 0, chargedTokens: 2000 });
      expect(limiter.status().available.tokens).to.equal(-1000);
      expect(limiter.usage('w1').tokens).to.equal(7000);
      // 1000 of debt plus 100 asked, at 100 tokens/s.
      expect(limiter.tryAcquire('w2', 100)).to.include({ granted: false, waitMs: 11_000 });
    });

    it('settles idempotently: a repeat returns the first outcome and changes nothing', () => {
      const { limiter } = setup();
      const r = granted(limiter, 'w1', 1000);
      const first = limiter.settle(r.id, 200);
      const before = limiter.snapshot();
      expect(limiter.settle(r.id, 200)).to.deep.equal(first);
      expect(limiter.settle(r.id, 5000)).to.deep.equal(first);
      expect(limiter.snapshot()).to.deep.equal(before);
    });

    it('throws not-found naming an unknown reservation', () => {
      const { limiter } = setup();
      granted(limiter, 'w1', 1);
      for (const id of ['r-1', 'r-00', 'x-0', 'r-', '']) {
        const error = expectFieldError(() => limiter.settle(id, 0), 'not-found', 'reservationId');
        expect(error.data).to.deep.equal({ reservationId: id });
      }
    });

    it('rejects a negative, fractional or non-finite actualTokens, naming it, with state unchanged', () => {
      const { limiter } = setup();
      const r = granted(limiter, 'w1', 100);
      const before = limiter.snapshot();
      for (const actual of [-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        expectFieldError(() => limiter.settle(r.id, actual), 'invalid-argument', 'actualTokens');
      }
      expect(limiter.snapshot()).to.deep.equal(before);
    });

    it('counts an unsettled reservation as used once its TTL passes', () => {
      const { clock, limiter } = setup({ reservationTtlMs: 5000 });
      const r = granted(limiter, 'w1', 3000);
      expect(r.expiresAt).to.equal(clock.now() + 5000);
      expect(limiter.status().outstandingReservations).to.equal(1);
      clock.advance(5000);
      expectFieldError(() => limiter.settle(r.id, 0), 'not-found', 'reservationId');
      expect(limiter.usage('w1').tokens).to.equal(3000);
      expect(limiter.status()).to.deep.include({
        available: { requests: 60, tokens: 3500 },
        outstandingReservations: 0,
      });
    });

    it('answers a repeated request id with the same reservation, charging nothing', () => {
      const { clock, limiter } = setup({ reservationTtlMs: 5000 });
      const first = limiter.tryAcquire('w1', 1000, 'req-1');
      if (!first.granted) return expect.fail('expected a grant');
      expect(first.reservation.requestId).to.equal('req-1');
      const before = limiter.snapshot();
      const again = limiter.tryAcquire('w1', 1000, 'req-1');
      expect(again).to.deep.equal({
        granted: true,
        reservation: first.reservation,
        remaining: first.remaining,
      });
      const queued = limiter.enqueue('w1', 1000, Number.POSITIVE_INFINITY, () => {}, 'req-1');
      expect(queued).to.deep.include({ granted: true, reservation: first.reservation });
      expect(limiter.snapshot()).to.deep.equal(before);
      // Another worker's request of the same id, or the same worker's next one, is a new request.
      expect(granted(limiter, 'w2', 1).id).to.not.equal(first.reservation.id);
      const next = limiter.tryAcquire('w1', 1, 'req-2');
      expect(next.granted && next.reservation.id).to.not.equal(first.reservation.id);
      // Once the reservation expired (counted as used), the id asks anew.
      clock.advance(5000);
      const later = limiter.tryAcquire('w1', 1000, 'req-1');
      expect(later.granted && later.reservation.id).to.not.equal(first.reservation.id);
    });

    it('gives a queued request its request id, and a restored limiter still knows it', () => {
      const { clock, limiter } = setup();
      drainTokens(limiter);
      const { outcomes, onDecision } = collect();
      limiter.enqueue('w1', 100, Number.POSITIVE_INFINITY, onDecision, 'req-9');
      clock.advance(1000);
      limiter.processWaiters();
      const [outcome] = outcomes;
      if (outcome?.granted !== true) return expect.fail('expected a grant from the queue');
      expect(outcome.reservation.requestId).to.equal('req-9');
      const copy = createRateLimiter({
        maxRequestsPerMinute: 60,
        maxTokensPerMinute: 6000,
        now: clock.now,
        initial: JSON.parse(JSON.stringify(limiter.snapshot())),
      });
      expect(copy.tryAcquire('w1', 100, 'req-9')).to.deep.include({
        granted: true,
        reservation: outcome.reservation,
      });
    });

    it('keeps a settled reservation settleable (idempotently) until its TTL, then forgets it', () => {
      const { clock, limiter } = setup({ reservationTtlMs: 5000 });
      const r = granted(limiter, 'w1', 100);
      const outcome = limiter.settle(r.id, 50);
      expect(limiter.status().outstandingReservations).to.equal(0);
      clock.advance(4999);
      expect(limiter.settle(r.id, 50)).to.deep.equal(outcome);
      clock.advance(1);
      expectFieldError(() => limiter.settle(r.id, 50), 'not-found');
    });
  });

  describe('status', () => {
    it('reports capacity, availability, per-worker usage, queue length and outstanding reservations', () => {
      const { limiter } = setup();
      limiter.tryAcquire('w1', 5000);
      const second = limiter.tryAcquire('w2', 1000);
      if (!second.granted) expect.fail('expected a grant');
      limiter.settle(second.reservation.id, 1000);
      limiter.enqueue('w3', 10, Number.POSITIVE_INFINITY, () => {});
      limiter.tryAcquire('w3', 10);
      expect(limiter.status()).to.deep.equal({
        capacity: { requests: 60, tokens: 6000 },
        available: { requests: 58, tokens: 0 },
        workers: [
          { workerId: 'w1', requests: 1, tokens: 5000, denials: 0 },
          { workerId: 'w2', requests: 1, tokens: 1000, denials: 0 },
          { workerId: 'w3', requests: 0, tokens: 0, denials: 1 },
        ],
        queueLength: 1,
        outstandingReservations: 1,
      });
    });
  });

  describe('reset', () => {
    it('refills the buckets, clears usage and reservations, and rejects waiters with aborted', async () => {
      const { limiter } = setup();
      const first = limiter.tryAcquire('w1', 6000);
      if (!first.granted) expect.fail('expected a grant');
      const pending = limiter.acquire('w2', 100, 60_000);
      limiter.reset();
      const error = await rejected(pending, 'aborted');
      expect(error.message).to.contain('reset');
      expect(limiter.status()).to.deep.equal({
        capacity: { requests: 60, tokens: 6000 },
        available: { requests: 60, tokens: 6000 },
        workers: [],
        queueLength: 0,
        outstandingReservations: 0,
      });
      expectFieldError(() => limiter.settle(first.reservation.id, 0), 'not-found');
    });
  });

  describe('snapshot and restore', () => {
    it('round-trips through JSON: a restored limiter decides exactly like the original', () => {
      const { clock, limiter } = setup({ reservationTtlMs: 10_000 });
      const a = limiter.tryAcquire('w1', 2500);
      clock.advance(1234);
      const b = limiter.tryAcquire('w2', 3000);
      if (!a.granted || !b.granted) expect.fail('expected grants');
      limiter.settle(a.reservation.id, 1000);
      limiter.tryAcquire('w3', 6000);
      const snapshot = JSON.parse(JSON.stringify(limiter.snapshot()));
      const copy = createRateLimiter({
        maxRequestsPerMinute: 60,
        maxTokensPerMinute: 6000,
        reservationTtlMs: 10_000,
        now: clock.now,
        initial: snapshot,
      });
      expect(copy.snapshot()).to.deep.equal(limiter.snapshot());
      expect(copy.status()).to.deep.equal(limiter.status());
      expect(copy.settle(a.reservation.id, 9)).to.deep.equal(limiter.settle(a.reservation.id, 9));
      clock.advance(777);
      expect(copy.tryAcquire('w4', 3000)).to.deep.equal(limiter.tryAcquire('w4', 3000));
      expect(copy.settle(b.reservation.id, 0)).to.deep.equal(limiter.settle(b.reservation.id, 0));
      expect(copy.snapshot()).to.deep.equal(limiter.snapshot());
    });

    it('restores into a running limiter with restore(), keeping its queue', () => {
      const { limiter } = setup();
      drainTokens(limiter);
      const fresh = setup().limiter.snapshot();
      const { outcomes, onDecision } = collect();
      limiter.enqueue('w1', 100, Number.POSITIVE_INFINITY, onDecision);
      limiter.restore(fresh);
      expect(limiter.status().queueLength).to.equal(1);
      limiter.processWaiters();
      expect(outcomes.map((o) => o.granted)).to.deep.equal([true]);
    });

    it('refuses a snapshot of another version or with broken reservation ids', () => {
      const { limiter } = setup();
      expectFieldError(() => limiter.restore({ version: 2 } as never), 'invalid-argument', 'snapshot');
      limiter.tryAcquire('w1', 1);
      const snapshot = limiter.snapshot();
      const broken = { ...snapshot, nextId: 5 };
      expectFieldError(() => limiter.restore(broken), 'invalid-argument', 'snapshot');
    });
  });

  describe('properties', () => {
    type Op =
      | { readonly kind: 'try'; readonly worker: number; readonly tokens: number }
      | {
          readonly kind: 'enqueue';
          readonly worker: number;
          readonly tokens: number;
          readonly timeout: number;
        }
      | { readonly kind: 'settle'; readonly pick: number; readonly actual: number }
      | { readonly kind: 'cancel'; readonly pick: number }
      | { readonly kind: 'process' }
      | { readonly kind: 'advance'; readonly ms: number };

    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        arbitrary: fc.record({ kind: fc.constant('try'), worker: fc.nat(3), tokens: fc.nat(400) }),
        weight: 4,
      },
      {
        arbitrary: fc.record({
          kind: fc.constant('enqueue'),
          worker: fc.nat(3),
          tokens: fc.nat(400),
          timeout: fc.nat(20_000),
        }),
        weight: 2,
      },
      {
        arbitrary: fc.record({ kind: fc.constant('settle'), pick: fc.nat(), actual: fc.nat(500) }),
        weight: 2,
      },
      { arbitrary: fc.record({ kind: fc.constant('cancel'), pick: fc.nat() }), weight: 1 },
      { arbitrary: fc.record({ kind: fc.constant('process') }), weight: 1 },
      { arbitrary: fc.record({ kind: fc.constant('advance'), ms: fc.nat(5000) }), weight: 3 },
    );

    /** What the limiter let through at one instant: grants add, refunds take back. */
    interface Flow {
      readonly at: number;
      readonly requests: number;
      readonly tokens: number;
    }

    it('never lets through more than capacity + rate × window, over the run and any sub-window', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 120 }),
          fc.integer({ min: 1, max: 5000 }),
          fc.array(op, { maxLength: 60 }),
          (rpm, tpm, ops) => {
            let t = 0;
            const limiter = createRateLimiter({
              maxRequestsPerMinute: rpm,
              maxTokensPerMinute: tpm,
              reservationTtlMs: 8000,
              now: () => t,
            });
            const flows: Flow[] = [];
            const reservations: Reservation[] = [];
            const settledIds = new Set<string>();
            const waiterIds: string[] = [];
            const enqueuedAt = new Map<string, number>();
            let lastServed = -1;
            const onGrant = (reservation: Reservation): void => {
              flows.push({ at: t, requests: 1, tokens: reservation.tokens });
              reservations.push(reservation);
            };
            for (const o of ops) {
              if (o.kind === 'advance') t += o.ms;
              else if (o.kind === 'process') limiter.processWaiters();
              else if (o.kind === 'try') {
                const d = limiter.tryAcquire(`w${o.worker}`, o.tokens % (tpm + 1));
                if (d.granted) onGrant(d.reservation);
              } else if (o.kind === 'enqueue') {
                const seq = enqueuedAt.size;
                const r = limiter.enqueue(`w${o.worker}`, o.tokens % (tpm + 1), t + o.timeout, (outcome) => {
                  if (!outcome.granted) return;
                  // FIFO: queued requests are served in arrival order.
                  expect(seq).to.be.greaterThan(lastServed);
                  lastServed = seq;
                  onGrant(outcome.reservation);
                });
                if (r.granted) onGrant(r.reservation);
                else {
                  waiterIds.push(r.waiterId);
                  enqueuedAt.set(r.waiterId, seq);
                }
              } else if (o.kind === 'cancel') {
                if (waiterIds.length > 0) limiter.cancel(waiterIds[o.pick % waiterIds.length] as string);
              } else if (reservations.length > 0) {
                const r = reservations[o.pick % reservations.length] as Reservation;
                try {
                  const outcome = limiter.settle(r.id, o.actual);
                  if (!settledIds.has(r.id))
                    flows.push({ at: t, requests: 0, tokens: -outcome.refundedTokens });
                  settledIds.add(r.id);
                } catch (error) {
                  expect((error as BatonError).code).to.equal('not-found');
                  expect(t).to.be.at.least(r.expiresAt);
                }
              }
            }
            // Windows [flows[i].at, flows[j].at], each taking every flow at its two ends.
            const requestSums = [0];
            const tokenSums = [0];
            for (const f of flows) {
              requestSums.push((requestSums.at(-1) as number) + f.requests);
              tokenSums.push((tokenSums.at(-1) as number) + f.tokens);
            }
            for (let i = 0; i < flows.length; i++) {
              if (i > 0 && flows[i - 1]?.at === flows[i]?.at) continue;
              for (let j = i; j < flows.length; j++) {
                if (j + 1 < flows.length && flows[j + 1]?.at === flows[j]?.at) continue;
                const span = (flows[j] as Flow).at - (flows[i] as Flow).at;
                const requests = (requestSums[j + 1] as number) - (requestSums[i] as number);
                const tokens = (tokenSums[j + 1] as number) - (tokenSums[i] as number);
                // In sixtieths of a millisecond-minute, to stay in integers: n ≤ cap + cap/60000 × span.
                expect(requests * 60_000).to.be.at.most(rpm * 60_000 + rpm * span);
                expect(tokens * 60_000).to.be.at.most(tpm * 60_000 + tpm * span);
              }
            }
          },
        ),
        { numRuns: 1000 },
      );
    });

    it('restores from any snapshot to a limiter that decides identically', () => {
      fc.assert(
        fc.property(fc.array(op, { maxLength: 30 }), fc.array(op, { maxLength: 30 }), (before, after) => {
          let t = 0;
          const options = {
            maxRequestsPerMinute: 30,
            maxTokensPerMinute: 900,
            reservationTtlMs: 4000,
            now: () => t,
          };
          const original = createRateLimiter(options);
          const ids: string[] = [];
          const apply = (limiter: RateLimiter, o: Op): unknown => {
            if (o.kind === 'try' || o.kind === 'enqueue') {
              const d = limiter.tryAcquire(`w${o.worker}`, o.tokens % 901);
              if (d.granted) ids.push(d.reservation.id);
              return d;
            }
            if (o.kind === 'settle' && ids.length > 0) {
              try {
                return limiter.settle(ids[o.pick % ids.length] as string, o.actual);
              } catch (error) {
                return (error as BatonError).code;
              }
            }
            return limiter.status();
          };
          for (const o of before) {
            if (o.kind === 'advance') t += o.ms;
            else apply(original, o);
          }
          const copy = createRateLimiter({
            ...options,
            initial: JSON.parse(JSON.stringify(original.snapshot())),
          });
          for (const o of after) {
            if (o.kind === 'advance') t += o.ms;
            else expect(apply(copy, o)).to.deep.equal(apply(original, o));
          }
          expect(copy.snapshot()).to.deep.equal(original.snapshot());
        }),
        { numRuns: 1000 },
      );
    });
  });
});
