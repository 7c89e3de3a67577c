import { randomUUID } from 'node:crypto';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createClient, type Transport } from '@connectrpc/connect';
import { createAsyncQueue } from '../wire/async-queue.js';
import { onAbort } from './abort-listeners.js';
import { backoffDelay, defaultReconnect, type ReconnectOptions, sleep, waitAtMost } from './backoff.js';
import { type ConnectionOptions, grpcTransport } from './connection.js';
import { connectErrorFromDetail, isFatalSessionEnd } from './errors.js';
import { ErrorCode, type RateDecision, RateLimitService, type RateRequestSchema } from './proto.js';
import { createReplicaTransport } from './replica-transport.js';

type RateRequestInit = MessageInitShape<typeof RateRequestSchema>;

/** Options of {@link createRateLimitClient}. */
export interface RateLimitClientOptions extends ConnectionOptions {
  /** The coordinator's base URL; used only when no transport is given. */
  readonly url?: string;
  /**
   * Every replica's URL, when several `baton serve` share one PostgreSQL database (in place of
   * `url`). The stream goes to the leader: a standby's refusal names it, a replica that cannot be
   * reached is left for the next URL, and on each reconnect the waiting acquires and unanswered
   * settles are sent again to whichever leads.
   */
  readonly urls?: readonly string[];
  /** Defaults to gRPC over HTTP/2 at `url`, the protocol every worker language speaks. */
  readonly transport?: Transport;
  /** The worker id, sent once in RateHello so that requests cannot name another worker. */
  readonly workerId: string;
  readonly reconnect?: Partial<ReconnectOptions>;
  /** Called with the limits in force each time the stream is (re)established. */
  readonly onWelcome?: (limits: RateLimits) => void;
  /** How long close() waits for unanswered settles and for the coordinator to end the stream. */
  readonly closeTimeoutMs?: number;
}

/** The fleet-wide limits announced by RateWelcome. 0 means "not limited". */
export interface RateLimits {
  readonly maxRequestsPerMinute: number;
  readonly maxTokensPerMinute: number;
  readonly reservationTtlMs: number;
}

/** Why an acquire is queued, for progress displays. Informative only. */
export interface RateWaitInfo {
  readonly waitMs: number;
  readonly queuePosition: number;
  readonly remainingRequests: number;
  readonly remainingTokens: number;
}

/** Options of one acquire. */
export interface AcquireOptions {
  /** Give up after waiting this long (RESOURCE_EXHAUSTED). Unset or 0: wait until granted or aborted. */
  readonly timeoutMs?: number;
  /** Aborting gives the acquire up (Code.Canceled); a grant that crosses the cancel is given back. */
  readonly signal?: AbortSignal;
  /** Called when the coordinator queues the acquire; the grant follows without polling. */
  readonly onWait?: (wait: RateWaitInfo) => void;
}

/** What settling a reservation did to the bucket. */
export interface Settlement {
  /** Tokens given back (the estimate was higher than the actual). */
  readonly refundedTokens: number;
  /** Tokens charged on top of the estimate (the estimate was lower). */
  readonly chargedTokens: number;
}

/**
 * Capacity reserved for one model call. Settle it with what the call really used, so the shared
 * bucket is corrected at once instead of being charged the estimate when the reservation expires.
 */
export interface Reservation {
  readonly requestId: string;
  readonly reservationId: string;
  /** The estimate that was reserved. */
  readonly tokens: number;
  readonly remainingRequests: number;
  readonly remainingTokens: number;
  /** When the reservation is charged as estimated unless settled. */
  readonly expiresAt: Date | undefined;
  /** Reports the tokens actually used (0: the call was not made). Idempotent: later calls return the first result. */
  settle(actualTokens: number): Promise<Settlement>;
}

/** One worker's long-lived RateLimitService.Acquire stream. */
export interface RateLimitClient {
  /** Reserves one request and `tokens` estimated tokens, waiting (without polling) for capacity. */
  acquire(tokens: number, options?: AcquireOptions): Promise<Reservation>;
  /** The limits from the latest RateWelcome; undefined before the first. */
  readonly limits: RateLimits | undefined;
  /** Gives up waiting acquires, lets unanswered settles finish (bounded), then ends the stream. */
  close(): Promise<void>;
}

