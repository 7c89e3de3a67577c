import * as http2 from 'node:http2';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, type Transport } from '@connectrpc/connect';
import {
  createMethodSerializationLookup,
  getAbortSignalReason,
  validateReadWriteMaxBytes,
} from '@connectrpc/connect/protocol';
import { validateResponse, validateTrailer } from '@connectrpc/connect/protocol-grpc';
import { createAsyncQueue } from '../wire/async-queue.js';
import { createEnvelopeReader, incompleteEnvelope } from '../wire/envelope-reader.js';
import { ProtoWriter } from '../wire/protowire.js';
import { type ConnectionOptions, connectionHeaders } from './connection.js';
import { type CoordinatorMessage, type WorkerMessageSchema, WorkerService } from './proto.js';
import { decodeCoordinatorMessage, writeWorkerEnvelope } from './session-codec.js';

type WorkerMessageInit = MessageInitShape<typeof WorkerMessageSchema>;

/** The worker's half of a WorkerService.Session: what it writes. */
export interface SessionChannel {
  /** Queues a message; messages queued in the same turn of the event loop go out together. Ignored once closed. */
  push(message: WorkerMessageInit): void;
  /** Half-closes the call once everything queued is written. Idempotent. */
  close(): void;
}

export interface OpenedSession {
  readonly channel: SessionChannel;
  /**
   * Settles when the coordinator has ended the call: resolves on an OK status, rejects with a
   * ConnectError otherwise (an error status, a broken connection, or `signal` aborted).
   */
  readonly done: Promise<void>;
}

/**
 * Starts one Session call. Each message the coordinator sends is given to `onMessage` in order;
 * if `onMessage` throws, the call is cancelled and `done` rejects with that error.
 */
export type OpenSession = (
  signal: AbortSignal,
  onMessage: (message: CoordinatorMessage) => void,
) => OpenedSession;

/** Through a connect Transport (one the caller gave, e.g. createRouterTransport in tests). */
export function connectSessions(transport: Transport): OpenSession {
  const client = createClient(WorkerService, transport);
  return (signal, onMessage) => {
    const queue = createAsyncQueue<WorkerMessageInit>();
    const done = (async () => {
      for await (const message of client.session(queue, { signal })) onMessage(message);
    })();
    return { channel: queue, done };
  };
}

const method = WorkerService.method.session;
const serialization = createMethodSerializationLookup(
  method,
  undefined,
  undefined,
  validateReadWriteMaxBytes(undefined, undefined, undefined),
);
const serialize = serialization.getI(true).serialize;
const encodeSlow = (message: WorkerMessageInit): Uint8Array => serialize(create(method.input, message));
const parse = serialization.getO(true).parse;

interface Pooled {
  readonly key: string;
  readonly session: http2.ClientHttp2Session;
  calls: number;
  idle: NodeJS.Timeout | undefined;
}

/** How long an HTTP/2 connection without calls is kept for the next one (a reconnecting worker). */
const IDLE_CLOSE_MS = 15_000;

/**
 * One HTTP/2 connection per coordinator origin, shared by the Session calls of every worker in
 * the process (as grpc-js shares channels): a process running many workers then costs the
 * coordinator one socket, one read and one write per turn for all of them instead of one each.
 * A connection that fails, is closed or told to go away is forgotten, and the next call opens a
 * new one. Without calls a connection does not keep the process alive, and closes after a while.
 */
const pool = new Map<string, Pooled>();

function acquire(origin: string, ca: ConnectionOptions['ca']): Pooled {
  // One connection per origin and trusted CA: a TLS connection is only as good as what checked it.
  const key = ca === undefined ? origin : `${origin}\n${ca.toString()}`;
  const found = pool.get(key);
  if (found !== undefined && !found.session.closed && !found.session.destroyed) {
    found.calls++;
    if (found.idle !== undefined) {
      clearTimeout(found.idle);
      found.idle = undefined;
    }
    found.session.ref();
    return found;
  }
  const session = ca === undefined ? http2.connect(origin) : http2.connect(origin, { ca });
  const entry: Pooled = { key, session, calls: 1, idle: undefined };
  const forget = (): void => {
    if (pool.get(key) === entry) pool.delete(key);
    if (entry.idle !== undefined) clearTimeout(entry.idle);
  };
  // Errors reach the calls through their streams; the connection is only forgotten.
  session.on('error', forget);
  session.once('goaway', forget);
  session.once('close', forget);
  pool.set(key, entry);
  return entry;
}

