// runtime/: the running coordinator wired to its store and listeners: group commit, sessions, events.
// Imports src/core, src/wire, codec/ and workspaces/ (test/architecture/walls.test.ts).
import type { MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import type { CoordinatorMessage as CoreMessage } from '../../core/messages.js';
import type { CoordinatorMessageSchema } from '../codec/proto.js';
import { BUDGET_SCOPE } from '../codec/wire.js';

/**
 * A message to a worker as an init shape: built without create() (the session fast path encodes
 * it directly; connect normalizes what a handler yields).
 */
export type OutMessage = MessageInitShape<typeof CoordinatorMessageSchema>;

/**
 * Where one session's messages to its worker go: connect's path drains an AsyncQueue, the session
 * fast path writes them to the HTTP/2 stream. A message pushed and not yet written is the `tail`;
 * `close(error)` ends the call once everything pushed before has gone out.
 */
export interface Outbox {
  push(message: OutMessage): void;
  /** The last message pushed and not yet written, to merge into. */
  tail(): OutMessage | undefined;
  close(error?: unknown): void;
  readonly closed: boolean;
}

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
  /** A message of the server's own (a workspace notice) to a connected worker; dropped if it is not. */
  push(workerId: string, message: OutMessage): void;
  closeAll(reason: string): void;
}

/** The wire form of what the coordinator says; undefined for bus-only messages (rate, rejected). */
function encode(message: CoreMessage): OutMessage | undefined {
  switch (message.type) {
    case 'coord:proceed': {
      const t = message.task;
      return {
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
      };
    }
    case 'coord:wait':
      return { kind: { case: 'wait', value: { reason: message.reason } } };
    case 'coord:cancel':
      return {
        kind: {
          case: 'cancel',
          value: { taskId: message.taskId, attempt: message.attempt, reason: message.reason },
        },
      };
    case 'coord:budget-stop':
      return {
        kind: {
          case: 'budgetStop',
          value: {
            scope: BUDGET_SCOPE[message.scope],
            reason: `${message.scope} budget of $${message.budgetUsd} is spent ($${message.spentUsd})`,
            spentUsd: message.spentUsd,
            budgetUsd: message.budgetUsd,
          },
        },
      };
    case 'coord:drain':
      return { kind: { case: 'drain', value: { reason: 'coordinator is draining' } } };
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
      if (wire.kind?.case === 'proceed' && tail?.kind?.case === 'proceed') {
        tail.kind.value.assignments ??= [];
        const merged: unknown[] = tail.kind.value.assignments;
        for (const a of wire.kind.value.assignments ?? []) merged.push(a);
        return;
      }
      outbox.push(wire);
    },
    push(workerId, message) {
      sessions.get(workerId)?.push(message);
    },
    closeAll(reason) {
      for (const [id, outbox] of sessions) {
        sessions.delete(id);
        outbox.close(new ConnectError(reason, Code.Unavailable));
      }
    },
  };
}
