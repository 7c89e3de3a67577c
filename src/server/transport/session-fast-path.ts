// transport/: the one port (HTTP/1.1 + HTTP/2) and the hand-written gRPC paths that bypass connect-node.
// Imports codec/ and src/wire; services/ and runtime/ for types only (test/architecture/walls.test.ts).
import type * as http2 from 'node:http2';
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { createMethodSerializationLookup, validateReadWriteMaxBytes } from '@connectrpc/connect/protocol';
import { setTrailerStatus } from '@connectrpc/connect/protocol-grpc';
import { createEnvelopeReader, incompleteEnvelope } from '../../wire/envelope-reader.js';
import { ProtoWriter } from '../../wire/protowire.js';
import type { Principal } from '../auth/policy.js';
import { principalOf } from '../auth/principal.js';
import {
  CoordinatorMessageSchema,
  type WorkerMessage,
  WorkerMessageSchema,
  WorkerService,
} from '../codec/proto.js';
import { DEFAULT_MAX_REQUEST_BYTES, requestTooLarge } from '../codec/request-limit.js';
import { decodeWorkerMessage, writeCoordinatorEnvelope } from '../codec/session-codec.js';
import { binaryParseFailure } from '../codec/utf8-fault.js';
import type { Outbox, OutMessage } from '../runtime/worker-sessions.js';
import type { SessionCall } from '../services/worker-service.js';
import type { NodeHandler } from './one-port.js';

export interface SessionFastPathOptions {
  /** Starts a session: WorkerServiceImpl.open, with the principal the auth gate found. */
  readonly open: (outbox: Outbox, principal?: Principal) => SessionCall;
  /** What an error ending the call becomes on the wire (and whether it is logged): the error interceptor's job. */
  readonly mapError: (error: unknown) => ConnectError;
  /** Everything else: the next handler, unchanged. */
  readonly fallback: NodeHandler;
  /** A worker message larger than this ends the session with RESOURCE_EXHAUSTED (`--max-request-bytes`). */
  readonly maxRequestBytes?: number;
}

const method = WorkerService.method.session;
const PATH = `/${WorkerService.typeName}/${method.name}`;
const RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc+proto' } as const;

const trailersOf = (error: ConnectError | undefined): Record<string, string> => {
  const out: Record<string, string> = {};
  setTrailerStatus(new Headers(), error).forEach((value, key) => {
    out[key] = value;
  });
  return out;
};

/**
 * WorkerService.Session over gRPC on HTTP/2 without connect-node's stream pipeline. A session
 * carries a few small messages per task, and connect-node spends ~0.1–0.2 ms of CPU on each
 * (chained async generators, docs/transport-notes.md §5); here a DATA chunk is split into
 * length-prefixed messages that are decoded and applied at once, and everything the coordinator
 * pushes to the worker in one turn (assignments, acks) leaves in one write.
 *
 * Same contract as connect's handler: the same session core (WorkerServiceImpl.open), connect's
 * own (de)serializers, error texts and trailers (`setTrailerStatus`, through `mapError` as the
 * error interceptor does), a trailers-only response for a call that fails before its first
 * message. Taken: POST of exactly this path over HTTP/2 as `application/grpc` or
 * `application/grpc+proto` without request compression and without a deadline (`grpc-timeout`);
 * anything else (gRPC+JSON, compressed or deadlined calls, Connect or gRPC-web streams) goes to
 * `fallback`. Responses are never compressed (a server may always answer uncompressed).
 *
 * Replaces connect-node's bidi stream handler for the Session, and is kept for what
 * `npm run bench:e2e` measures of both in the same run (docs/benchmarks.md: 3.4x the tasks/s);
 * test/e2e/fleet.test.ts runs the whole fleet suite against both (`sessionFastPath` true / false).
 */