interface WaitingAcquire {
  readonly requestId: string;
  readonly tokens: number;
  readonly deadline: number | undefined;
  readonly onWait: ((wait: RateWaitInfo) => void) | undefined;
  readonly resolve: (reservation: Reservation) => void;
  readonly reject: (error: ConnectError) => void;
  cleanup(): void;
}

interface PendingSettle {
  readonly reservationId: string;
  readonly actualTokens: number;
  /** Written to a stream at least once; a NOT_FOUND after a resend means the first one was applied. */
  written: boolean;
  resent: boolean;
  readonly resolve: (settlement: Settlement) => void;
  readonly reject: (error: ConnectError) => void;
}

interface Session {
  readonly queue: ReturnType<typeof createAsyncQueue<RateRequestInit>>;
  readonly controller: AbortController;
}

/** Slack past an acquire's deadline before the client gives up on the coordinator's own timeout. */
const deadlineGraceMs = 250;

/**
 * Opens (lazily, on the first acquire) and keeps one RateLimitService.Acquire stream for a worker.
 * Many acquires may be outstanding at once; answers are matched by request id. If the stream
 * drops, it reconnects with backoff and sends the hello, every still-waiting acquire (with what
 * is left of its timeout) and every unanswered settle again: the coordinator forgets a stream's
 * waiting acquires when it ends, so the client must repeat them.
 */
