// A Transport over every replica of one coordinator: each call goes to the leader, and follows it.
import type { DescMethod } from '@bufbuild/protobuf';
import { MethodOptions_IdempotencyLevel } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type Transport } from '@connectrpc/connect';
import { createAsyncIterable } from '@connectrpc/connect/protocol';
import { backoffDelay, sleep } from './backoff.js';
import { createReplicaUrls, failoverOf, leaderNamedBy } from './replica-urls.js';

export interface ReplicaTransportOptions {
  /** Every replica's base URL (`baton serve` on one PostgreSQL database), in the order to try them. */
  readonly urls: readonly string[];
  /** The transport to one replica; made once per URL, when a call first goes there. */
  readonly transportAt: (url: string) => Transport;
  /**
   * Whether a call whose answer was lost (the replica went away after it was sent) may be sent
   * again. Default: the method's declared `idempotency_level` (NO_SIDE_EFFECTS or IDEMPOTENT).
   */
  readonly repeatable?: (method: DescMethod) => boolean;
  /** How long one call keeps looking for the leader before it fails with the last error. Default 15 s. */
  readonly failoverMs?: number;
  /** The timeout of a call that gives none, over all its attempts. Unset: none. */
  readonly defaultTimeoutMs?: number;
}

/** The declared idempotency of a method: reads, and writes whose repeat changes nothing. */
export const declaredIdempotent = (method: DescMethod): boolean =>
  method.idempotency !== MethodOptions_IdempotencyLevel.IDEMPOTENCY_UNKNOWN;

/** Between rounds of the list while no replica leads yet (a takeover takes a few seconds). */
const ROUND_BACKOFF = { initialDelayMs: 50, maxDelayMs: 1_000 };

/**
 * Wraps the transports to several replicas as one. A unary call, or the opening of a server
 * stream, refused by a standby goes again to the leader it names at once; one that found nobody
 * at a URL goes to the next, round the list with a backoff, until a replica leads or
 * `failoverMs` (or the call's own timeout) runs out. Neither was applied anywhere, so this holds
 * for every method. A call whose replica went away after it was sent may have been applied: it
 * goes again only if `repeatable`, and otherwise fails with a message saying so (the next call
 * goes to the next replica). Bidi streams (the rate-limit stream) are only sent to the current
 * replica, and their failure moves it on: their input cannot be replayed here, and their clients
 * reconnect and resend on their own. With a single URL a call only follows a leader a standby
 * names: there is no other replica to try.
 */
