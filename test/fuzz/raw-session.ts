import * as http2 from 'node:http2';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  type CoordinatorMessage,
  CoordinatorMessageSchema,
  WorkerMessageSchema,
} from '../../src/server/codec/proto.js';
import type { WorkerMessageInit } from '../support/session-messages.js';
import { envelope } from './grpc-requests.js';

/** What a session's stream brought: a message, or its end with the gRPC status. */
export type SessionEvent =
  | { readonly message: CoordinatorMessage }
  | { readonly end: { readonly code: number; readonly message: string; readonly httpStatus: number } };

/**
 * WorkerService.Session over a raw HTTP/2 stream: messages as a worker writes them, or any bytes
 * at all (forged envelopes); what comes back is decoded envelope by envelope.
 */
export interface RawSession {
  send(message: WorkerMessageInit): void;
  sendBytes(bytes: Uint8Array): void;
  /** The next message or the end, or undefined if none comes within `ms`. */
  next(ms?: number): Promise<SessionEvent | undefined>;
  /** Everything that has arrived and not been taken yet, after waiting `ms` for more. */
  drain(ms: number): Promise<SessionEvent[]>;
  halfClose(): void;
  cancel(): void;
  readonly ended: boolean;
}

const PATH = '/coord.v1.WorkerService/Session';

export function openRawSession(
  session: http2.ClientHttp2Session,
  headers: Readonly<Record<string, string>> = {},
): RawSession {
  const stream = session.request({
    ':method': 'POST',
    ':path': PATH,
    'content-type': 'application/grpc',
    te: 'trailers',
    ...headers,
  });
  const events: SessionEvent[] = [];
  let wake: (() => void) | undefined;
  let buffered = Buffer.alloc(0);
  let httpStatus = 0;
  let ended = false;
  const all: Record<string, string> = {};
  const push = (e: SessionEvent) => {
    events.push(e);
    wake?.();
  };
  const keep = (h: http2.IncomingHttpHeaders) => {
    for (const [k, v] of Object.entries(h)) if (v !== undefined) all[k] = String(v);
  };
  const finish = () => {
    if (ended) return;
    ended = true;
    push({
      end: {
        code: all['grpc-status'] === undefined ? -1 : Number(all['grpc-status']),
        message: decodeURIComponent(all['grpc-message'] ?? ''),
        httpStatus,
      },
    });
  };
  stream.on('response', (h) => {
    httpStatus = Number(h[':status']);
    keep(h);
  });
  stream.on('trailers', keep);
  stream.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 5) {
      const size = buffered.readUInt32BE(1);
      if (buffered.length < 5 + size) break;
      const bytes = buffered.subarray(5, 5 + size);
      buffered = buffered.subarray(5 + size);
      push({ message: fromBinary(CoordinatorMessageSchema, bytes) });
    }
  });
  stream.on('error', () => {});
  // The server's END_STREAM ends the call; the stream closes only once this side ends too.
  stream.on('end', finish);
  stream.on('close', finish);

  const next = async (ms = 3000): Promise<SessionEvent | undefined> => {
    if (events.length > 0) return events.shift();
    const arrived = new Promise<void>((resolve) => {
      wake = resolve;
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    });
    await Promise.race([arrived, timeout]);
    clearTimeout(timer);
    wake = undefined;
    return events.shift();
  };

  return {
    send(message) {
      if (!stream.writable) return;
      stream.write(envelope(toBinary(WorkerMessageSchema, create(WorkerMessageSchema, message))));
    },
    sendBytes(bytes) {
      if (stream.writable) stream.write(bytes);
    },
    next,
    async drain(ms) {
      await new Promise((resolve) => setTimeout(resolve, ms));
      return events.splice(0);
    },
    halfClose() {
      if (stream.writable) stream.end();
    },
    cancel() {
      stream.close(http2.constants.NGHTTP2_CANCEL);
    },
    get ended() {
      return ended;
    },
  };
}
