// services/: one file per proto service, each handler decode -> core call -> encode.
// Imports src/core, src/gen, src/wire, codec/ and runtime/ (test/architecture/walls.test.ts).
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import type { Coordinator } from '../../core/coordinator.js';
import { isBatonError } from '../../core/errors.js';
import type { RateAmounts, RateGrant, WaiterOutcome } from '../../core/rate-limiter.js';
import { createAsyncQueue } from '../../wire/async-queue.js';
import { boundWorkerId } from '../auth/policy.js';
import { PRINCIPAL } from '../auth/principal.js';
import { toConnectError } from '../codec/errors.js';
import {
  ErrorCode,
  type RateDecision,
  RateDecisionSchema,
  type RateLimitService,
  type RateRequest,
} from '../codec/proto.js';
import { errorToWire } from '../codec/wire.js';
import type { GroupCommit } from '../runtime/group-commit.js';
import type { RatePump } from '../runtime/rate-pump.js';

export interface RateLimitServiceDeps {
  readonly coordinator: Coordinator;
  readonly commit: GroupCommit;
  readonly pump: RatePump;
  readonly now: () => number;
  readonly reservationTtlMs: number;
  readonly log: (error: unknown) => void;
  /** Aborted when the server shuts down: open rate streams end at once (workers reconnect). */
  readonly shutdown?: AbortSignal;
  /** Each refusal of what the caller's token does not allow, once (a warning in the server's log). */
  readonly refused?: (message: string, fields: Readonly<Record<string, unknown>>) => void;
}

const whole = (n: number): number => Math.max(0, Math.floor(n));

type DecisionKind = NonNullable<MessageInitShape<typeof RateDecisionSchema>['kind']>;

const decision = (kind: DecisionKind): RateDecision => create(RateDecisionSchema, { kind });

const grantOf = (requestId: string, g: RateGrant): RateDecision =>
  decision({
    case: 'grant',
    value: {
      requestId,
      reservationId: g.reservation.id,
      remainingRequests: whole(g.remaining.requests),
      remainingTokens: whole(g.remaining.tokens),
      expiresAt: timestampFromMs(g.reservation.expiresAt),
    },
  });

/**
 * RateLimitService.Acquire: a worker's rate stream. A request is granted at once or queued
 * (FIFO) and granted later by a push on the same stream; grants and settles are stored before
 * they are sent, so a restart never forgets a reservation.
 */