export function createRateLimitClient(options: RateLimitClientOptions): RateLimitClient {
  const transport =
    options.transport ??
    createReplicaTransport({
      urls: options.urls ?? [requireUrl(options.url)],
      transportAt: (url) => grpcTransport(url, options),
    });
  const client = createClient(RateLimitService, transport);
  const reconnect = { ...defaultReconnect, ...options.reconnect };
  const closeTimeoutMs = options.closeTimeoutMs ?? 2_000;
  const prefix = randomUUID().slice(0, 8);
  const waiting = new Map<string, WaitingAcquire>();
  const settling = new Map<string, PendingSettle>();
  let counter = 0;
  let session: Session | undefined;
  let loop: Promise<void> | undefined;
  let limits: RateLimits | undefined;
  let closing = false;
  let shutdown = false;
  const wake = new AbortController();
  let closed: Promise<void> | undefined;
  let settlesDrained: (() => void) | undefined;

  const write = (message: RateRequestInit): boolean => {
    if (session === undefined) return false;
    session.queue.push(message);
    return true;
  };

  const acquireMessage = (w: WaitingAcquire): RateRequestInit => ({
    kind: {
      case: 'acquire',
      value: {
        requestId: w.requestId,
        tokens: w.tokens,
        timeoutMs: w.deadline === undefined ? 0 : Math.max(1, Math.ceil(w.deadline - Date.now())),
      },
    },
  });

  const settleMessage = (p: PendingSettle): RateRequestInit => ({
    kind: { case: 'settle', value: { reservationId: p.reservationId, actualTokens: p.actualTokens } },
  });

  const settleDone = (reservationId: string): PendingSettle | undefined => {
    const p = settling.get(reservationId);
    if (p === undefined) return undefined;
    settling.delete(reservationId);
    if (settling.size === 0) settlesDrained?.();
    return p;
  };

  const startSettle = (reservationId: string, actualTokens: number): Promise<Settlement> => {
    if (shutdown) return Promise.reject(new ConnectError('rate limit client closed', Code.Canceled));
    return new Promise<Settlement>((resolve, reject) => {
      const p: PendingSettle = {
        reservationId,
        actualTokens,
        written: false,
        resent: false,
        resolve,
        reject,
      };
      settling.set(reservationId, p);
      if (write(settleMessage(p))) p.written = true;
      else ensureLoop();
    });
  };

  const makeReservation = (
    w: WaitingAcquire,
    grant: Extract<RateDecision['kind'], { case: 'grant' }>['value'],
  ): Reservation => {
    let settled: Promise<Settlement> | undefined;
    return {
      requestId: w.requestId,
      reservationId: grant.reservationId,
      tokens: w.tokens,
      remainingRequests: grant.remainingRequests,
      remainingTokens: grant.remainingTokens,
      expiresAt: grant.expiresAt === undefined ? undefined : timestampDate(grant.expiresAt),
      settle(actualTokens) {
        if (!Number.isInteger(actualTokens) || actualTokens < 0) {
          return Promise.reject(
            new ConnectError(
              `actualTokens must be a non-negative integer, got ${actualTokens}`,
              Code.InvalidArgument,
            ),
          );
        }
        settled ??= startSettle(grant.reservationId, actualTokens);
        return settled;
      },
    };
  };

  const handle = (decision: RateDecision): void => {
    const kind = decision.kind;
    switch (kind.case) {
      case 'welcome': {
        limits = {
          maxRequestsPerMinute: kind.value.maxRequestsPerMinute,
          maxTokensPerMinute: kind.value.maxTokensPerMinute,
          reservationTtlMs: kind.value.reservationTtlMs,
        };
        options.onWelcome?.(limits);
        return;
      }
      case 'grant': {
        const w = waiting.get(kind.value.requestId);
        if (w === undefined) {
          // Given up locally while the grant was on its way: hand the capacity straight back.
          if (kind.value.reservationId !== '' && !settling.has(kind.value.reservationId)) {
            startSettle(kind.value.reservationId, 0).catch(() => {});
          }
          return;
        }
        waiting.delete(w.requestId);
        w.cleanup();
        w.resolve(makeReservation(w, kind.value));
        return;
      }
      case 'wait': {
        const w = waiting.get(kind.value.requestId);
        w?.onWait?.({
          waitMs: kind.value.waitMs,
          queuePosition: kind.value.queuePosition,
          remainingRequests: kind.value.remainingRequests,
          remainingTokens: kind.value.remainingTokens,
        });
        return;
      }
      case 'settled': {
        settleDone(kind.value.reservationId)?.resolve({
          refundedTokens: kind.value.refundedTokens,
          chargedTokens: kind.value.chargedTokens,
        });
        return;
      }
      case 'error': {
        const { requestId, reservationId, error } = kind.value;
        if (requestId !== '') {
          const w = waiting.get(requestId);
          if (w === undefined) return;
          waiting.delete(requestId);
          w.cleanup();
          w.reject(connectErrorFromDetail(error, `acquire ${requestId} refused`));
          return;
        }
        const p = settleDone(reservationId);
        if (p === undefined) return;
        // A settle written twice (across a reconnect) whose first copy was applied is not found the
        // second time: that is success, with the figures lost with the first answer.
        if (p.resent && error?.code === ErrorCode.NOT_FOUND)
          p.resolve({ refundedTokens: 0, chargedTokens: 0 });
        else p.reject(connectErrorFromDetail(error, `settle of ${reservationId} refused`));
        return;
      }
      default:
        return;
    }
  };

  const failAll = (error: ConnectError): void => {
    for (const w of [...waiting.values()]) {
      waiting.delete(w.requestId);
      w.cleanup();
      w.reject(error);
    }
    for (const p of [...settling.values()]) {
      settleDone(p.reservationId);
      p.reject(error);
    }
  };

  const runLoop = async (): Promise<void> => {
    let attempt = 0;
    while (!shutdown) {
      const s: Session = { queue: createAsyncQueue<RateRequestInit>(), controller: new AbortController() };
      session = s;
      s.queue.push({ kind: { case: 'hello', value: { workerId: options.workerId } } });
      for (const w of waiting.values()) s.queue.push(acquireMessage(w));
      for (const p of settling.values()) {
        p.resent ||= p.written;
        p.written = true;
        s.queue.push(settleMessage(p));
      }
      let error: ConnectError | undefined;
      let answered = false;
      try {
        for await (const decision of client.acquire(s.queue, { signal: s.controller.signal })) {
          answered = true;
          handle(decision);
        }
      } catch (e) {
        error = ConnectError.from(e);
      } finally {
        s.queue.close();
        session = undefined;
      }
      if (shutdown) return;
      if (error !== undefined && isFatalSessionEnd(error)) {
        // The coordinator will not serve this worker: fail what is outstanding and let the next
        // acquire try again from scratch.
        failAll(error);
        loop = undefined;
        return;
      }
      if (answered) attempt = 0;
      await sleep(backoffDelay(attempt++, reconnect), wake.signal);
    }
  };

  const ensureLoop = (): void => {
    if (loop === undefined && !shutdown) loop = runLoop();
  };

  return {
    acquire(tokens, acquireOptions = {}) {
      if (closing) return Promise.reject(new ConnectError('rate limit client closed', Code.Canceled));
      if (!Number.isInteger(tokens) || tokens < 0) {
        return Promise.reject(
          new ConnectError(`tokens must be a non-negative integer, got ${tokens}`, Code.InvalidArgument),
        );
      }
      const { signal, timeoutMs, onWait } = acquireOptions;
      if (signal?.aborted) {
        return Promise.reject(
          new ConnectError('acquire aborted', Code.Canceled, undefined, undefined, signal.reason),
        );
      }
      const requestId = `${prefix}-${++counter}`;
      return new Promise<Reservation>((resolve, reject) => {
        const giveUp = (error: ConnectError): void => {
          if (waiting.get(requestId) !== w) return;
          waiting.delete(requestId);
          w.cleanup();
          write({ kind: { case: 'cancel', value: { requestId } } });
          reject(error);
        };
        const abortAcquire = (): void =>
          giveUp(new ConnectError('acquire aborted', Code.Canceled, undefined, undefined, signal?.reason));
        const deadline = timeoutMs !== undefined && timeoutMs > 0 ? Date.now() + timeoutMs : undefined;
        let timer: NodeJS.Timeout | undefined;
        if (timeoutMs !== undefined && timeoutMs > 0) {
          // Normally the coordinator answers RESOURCE_EXHAUSTED at the deadline; this covers a
          // coordinator that cannot be reached meanwhile.
          timer = setTimeout(
            () => giveUp(new ConnectError(`no grant within ${timeoutMs} ms`, Code.ResourceExhausted)),
            timeoutMs + deadlineGraceMs,
          );
          timer.unref();
        }
        // One signal may guard many acquires: one listener on it for all (abort-listeners.ts).
        const forgetAbort = signal === undefined ? () => {} : onAbort(signal, abortAcquire);
        const w: WaitingAcquire = {
          requestId,
          tokens,
          deadline,
          onWait,
          resolve,
          reject,
          cleanup() {
            clearTimeout(timer);
            forgetAbort();
          },
        };
        waiting.set(requestId, w);
        if (!write(acquireMessage(w))) ensureLoop();
      });
    },
    get limits() {
      return limits;
    },
    close() {
      closed ??= (async () => {
        closing = true;
        giveUpWaiting();
        if (settling.size > 0) {
          await waitAtMost(
            new Promise<void>((resolve) => {
              settlesDrained = resolve;
            }),
            closeTimeoutMs,
          );
        }
        shutdown = true;
        failAll(new ConnectError('rate limit client closed', Code.Canceled));
        wake.abort();
        const s = session;
        s?.queue.close();
        if (loop !== undefined && s !== undefined) {
          await waitAtMost(loop, closeTimeoutMs);
          s.controller.abort();
        }
        await loop;
      })();
      return closed;
    },
  };

  function giveUpWaiting(): void {
    const error = new ConnectError('rate limit client closed', Code.Canceled);
    for (const w of [...waiting.values()]) {
      waiting.delete(w.requestId);
      w.cleanup();
      write({ kind: { case: 'cancel', value: { requestId: w.requestId } } });
      w.reject(error);
    }
  }
}

function requireUrl(url: string | undefined): string {
  if (url === undefined || url === '') throw new TypeError('either url or transport is required');
  return url;
}