function release(entry: Pooled): void {
  const key = entry.key;
  entry.calls--;
  if (entry.calls > 0 || entry.session.destroyed) return;
  entry.session.unref();
  if (pool.get(key) !== entry) {
    entry.session.close();
    return;
  }
  entry.idle = setTimeout(() => {
    entry.idle = undefined;
    if (entry.calls > 0) return;
    if (pool.get(key) === entry) pool.delete(key);
    entry.session.close();
  }, IDLE_CLOSE_MS);
  entry.idle.unref();
}

/**
 * Session calls as gRPC over HTTP/2 with node:http2 directly: the SDK's default. connect-node's
 * client runs every message through a pipeline of async generators and a write callback
 * (~0.1 ms of CPU per message, docs/transport-notes.md §5); here messages queued in one turn go
 * out in one write, and each DATA chunk is split into messages handed to `onMessage` at once.
 * Errors are connect's: statuses and details from `validateResponse`/`validateTrailer`, Node and
 * HTTP/2 failures mapped as connect-node maps them.
 */
export function grpcSessions(baseUrl: string, connection: ConnectionOptions = {}): OpenSession {
  const url = new URL(baseUrl);
  const origin = url.origin;
  const path = `${url.pathname.replace(/\/+$/, '')}/${WorkerService.typeName}/${method.name}`;

  return (signal, onMessage) => {
    let settled = false;
    let resolveDone!: () => void;
    let rejectDone!: (error: ConnectError) => void;
    const done = new Promise<void>((resolve, reject) => {
      resolveDone = resolve;
      rejectDone = reject;
    });
    let out: WorkerMessageInit[] = [];
    let flushing: NodeJS.Immediate | undefined;
    let writeClosed = false;
    let ended = false;
    let stream: http2.ClientHttp2Stream | undefined;
    let pooled: Pooled | undefined;
    let header: Headers | undefined;
    let trailer: Headers | undefined;
    let foundStatus = false;

    const cleanup = (): void => {
      signal.removeEventListener('abort', onAbort);
      if (flushing !== undefined) clearImmediate(flushing);
      flushing = undefined;
      out = [];
      if (pooled !== undefined) {
        const p = pooled;
        pooled = undefined;
        release(p);
      }
    };
    const succeed = (): void => {
      if (settled) return;
      settled = true;
      cleanup();
      // The coordinator ended the call; end our side too, so the stream closes.
      if (stream !== undefined && !stream.destroyed && !ended) {
        ended = true;
        stream.end();
      }
      resolveDone();
    };
    const fail = (error: ConnectError): void => {
      if (settled) return;
      settled = true;
      cleanup();
      if (stream !== undefined && !stream.destroyed) {
        const code =
          error.code === Code.Canceled
            ? http2.constants.NGHTTP2_CANCEL
            : http2.constants.NGHTTP2_INTERNAL_ERROR;
        stream.close(code);
      }
      rejectDone(error);
    };
    function onAbort(): void {
      fail(ConnectError.from(getAbortSignalReason(signal), Code.Canceled));
    }

    const flush = (): void => {
      flushing = undefined;
      if (settled || stream === undefined) return;
      if (out.length > 0) {
        const messages = out;
        out = [];
        let frames: Buffer;
        try {
          const w = new ProtoWriter(256 + 64 * messages.length);
          for (const m of messages) writeWorkerEnvelope(w, m, encodeSlow);
          frames = w.finish();
        } catch (error) {
          fail(ConnectError.from(error, Code.Internal));
          return;
        }
        stream.write(frames);
      }
      if (writeClosed && !ended) {
        ended = true;
        stream.end();
      }
    };
    const schedule = (): void => {
      if (flushing === undefined && !settled) flushing = setImmediate(flush);
    };

    const channel: SessionChannel = {
      push(message) {
        if (writeClosed || settled) return;
        out.push(message);
        schedule();
      },
      close() {
        if (writeClosed) return;
        writeClosed = true;
        schedule();
      },
    };

    const envelopes = createEnvelopeReader();
    const open = (): boolean => !settled;
    const onData = (chunk: Buffer): void => {
      if (settled) return;
      try {
        envelopes.push(chunk, (bytes) => onMessage(decodeCoordinatorMessage(bytes) ?? parse(bytes)), open);
      } catch (error) {
        fail(ConnectError.from(error));
      }
    };

    const onEnd = (): void => {
      if (settled) return;
      if (envelopes.partial) {
        fail(incompleteEnvelope());
        return;
      }
      if (!foundStatus) {
        try {
          validateTrailer(trailer ?? new Headers(), header ?? new Headers());
        } catch (error) {
          fail(ConnectError.from(error));
          return;
        }
      }
      succeed();
    };

    if (signal.aborted) {
      onAbort();
      return { channel, done };
    }
    signal.addEventListener('abort', onAbort);
    try {
      pooled = acquire(origin, connection.ca);
      stream = pooled.session.request({
        ':method': 'POST',
        ':path': path,
        'content-type': 'application/grpc+proto',
        te: 'trailers',
        'user-agent': 'baton-worker',
        ...connectionHeaders(connection),
      });
    } catch (error) {
      fail(connectErrorFromNodeReason(error));
      return { channel, done };
    }
    stream.on('response', (headers) => {
      header = webHeaders(headers);
      try {
        const validated = validateResponse(Number(headers[':status'] ?? 0), header);
        if (validated.headerError !== undefined) throw validated.headerError;
        foundStatus = validated.foundStatus;
        const encoding = header.get('grpc-encoding');
        if (encoding !== null && encoding.toLowerCase() !== 'identity') {
          throw new ConnectError(`unsupported response encoding "${encoding}"`, Code.Internal, header);
        }
      } catch (error) {
        fail(ConnectError.from(error));
      }
    });
    stream.on('trailers', (headers) => {
      trailer = webHeaders(headers);
    });
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', (error: Error) => {
      // Writing after the coordinator ended the call is not the call's error.
      if (stream?.writableEnded && errorCodes(error).includes('ERR_STREAM_WRITE_AFTER_END')) return;
      fail(connectErrorFromNodeReason(error));
    });
    stream.on('close', () => {
      if (settled) return;
      const byReset = connectErrorFromH2ResetCode(stream?.rstCode ?? 0);
      fail(byReset ?? new ConnectError('http/2 stream closed before the call ended', Code.Unavailable));
    });
    return { channel, done };
  };
}

