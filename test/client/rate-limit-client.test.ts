import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { expect } from 'chai';
import { createRateLimitClient, createWorker, type RateLimitClient } from '../../src/client/index.js';
import { ErrorCode } from '../../src/client/proto.js';
import { rejection } from '../support/rejection.js';
import { createFakeCoordinator, waitFor } from './fake-coordinator.js';

describe('client rate limiter', () => {
  const clients: RateLimitClient[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
  });

  function setup() {
    const fake = createFakeCoordinator();
    const limiter = createRateLimitClient({
      transport: fake.transport,
      workerId: 'w1',
      reconnect: { initialDelayMs: 1, maxDelayMs: 4 },
      closeTimeoutMs: 100,
    });
    clients.push(limiter);
    return { fake, limiter };
  }

  it('names the worker once, then acquires by request id; a grant resolves to a reservation', async () => {
    const { fake, limiter } = setup();
    const acquired = limiter.acquire(500, { timeoutMs: 2_000 });
    const s = await fake.rateSessions.next();
    expect((await s.take('hello')).workerId).to.equal('w1');
    const request = await s.take('acquire');
    expect(request.tokens).to.equal(500);
    expect(request.timeoutMs).to.be.within(1_900, 2_000);
    s.send({
      case: 'welcome',
      value: { maxRequestsPerMinute: 60, maxTokensPerMinute: 10_000, reservationTtlMs: 30_000 },
    });
    s.send({
      case: 'grant',
      value: {
        requestId: request.requestId,
        reservationId: 'r1',
        remainingRequests: 59,
        remainingTokens: 9_500,
        expiresAt: timestampFromMs(1_700_000_000_000),
      },
    });
    const reservation = await acquired;
    expect(reservation).to.include({
      reservationId: 'r1',
      tokens: 500,
      remainingRequests: 59,
      remainingTokens: 9_500,
    });
    expect(reservation.expiresAt?.getTime()).to.equal(1_700_000_000_000);
    expect(limiter.limits).to.deep.equal({
      maxRequestsPerMinute: 60,
      maxTokensPerMinute: 10_000,
      reservationTtlMs: 30_000,
    });

    const settled = reservation.settle(320);
    expect(reservation.settle(999)).to.equal(settled); // idempotent
    expect(await s.take('settle')).to.include({ reservationId: 'r1', actualTokens: 320 });
    s.send({ case: 'settled', value: { reservationId: 'r1', refundedTokens: 180, chargedTokens: 0 } });
    expect(await settled).to.deep.equal({ refundedTokens: 180, chargedTokens: 0 });
  });

  it('keeps waiting after a RateWait until the coordinator pushes the grant, matching answers by id', async () => {
    const { fake, limiter } = setup();
    const waits: number[] = [];
    const first = limiter.acquire(10, { onWait: (w) => waits.push(w.queuePosition) });
    const second = limiter.acquire(20);
    const s = await fake.rateSessions.next();
    await s.take('hello');
    const a = await s.take('acquire');
    const b = await s.take('acquire');
    expect(a.requestId).to.not.equal(b.requestId);
    s.send({ case: 'wait', value: { requestId: a.requestId, waitMs: 50, queuePosition: 3 } });
    s.send({ case: 'grant', value: { requestId: b.requestId, reservationId: 'rb' } });
    expect((await second).reservationId).to.equal('rb');
    s.send({ case: 'grant', value: { requestId: a.requestId, reservationId: 'ra' } });
    expect((await first).reservationId).to.equal('ra');
    expect(waits).to.deep.equal([3]);
  });

  it('rejects an acquire the coordinator refuses with the matching ConnectError code', async () => {
    const { fake, limiter } = setup();
    const acquired = limiter.acquire(10, { timeoutMs: 1_000 });
    const s = await fake.rateSessions.next();
    await s.take('hello');
    const request = await s.take('acquire');
    s.send({
      case: 'error',
      value: {
        requestId: request.requestId,
        error: { code: ErrorCode.RESOURCE_EXHAUSTED, message: 'timed out waiting for capacity' },
      },
    });
    const error = await rejection(acquired);
    expect(error.code).to.equal(Code.ResourceExhausted);
    expect(error.rawMessage).to.equal('timed out waiting for capacity');
  });

  it('cancels a waiting acquire when its signal aborts, and gives back a grant that crossed the cancel', async () => {
    const { fake, limiter } = setup();
    const abort = new AbortController();
    const acquired = limiter.acquire(10, { signal: abort.signal });
    const s = await fake.rateSessions.next();
    await s.take('hello');
    const request = await s.take('acquire');
    abort.abort();
    expect((await rejection(acquired)).code).to.equal(Code.Canceled);
    expect((await s.take('cancel')).requestId).to.equal(request.requestId);
    s.send({ case: 'grant', value: { requestId: request.requestId, reservationId: 'late' } });
    expect(await s.take('settle')).to.include({ reservationId: 'late', actualTokens: 0 });
  });

  it('reconnects after a stream error and repeats the hello and every waiting acquire', async () => {
    const { fake, limiter } = setup();
    const acquired = limiter.acquire(42);
    const s1 = await fake.rateSessions.next();
    await s1.take('hello');
    const first = await s1.take('acquire');
    s1.fail(new ConnectError('restart', Code.Unavailable));
    const s2 = await fake.rateSessions.next();
    expect((await s2.take('hello')).workerId).to.equal('w1');
    const again = await s2.take('acquire');
    expect(again).to.include({ requestId: first.requestId, tokens: 42 });
    s2.send({ case: 'grant', value: { requestId: again.requestId, reservationId: 'r' } });
    expect((await acquired).reservationId).to.equal('r');
  });

  it('is what a worker uses for acquire(), on its own stream named with the worker id', async () => {
    const fake = createFakeCoordinator();
    const worker = createWorker({
      url: 'http://in-memory',
      id: 'w7',
      capabilities: [],
      maxConcurrency: 1,
      transport: fake.transport,
      handler: () => undefined,
    });
    const acquired = worker.acquire(5);
    const s = await fake.rateSessions.next();
    expect((await s.take('hello')).workerId).to.equal('w7');
    const request = await s.take('acquire');
    s.send({ case: 'grant', value: { requestId: request.requestId, reservationId: 'rw' } });
    expect((await acquired).reservationId).to.equal('rw');
    await worker.stop();
    await waitFor(() => s.inbox.closed);
  });
});