export function createRateLimitService(deps: RateLimitServiceDeps): ServiceImpl<typeof RateLimitService> {
  const { coordinator, commit, pump, now, log } = deps;
  const refused = deps.refused ?? (() => {});
  const limiter = coordinator.rateLimiter;

  const failure = (error: unknown, ids: { requestId?: string; reservationId?: string }): RateDecision => {
    if (!isBatonError(error)) {
      const connect = toConnectError(error);
      if (connect.code === Code.Internal) log(error);
      return decision({
        case: 'error',
        value: {
          requestId: ids.requestId ?? '',
          reservationId: ids.reservationId ?? '',
          error: {
            code: connect.code === Code.Unavailable ? ErrorCode.UNAVAILABLE : ErrorCode.INTERNAL,
            message: connect.rawMessage,
          },
        },
      });
    }
    return decision({
      case: 'error',
      value: {
        requestId: ids.requestId ?? '',
        reservationId: ids.reservationId ?? '',
        error: errorToWire(error),
      },
    });
  };

  return {
    async *acquire(requests: AsyncIterable<RateRequest>, context: HandlerContext) {
      const outbox = createAsyncQueue<RateDecision>();
      const waiting = new Map<string, string>();
      let workerId: string | undefined;
      const bound = boundWorkerId(context.values.get(PRINCIPAL));
      const sendAfterCommit = (message: RateDecision, ids: { requestId?: string; reservationId?: string }) =>
        commit.afterCommit(
          () => outbox.push(message),
          (error) => outbox.push(failure(error, ids)),
        );

      const onDecision = (requestId: string) => (outcome: WaiterOutcome) => {
        waiting.delete(requestId);
        if (outcome.granted) sendAfterCommit(grantOf(requestId, outcome), { requestId });
        else outbox.push(failure(outcome.error, { requestId }));
      };

      const handle = (message: RateRequest): void => {
        const kind = message.kind;
        if (kind.case === 'hello') {
          if (workerId !== undefined)
            throw new ConnectError('hello may only be sent once', Code.FailedPrecondition);
          if (kind.value.workerId === '')
            throw new ConnectError('hello.worker_id is required', Code.InvalidArgument);
          coordinator.checkWorkerId(kind.value.workerId);
          if (bound !== undefined && kind.value.workerId !== bound) {
            const message = `hello.worker_id ${JSON.stringify(kind.value.workerId)}: this token is for worker ${bound}`;
            refused(message, { workerId: bound, route: 'coord.v1.RateLimitService/Acquire' });
            throw new ConnectError(message, Code.PermissionDenied);
          }
          workerId = kind.value.workerId;
          const status = limiter.status();
          outbox.push(
            decision({
              case: 'welcome',
              value: {
                maxRequestsPerMinute: status.capacity.requests,
                maxTokensPerMinute: status.capacity.tokens,
                reservationTtlMs: deps.reservationTtlMs,
              },
            }),
          );
          return;
        }
        if (workerId === undefined) {
          throw new ConnectError('the first message of a rate stream must be hello', Code.FailedPrecondition);
        }
        const worker = workerId;
        switch (kind.case) {
          case 'acquire': {
            const { requestId, tokens, timeoutMs } = kind.value;
            try {
              commit.ensureWritable();
              const deadline = timeoutMs === 0 ? Number.POSITIVE_INFINITY : now() + timeoutMs;
              const result = limiter.enqueue(worker, tokens, deadline, onDecision(requestId), requestId);
              if (result.granted) {
                sendAfterCommit(grantOf(requestId, result), { requestId });
              } else {
                waiting.set(requestId, result.waiterId);
                outbox.push(waitOf(requestId, result.waitMs, result.remaining, result.position));
              }
            } catch (error) {
              outbox.push(failure(error, { requestId }));
            }
            break;
          }
          case 'settle': {
            const { reservationId, actualTokens } = kind.value;
            try {
              commit.ensureWritable();
              const settled = limiter.settle(reservationId, actualTokens);
              sendAfterCommit(
                decision({
                  case: 'settled',
                  value: {
                    reservationId,
                    refundedTokens: settled.refundedTokens,
                    chargedTokens: settled.chargedTokens,
                  },
                }),
                { reservationId },
              );
            } catch (error) {
              outbox.push(failure(error, { reservationId }));
            }
            break;
          }
          case 'cancel': {
            const waiterId = waiting.get(kind.value.requestId);
            if (waiterId !== undefined) limiter.cancel(waiterId);
            waiting.delete(kind.value.requestId);
            break;
          }
          default:
            break;
        }
        pump.rearm();
      };

      const read = async (): Promise<void> => {
        try {
          for await (const message of requests) handle(message);
          commit.afterCommit(() => outbox.close());
        } catch (error) {
          outbox.close(error);
        }
      };
      const abort = () => outbox.close();
      const shutDown = () => outbox.close(new ConnectError('server is shutting down', Code.Unavailable));
      context.signal.addEventListener('abort', abort, { once: true });
      deps.shutdown?.addEventListener('abort', shutDown, { once: true });
      const reading = read();
      try {
        yield* outbox;
      } finally {
        context.signal.removeEventListener('abort', abort);
        deps.shutdown?.removeEventListener('abort', shutDown);
        outbox.close();
        for (const waiterId of waiting.values()) limiter.cancel(waiterId);
        pump.rearm();
        void reading;
      }
    },
  };
}

const waitOf = (requestId: string, waitMs: number, remaining: RateAmounts, position: number): RateDecision =>
  decision({
    case: 'wait',
    value: {
      requestId,
      waitMs,
      remainingRequests: whole(remaining.requests),
      remainingTokens: whole(remaining.tokens),
      queuePosition: position,
    },
  });