function webHeaders(headers: http2.IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [key, value] of Object.entries(headers)) {
    if (key.startsWith(':') || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.append(key, v);
    else out.append(key, String(value));
  }
  return out;
}

function errorCodes(reason: unknown): string[] {
  const codes: string[] = [];
  const seen = new Set<unknown>();
  for (let r = reason; r instanceof Error && !seen.has(r); r = (r as { cause?: unknown }).cause) {
    seen.add(r);
    const code = (r as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
  }
  return codes;
}

/** As connect-node maps a Node.js error (its node-error.js, not exported). */
function connectErrorFromNodeReason(reason: unknown): ConnectError {
  const codes = errorCodes(reason);
  let code = Code.Internal;
  if (codes.includes('ERR_STREAM_WRITE_AFTER_END')) code = Code.Aborted;
  else if (
    codes.some((c) => c === 'ERR_STREAM_DESTROYED' || c === 'ERR_HTTP2_INVALID_STREAM' || c === 'ECONNRESET')
  )
    code = Code.Aborted;
  else if (
    codes.some((c) => c === 'ETIMEDOUT' || c === 'ENOTFOUND' || c === 'EAI_AGAIN' || c === 'ECONNREFUSED')
  )
    code = Code.Unavailable;
  const error = ConnectError.from(reason, code);
  if (error !== reason) error.cause = reason;
  return error;
}

const H2_CODES: Record<number, [string, Code]> = {
  1: ['PROTOCOL_ERROR', Code.Internal],
  2: ['INTERNAL_ERROR', Code.Internal],
  3: ['FLOW_CONTROL_ERROR', Code.Internal],
  4: ['SETTINGS_TIMEOUT', Code.Internal],
  6: ['FRAME_SIZE_ERROR', Code.Internal],
  7: ['REFUSED_STREAM', Code.Unavailable],
  8: ['CANCEL', Code.Canceled],
  9: ['COMPRESSION_ERROR', Code.Internal],
  10: ['CONNECT_ERROR', Code.Internal],
  11: ['ENHANCE_YOUR_CALM', Code.ResourceExhausted],
  12: ['INADEQUATE_SECURITY', Code.PermissionDenied],
  13: ['HTTP_1_1_REQUIRED', Code.PermissionDenied],
};

/** As connect-node maps an RST_STREAM code (STREAM_CLOSED and NO_ERROR are not errors). */
function connectErrorFromH2ResetCode(rstCode: number): ConnectError | undefined {
  const known = H2_CODES[rstCode];
  if (known === undefined) return undefined;
  return new ConnectError(
    `http/2 stream closed with error code ${known[0]} (0x${rstCode.toString(16)})`,
    known[1],
  );
}