export function createReplicaTransport(options: ReplicaTransportOptions): Transport {
  const replicas = createReplicaUrls(options.urls);
  const single = options.urls.length === 1;
  const repeatable = options.repeatable ?? declaredIdempotent;
  const failoverMs = options.failoverMs ?? 15_000;
  const transports = new Map<string, Transport>();
  const transportOf = (url: string): Transport => {
    let transport = transports.get(url);
    if (transport === undefined) {
      transport = options.transportAt(url);
      transports.set(url, transport);
    }
    return transport;
  };

  /** Runs `run` at the leader, going again as this factory's comment says. */
  const call = async <T>(
    method: DescMethod,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    run: (transport: Transport, url: string, timeoutMs: number | undefined) => Promise<T>,
  ): Promise<T> => {
    timeoutMs ??= options.defaultTimeoutMs;
    const started = Date.now();
    const giveUpAt = started + Math.min(failoverMs, timeoutMs ?? Number.POSITIVE_INFINITY);
    let repeatedAfterLoss = false;
    for (let round = 0; ; round++) {
      const url = replicas.current();
      const left = timeoutMs === undefined ? undefined : Math.max(1, timeoutMs - (Date.now() - started));
      try {
        return await run(transportOf(url), url, left);
      } catch (e) {
        const error = ConnectError.from(e);
        const failover = failoverOf(error);
        if (failover === undefined) {
          if (repeatedAfterLoss && error.code === Code.AlreadyExists) throw repeatNoted(error);
          throw error;
        }
        replicas.ended(error, url);
        if (single && replicas.current() === url) throw error;
        if (failover === 'lost' && !repeatable(method)) throw lostNoted(error, method, url);
        if (signal?.aborted || Date.now() >= giveUpAt) throw error;
        repeatedAfterLoss ||= failover === 'lost';
        const named = leaderNamedBy(error) !== undefined && replicas.current() !== url;
        if (!named) await sleep(backoffDelay(round, ROUND_BACKOFF), signal);
        if (signal?.aborted || Date.now() >= giveUpAt) throw error;
      }
    }
  };

  /** Messages of a stream from `url`; a failure moves the replicas on (the caller reconnects). */
  async function* observed<T>(messages: AsyncIterable<T>, url: string): AsyncIterable<T> {
    try {
      yield* messages;
    } catch (e) {
      replicas.ended(ConnectError.from(e), url);
      throw e;
    }
  }

  return {
    unary: (method, signal, timeoutMs, header, input, contextValues) =>
      call(method, signal, timeoutMs, (transport, _url, left) =>
        transport.unary(method, signal, left, header, input, contextValues),
      ),
    async stream(method, signal, timeoutMs, header, input, contextValues) {
      if (method.methodKind !== 'server_streaming') {
        const url = replicas.current();
        try {
          const response = await transportOf(url).stream(
            method,
            signal,
            timeoutMs ?? options.defaultTimeoutMs,
            header,
            input,
            contextValues,
          );
          return { ...response, message: observed(response.message, url) };
        } catch (e) {
          replicas.ended(ConnectError.from(e), url);
          throw e;
        }
      }
      const request = replayable(input);
      return call(method, signal, timeoutMs, async (transport, url, left) => {
        const response = await transport.stream(method, signal, left, header, request(), contextValues);
        // Over the Connect protocol a standby's refusal is the stream's end, not its headers:
        // the first message is read here, so that a refused opening goes again like a unary call.
        const messages = response.message[Symbol.asyncIterator]();
        const first = await messages.next();
        return { ...response, message: observed(resumed(first, messages), url) };
      });
    },
  };
}

/**
 * A server stream's request for each attempt: the first reads `input` as it is sent (so the
 * call goes out as early as without replicas), later ones send what it read again.
 */
function replayable<T>(input: AsyncIterable<T>): () => AsyncIterable<T> {
  let sent: { readonly message: T } | undefined;
  async function* recording(): AsyncIterable<T> {
    for await (const message of input) {
      sent = { message };
      yield message;
    }
  }
  return () => (sent === undefined ? recording() : createAsyncIterable([sent.message]));
}

/** A stream whose first result was read already, then the rest of it; ends the rest if left early. */
async function* resumed<T>(first: IteratorResult<T>, rest: AsyncIterator<T>): AsyncIterable<T> {
  try {
    if (first.done === true) return;
    yield first.value;
    for (;;) {
      const next = await rest.next();
      if (next.done === true) return;
      yield next.value;
    }
  } finally {
    await rest.return?.();
  }
}

/** An ALREADY_EXISTS that answered a repeat: it may be refusing the first attempt's own change. */
const repeatNoted = (error: ConnectError): ConnectError =>
  noted(
    error,
    'this call was sent again after its first answer was lost in a failover: the first attempt may have made it',
  );

/** A non-repeatable call whose replica went away before it answered (not one that answered UNAVAILABLE). */
function lostNoted(error: ConnectError, method: DescMethod, url: string): ConnectError {
  if (!(error.cause instanceof Error)) return error;
  return noted(
    error,
    `${url} went away before answering ${method.name}: it may or may not have been applied, and it ` +
      'is not sent again since it is not idempotent; check, then retry',
  );
}

/** The same error, its message followed by `note`. */
function noted(error: ConnectError, note: string): ConnectError {
  const copy = new ConnectError(
    `${error.rawMessage} (${note})`,
    error.code,
    error.metadata,
    undefined,
    error.cause,
  );
  copy.details = error.details;
  return copy;
}