export function createSessionFastPath(options: SessionFastPathOptions): NodeHandler {
  const { open, mapError, fallback } = options;
  const maxBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const limit = { maxBytes, tooLarge: (bytes: number) => requestTooLarge(bytes, maxBytes) };
  const serialization = createMethodSerializationLookup(
    method,
    undefined,
    undefined,
    validateReadWriteMaxBytes(undefined, undefined, undefined),
  );
  const parse = serialization.getI(true).parse;
  const parseMessage = (bytes: Uint8Array): WorkerMessage => {
    try {
      return parse(bytes);
    } catch (error) {
      throw binaryParseFailure(WorkerMessageSchema, bytes, ConnectError.from(error, Code.Internal));
    }
  };
  const serialize = serialization.getO(true).serialize;
  const encodeSlow = (message: OutMessage): Uint8Array =>
    serialize(create(CoordinatorMessageSchema, message));

  const serve = (request: http2.Http2ServerRequest, response: http2.Http2ServerResponse): void => {
    const stream = response.stream;
    let pending: OutMessage[] = [];
    let scheduled = false;
    let closed = false;
    let closeError: unknown;
    let finished = false;
    let headersSent = false;
    let reading = true;

    /** The call is over from our side: the session core forgets the worker, trailers go out. */
    const finish = (error: unknown): void => {
      finished = true;
      reading = false;
      call.end(false);
      if (stream.destroyed || stream.closed) return;
      const trailers = trailersOf(error === undefined ? undefined : mapError(error));
      if (!headersSent) {
        headersSent = true;
        stream.respond({ ...RESPONSE_HEADERS, ...trailers }, { endStream: true });
        return;
      }
      // The compat layer's own 'wantTrailers' listener sends what addTrailers stored.
      response.addTrailers(trailers);
      stream.end();
    };

    const flush = (): void => {
      scheduled = false;
      if (finished) return;
      if (pending.length > 0) {
        const messages = pending;
        pending = [];
        let frames: Buffer;
        try {
          const w = new ProtoWriter(256 + 128 * messages.length);
          for (const m of messages) writeCoordinatorEnvelope(w, m, encodeSlow);
          frames = w.finish();
        } catch (error) {
          finish(error);
          return;
        }
        if (!headersSent) {
          headersSent = true;
          stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
        }
        stream.write(frames);
      }
      if (closed) finish(closeError);
    };

    const schedule = (): void => {
      if (scheduled) return;
      scheduled = true;
      queueMicrotask(flush);
    };

    const outbox: Outbox = {
      push(message) {
        if (closed) return;
        pending.push(message);
        schedule();
      },
      tail: () => pending[pending.length - 1],
      close(error) {
        if (closed) return;
        closed = true;
        closeError = error;
        reading = false;
        schedule();
      },
      get closed() {
        return closed;
      },
    };
    const call = open(outbox, principalOf(request));

    // The client went away (RST_STREAM, connection lost) before the call ended.
    response.once('close', () => {
      if (finished) return;
      finished = true;
      reading = false;
      closed = true;
      call.end(true);
    });

    const envelopes = createEnvelopeReader({ limit, compressedCode: Code.InvalidArgument });
    const stillReading = (): boolean => reading;
    request.on('data', (chunk: Buffer) => {
      if (!reading) return;
      try {
        envelopes.push(
          chunk,
          (bytes) => call.receive(decodeWorkerMessage(bytes) ?? parseMessage(bytes)),
          stillReading,
        );
      } catch (error) {
        outbox.close(error);
      }
    });
    request.once('end', () => {
      if (!reading) return;
      if (envelopes.partial) {
        outbox.close(incompleteEnvelope());
        return;
      }
      call.halfClose();
    });
  };

  return function sessionFastPath(request, response) {
    const headers = request.headers;
    const type = headers['content-type'];
    const encoding = headers['grpc-encoding'];
    if (
      request.url === PATH &&
      request.method === 'POST' &&
      request.httpVersionMajor === 2 &&
      (type === 'application/grpc' || type === 'application/grpc+proto') &&
      (encoding === undefined || encoding === 'identity') &&
      headers['grpc-timeout'] === undefined
    ) {
      serve(request as http2.Http2ServerRequest, response as http2.Http2ServerResponse);
      return;
    }
    fallback(request, response);
  };
}
