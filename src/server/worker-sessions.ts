import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import type { CoordinatorMessage as CoreMessage } from '../core/messages.js';
import type { AsyncQueue } from './async-queue.js';
import { type CoordinatorMessage, CoordinatorMessageSchema } from './proto.js';
import { BUDGET_SCOPE } from './wire.js';

export type Outbox = AsyncQueue<CoordinatorMessage>;

/**
 * Connected workers' outboxes by worker id: where the coordinator's messages to one worker go.
 * Each worker has its own queue, so a slow or stuck stream never holds up anyone else.
 */
export interface WorkerSessions {
  attach(workerId: string, outbox: Outbox): void;
  /** Forgets the session if `outbox` is still the worker's current one. */
  detach(workerId: string, outbox: Outbox): boolean;
  has(workerId: string): boolean;
  /** Ends a worker's stream with an error its SDK reacts to by reconnecting. */
  kick(workerId: string, code: Code, reason: string): void;
  send(workerId: string, message: CoreMessage): void;
  closeAll(reason: string): void;
}

/** The wire form of what the coordinator says; undefined for bus-only messages (rate, rejected). */
function encode(message: CoreMessage): CoordinatorMessage | undefined {
  switch (message.type) {
    case 'coord:proceed': {
      const t = message.task;
      return create(CoordinatorMessageSchema, {
        kind: {
          case: 'proceed',
          value: {
            assignments: [
              {
                taskId: t.id,
                attempt: t.attempt,
                category: t.category,
                metadata: t.metadata as Record<string, never>,
                priority: t.priority,
                leaseDeadline: timestampFromMs(message.leaseExpiresAt),
              },
            ],
          },
        },
      });
    }
    case 'coord:wait':
      return create(CoordinatorMessageSchema, { kind: { case: 'wait', value: { reason: message.reason } } });
    case 'coord:cancel':
      return create(CoordinatorMessageSchema, {
        kind: {
          case: 'cancel',
          value: { taskId: message.taskId, attempt: message.attempt, reason: message.reason },
        },
      });
    case 'coord:budget-stop':
      return create(CoordinatorMessageSchema, {
        kind: {
          case: 'budgetStop',
          value: {
            scope: BUDGET_SCOPE[message.scope],
            reason: `${message.scope} budget of $${message.budgetUsd} is spent ($${message.spentUsd})`,
            spentUsd: message.spentUsd,
            budgetUsd: message.budgetUsd,
          },
        },
      });
    case 'coord:drain':
      return create(CoordinatorMessageSchema, {
        kind: { case: 'drain', value: { reason: 'coordinator is draining' } },
      });
    default:
      return undefined;
  }
}

export function createWorkerSessions(): WorkerSessions {
  const sessions = new Map<string, Outbox>();

  return {
    attach(workerId, outbox) {
      sessions.set(workerId, outbox);
    },
    detach(workerId, outbox) {
      if (sessions.get(workerId) !== outbox) return false;
      sessions.delete(workerId);
      return true;
    },
    has: (workerId) => sessions.has(workerId),
    kick(workerId, code, reason) {
      const outbox = sessions.get(workerId);
      if (outbox === undefined) return;
      sessions.delete(workerId);
      outbox.close(new ConnectError(reason, code));
    },
    send(workerId, message) {
      const outbox = sessions.get(workerId);
      if (outbox === undefined) return;
      const wire = encode(message);
      if (wire === undefined) return;
      // Assignments made in one turn travel in one message: fewer frames, same order.
      const tail = outbox.tail();
      if (wire.kind.case === 'proceed' && tail?.kind.case === 'proceed') {
        tail.kind.value.assignments.push(...wire.kind.value.assignments);
        return;
      }
      outbox.push(wire);
    },
    closeAll(reason) {
      for (const [id, outbox] of sessions) {
        sessions.delete(id);
        outbox.close(new ConnectError(reason, Code.Unavailable));
      }
    },
  };
}
