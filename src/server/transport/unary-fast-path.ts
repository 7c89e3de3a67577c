// transport/: the one port (HTTP/1.1 + HTTP/2) and the hand-written gRPC paths that bypass connect-node.
// Imports codec/ and src/wire; services/ and runtime/ for types only (test/architecture/walls.test.ts).
import type * as http from 'node:http';
import type * as http2 from 'node:http2';
import {
  create,
  type DescMessage,
  type DescMethod,
  type DescService,
  type JsonReadOptions,
  type JsonWriteOptions,
} from '@bufbuild/protobuf';
import {
  Code,
  ConnectError,
  type ConnectRouter,
  type ContextValues,
  createContextValues,
  type HandlerContext,
} from '@connectrpc/connect';
import {
  type Compression,
  compressionNegotiate,
  createMethodSerializationLookup,
  type MethodSerializationLookup,
  validateReadWriteMaxBytes,
} from '@connectrpc/connect/protocol';
import {
  codeToHttpStatus,
  errorToJsonBytes,
  parseTimeout as parseConnectTimeout,
} from '@connectrpc/connect/protocol-connect';
import { parseTimeout as parseGrpcTimeout, setTrailerStatus } from '@connectrpc/connect/protocol-grpc';
import { compressionBrotli, compressionGzip } from '@connectrpc/connect-node';
import { DEFAULT_MAX_REQUEST_BYTES, requestTooLarge } from '../codec/request-limit.js';
import { binaryParseFailure } from '../codec/utf8-fault.js';
import type { NodeHandler } from './one-port.js';

/** A service and its implementation, as handed to `router.service(...)`. */
export type FastPathService = readonly [service: DescService, impl: object];

export interface UnaryFastPathOptions {
  readonly services: readonly FastPathService[];
  /**
   * What a handler's error becomes on the wire; plays the part of an error interceptor and sees
   * only what the handler throws (decode errors are sent as they are, as connect does). Default:
   * ConnectErrors as they are, anything else `Internal` "internal error".
   */
  readonly mapError?: (error: unknown) => ConnectError;
  /** Everything the fast path does not take: the connectNodeAdapter handler, unchanged. */
  readonly fallback: NodeHandler;
  /** Response compressions, as connectNodeAdapter's `acceptCompression`. Default gzip, br. */
  readonly acceptCompression?: readonly Compression[];
  /**
   * Hand-written binary encoders by output message type name, tried before protobuf-es; one that
   * returns undefined leaves that message to protobuf-es.
   */
  readonly encoders?: ReadonlyMap<string, (message: unknown) => Uint8Array | undefined>;
  /** Connect JSON options, as connectNodeAdapter's `jsonOptions` (pass the same to both). */
  readonly jsonOptions?: Partial<JsonReadOptions & JsonWriteOptions>;
  /** A handler context's values, as connectNodeAdapter's `contextValues`; built only if a handler reads them. */
  readonly contextValues?: (request: NodeRequest) => ContextValues;
  /**
   * A request message larger than this is refused with RESOURCE_EXHAUSTED as soon as its size is
   * known, and its body is not kept (`--max-request-bytes`; connectNodeAdapter's `readMaxBytes`).
   */
  readonly maxRequestBytes?: number;
}

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;
type UnaryFn = (request: unknown, context: HandlerContext) => unknown;

interface Route {
  readonly method: DescMethod;
  readonly service: DescService;
  readonly impl: UnaryFn;
  readonly serialization: MethodSerializationLookup<DescMessage, DescMessage>;
  readonly encode: ((message: unknown) => Uint8Array | undefined) | undefined;
}

/** The protocols the fast path speaks; anything else goes to the fallback. */
const GRPC = 0;
const CONNECT_PROTO = 1;
const CONNECT_JSON = 2;
const OTHER = 3;
type Wire = typeof GRPC | typeof CONNECT_PROTO | typeof CONNECT_JSON | typeof OTHER;

const CONNECT_JSON_TYPE = /^application\/json(?:; ?charset=utf-?8)?$/i;
const GRPC_OK_TRAILERS = { 'grpc-status': '0' } as const;
const noTimeout = (): undefined => undefined;

/** Anything thrown, as connect's handlers send it (also the default `mapError`). */
const asConnectError = (error: unknown): ConnectError =>
  error instanceof ConnectError
    ? error
    : new ConnectError('internal error', Code.Internal, undefined, undefined, error);

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';

function wireOf(request: NodeRequest): Wire {
  const headers = request.headers;
  const type = headers['content-type'];
  if (type === undefined) return OTHER;
  if (type === 'application/grpc' || type === 'application/grpc+proto') {
    const encoding = headers['grpc-encoding'];
    if (request.httpVersionMajor !== 2 || (encoding !== undefined && encoding !== 'identity')) return OTHER;
    return GRPC;
  }
  let wire: Wire;
  if (type === 'application/proto') wire = CONNECT_PROTO;
  else if (type === 'application/json' || CONNECT_JSON_TYPE.test(type)) wire = CONNECT_JSON;
  else return OTHER;
  const encoding = headers['content-encoding'];
  if (encoding !== undefined && encoding !== 'identity') return OTHER;
  const version = headers['connect-protocol-version'];
  if (version !== undefined && version !== '1') return OTHER;
  return wire;
}

/** One length-prefixed message, with the errors connect's envelope pipeline raises. */
function grpcMessageBytes(body: Buffer): Buffer {
  if (body.length === 0)
    throw new ConnectError('protocol error: missing input message for unary method', Code.Unimplemented);
  const incomplete = () => new ConnectError('protocol error: incomplete envelope', Code.InvalidArgument);
  if (body.length < 5) throw incomplete();
  const end = 5 + body.readUInt32BE(1);
  if (body.length < end) throw incomplete();
  // connect answers Internal; a flag the client set without grpc-encoding is its own mistake.
  if ((body[0] as number) & 0b1)
    throw new ConnectError(
      'received compressed envelope, but do not know how to decompress',
      Code.InvalidArgument,
    );
  const rest = body.length - end;
  if (rest > 0) {
    if (rest >= 5 && rest >= 5 + body.readUInt32BE(end + 1))
      throw new ConnectError(
        'protocol error: received extra input message for unary method',
        Code.Unimplemented,
      );
    throw incomplete();
  }
  return body.subarray(5, end);
}

/**
 * The HandlerContext of one call, built lazily: our unary handlers never touch it, and connect's
 * eager one (two AbortControllers, three Headers, a DOMException per call) is most of the GC
 * pressure of a unary call. Whatever a handler does touch behaves as connect's: `signal` aborts on
 * deadline, on the client going away and when the call ends; headers it sets are sent.
 */
class FastContext implements HandlerContext {
  readonly requestMethod = 'POST';
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;
  private onClose: (() => void) | undefined;
  private reqHeader: Headers | undefined;
  resHeader: Headers | undefined;
  resTrailer: Headers | undefined;
  private ctxValues: ContextValues | undefined;

  constructor(
    readonly method: DescMethod,
    readonly service: DescService,
    readonly protocolName: string,
    private readonly request: NodeRequest,
    private readonly response: NodeResponse,
    private readonly deadline: number | undefined,
    private readonly valuesOf: ((request: NodeRequest) => ContextValues) | undefined,
  ) {}

  get timeoutMs(): () => number | undefined {
    const deadline = this.deadline;
    return deadline === undefined ? noTimeout : () => deadline - Date.now();
  }

  get signal(): AbortSignal {
    if (this.controller !== undefined) return this.controller.signal;
    const controller = new AbortController();
    this.controller = controller;
    if (this.ended) {
      controller.abort();
      return controller.signal;
    }
    if (this.deadline !== undefined) {
      const abort = () =>
        controller.abort(new ConnectError('the operation timed out', Code.DeadlineExceeded));
      const left = this.deadline - Date.now();
      if (left <= 0) abort();
      else this.timer = setTimeout(abort, left);
    }
    this.onClose = () => {
      if (!this.ended) controller.abort(new ConnectError('operation was aborted', Code.Canceled));
    };
    this.response.once('close', this.onClose);
    return controller.signal;
  }

  get requestHeader(): Headers {
    if (this.reqHeader === undefined) {
      const header = new Headers();
      for (const [key, value] of Object.entries(this.request.headers)) {
        if (key.startsWith(':') || value === undefined) continue;
        if (Array.isArray(value)) for (const v of value) header.append(key, v);
        else header.append(key, String(value));
      }
      this.reqHeader = header;
    }
    return this.reqHeader;
  }

  get responseHeader(): Headers {
    this.resHeader ??= new Headers();
    return this.resHeader;
  }

  get responseTrailer(): Headers {
    this.resTrailer ??= new Headers();
    return this.resTrailer;
  }

  get values(): ContextValues {
    this.ctxValues ??= this.valuesOf?.(this.request) ?? createContextValues();
    return this.ctxValues;
  }

  get url(): string {
    const request = this.request;
    const authority = 'authority' in request ? request.authority : request.headers.host;
    const encrypted = 'encrypted' in request.socket && request.socket.encrypted === true;
    return new URL(
      request.url ?? '',
      `${encrypted ? 'https' : 'http'}://${authority ?? 'localhost'}`,
    ).toString();
  }

  /** The call is over: like connect, abort the signal if anyone holds it. */
  end(reason?: unknown): void {
    this.ended = true;
    if (this.controller === undefined) return;
    clearTimeout(this.timer);
    if (this.onClose !== undefined) this.response.off('close', this.onClose);
    this.controller.abort(reason);
  }
}

const addHeaders = (target: Record<string, string | string[]>, from: Headers | undefined, prefix = '') => {
  from?.forEach((value, key) => {
    target[prefix + key] = value;
  });
};

/**
 * A fast path for unary RPCs in front of connect-node's adapter. connect-node runs every gRPC
 * call through ~8 chained async generators and 3 AbortControllers (docs/transport-notes.md §5),
 * ~1.2–2.1 ms of CPU per call; this buffers the body, decodes, calls the implementation and
 * writes the answer in one go, with connect's own serializers, error texts and status mapping.
 *
 * Taken: POST `/<service>/<Method>` of a unary method, as gRPC over HTTP/2 (`application/grpc` or
 * `application/grpc+proto`, no request compression) or Connect unary (`application/proto` or
 * `application/json`, no `content-encoding`, `connect-protocol-version` absent or 1). Everything
 * else (streams, gRPC-web, gRPC+JSON, compressed requests, GET, unknown paths, HTTP/1.1 gRPC)
 * goes to `fallback` untouched. Interceptors of the adapter do not run here: `mapError` is the
 * one hook, for the error interceptor.
 *
 * Replaces connect-node's unary handler, and is kept for what `npm run bench:unary` measures of
 * both in the same run (docs/benchmarks.md: 0.78 of raw HTTP/2 against 0.20, 3.9x);
 * test/server/unary-fast-path.test.ts holds both paths to the same answers.
 */
export function createUnaryFastPath(options: UnaryFastPathOptions): NodeHandler {
  const { fallback } = options;
  const mapError = options.mapError ?? asConnectError;
  const acceptCompression = [...(options.acceptCompression ?? [compressionGzip, compressionBrotli])];
  const maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const limits = validateReadWriteMaxBytes(maxRequestBytes, undefined, undefined);
  const routes = new Map<string, Route>();
  for (const [service, impl] of options.services) {
    for (const method of service.methods) {
      if (method.methodKind !== 'unary') continue;
      const fn = (impl as Record<string, unknown>)[method.localName];
      if (typeof fn !== 'function') continue; // connect answers Unimplemented
      routes.set(`/${service.typeName}/${method.name}`, {
        method,
        service,
        impl: (fn as UnaryFn).bind(impl),
        serialization: createMethodSerializationLookup(method, undefined, options.jsonOptions, limits),
        encode: options.encoders?.get(method.output.typeName),
      });
    }
  }

  // Response compression, as connect negotiates it; the accept headers repeat, so remember them.
  const negotiated = new Map<string, Compression | null>();
  const responseCompression = (accepted: string | string[] | undefined): Compression | null => {
    if (typeof accepted !== 'string' || accepted === '') return null;
    let found = negotiated.get(accepted);
    if (found === undefined) {
      found = compressionNegotiate(acceptCompression, null, accepted, 'accept-encoding').response;
      if (negotiated.size < 64) negotiated.set(accepted, found);
    }
    return found;
  };

  const sendGrpc = (
    response: NodeResponse,
    context: FastContext,
    compression: Compression | null,
    frame: Buffer,
  ) => {
    const res = response as http2.Http2ServerResponse;
    const stream = res.stream;
    if (stream.destroyed || stream.headersSent) return;
    const headers: Record<string, string | string[]> = {
      ':status': '200',
      'content-type': 'application/grpc+proto',
    };
    addHeaders(headers, context.resHeader);
    if (compression !== null) headers['grpc-encoding'] = compression.name;
    if (context.resTrailer === undefined) {
      res.addTrailers(GRPC_OK_TRAILERS);
    } else {
      const trailers: Record<string, string | string[]> = {};
      addHeaders(trailers, context.resTrailer);
      trailers['grpc-status'] = '0';
      res.addTrailers(trailers);
    }
    // The compat layer's own 'wantTrailers' listener sends what addTrailers stored.
    stream.respond(headers, { waitForTrailers: true });
    stream.end(frame);
  };

  const failGrpc = (response: NodeResponse, context: FastContext | undefined, error: ConnectError) => {
    const stream = (response as http2.Http2ServerResponse).stream;
    if (stream.destroyed || stream.headersSent) return;
    // Trailers-only: one HEADERS frame with the status.
    const headers: Record<string, string | string[]> = {
      ':status': '200',
      'content-type': 'application/grpc+proto',
    };
    addHeaders(headers, context?.resHeader);
    addHeaders(headers, context?.resTrailer);
    addHeaders(headers, setTrailerStatus(new Headers(), error));
    stream.respond(headers, { endStream: true });
  };

  const sendConnect = (
    response: NodeResponse,
    status: number,
    headers: Record<string, string>,
    body: Uint8Array,
  ) => {
    headers['content-length'] = String(body.byteLength);
    if ('stream' in response) {
      const stream = response.stream;
      if (stream.destroyed || stream.headersSent) return;
      headers[':status'] = String(status);
      stream.respond(headers);
      stream.end(body);
    } else {
      if (response.headersSent || response.destroyed) return;
      response.writeHead(status, headers);
      response.end(body);
    }
  };

  const connectHeaders = (context: FastContext | undefined, type: string): Record<string, string> => {
    const headers: Record<string, string> = {};
    addHeaders(headers, context?.resHeader);
    addHeaders(headers, context?.resTrailer, 'trailer-');
    headers['content-type'] = type;
    return headers;
  };

  const finishConnect = (
    request: NodeRequest,
    response: NodeResponse,
    status: number,
    headers: Record<string, string>,
    body: Uint8Array,
  ) => {
    const compression =
      body.byteLength >= limits.compressMinBytes
        ? responseCompression(request.headers['accept-encoding'])
        : null;
    if (compression === null) {
      sendConnect(response, status, headers, body);
      return;
    }
    compression.compress(body).then(
      (compressed) => {
        headers['content-encoding'] = compression.name;
        sendConnect(response, status, headers, compressed);
      },
      () => sendConnect(response, status, headers, body),
    );
  };

  const failConnect = (
    request: NodeRequest,
    response: NodeResponse,
    context: FastContext | undefined,
    error: ConnectError,
  ) => {
    const headers = connectHeaders(context, 'application/json');
    error.metadata.forEach((value, key) => {
      headers[key] = value;
    });
    finishConnect(
      request,
      response,
      codeToHttpStatus(error.code),
      headers,
      errorToJsonBytes(error, undefined),
    );
  };

  /** Answers a request over the limit; over HTTP/1.1 the connection closes, so the rest of the body is never read. */
  const refuseTooLarge = (wire: Wire, request: NodeRequest, response: NodeResponse, bytes: number): void => {
    const error = requestTooLarge(bytes, maxRequestBytes);
    if (wire === GRPC) {
      failGrpc(response, undefined, error);
      return;
    }
    if (request.httpVersionMajor === 1) response.setHeader('connection', 'close');
    failConnect(request, response, undefined, error);
  };

  const serve = (
    route: Route,
    wire: Wire,
    request: NodeRequest,
    response: NodeResponse,
    body: Buffer,
  ): void => {
    const grpc = wire === GRPC;
    const binary = wire !== CONNECT_JSON;
    const fail = (context: FastContext | undefined, error: ConnectError): void => {
      if (grpc) failGrpc(response, context, error);
      else failConnect(request, response, context, error);
    };

    let deadline: number | undefined;
    const timeout = request.headers[grpc ? 'grpc-timeout' : 'connect-timeout-ms'];
    if (typeof timeout === 'string') {
      const parsed = grpc
        ? parseGrpcTimeout(timeout, Number.MAX_SAFE_INTEGER)
        : parseConnectTimeout(timeout, Number.MAX_SAFE_INTEGER);
      if (parsed.error !== undefined) {
        fail(undefined, parsed.error);
        return;
      }
      if (parsed.timeoutMs !== undefined) deadline = Date.now() + parsed.timeoutMs;
    }

    let input: unknown;
    let bytes: Uint8Array | undefined;
    try {
      bytes = grpc ? grpcMessageBytes(body) : body;
      input = route.serialization.getI(binary).parse(bytes);
    } catch (error) {
      const refused = asConnectError(error);
      fail(
        undefined,
        binary && bytes !== undefined ? binaryParseFailure(route.method.input, bytes, refused) : refused,
      );
      return;
    }

    const context = new FastContext(
      route.method,
      route.service,
      grpc ? 'grpc' : 'connect',
      request,
      response,
      deadline,
      options.contextValues,
    );
    const failCall = (error: unknown): void => {
      const connectError = mapError(error);
      context.end(connectError);
      fail(context, connectError);
    };
    const succeed = (output: unknown): void => {
      let message: ReturnType<typeof create>;
      try {
        message = create(route.method.output, output as never);
      } catch (error) {
        failCall(error);
        return;
      }
      let bytes: Uint8Array;
      try {
        bytes =
          (binary ? route.encode?.(message) : undefined) ??
          route.serialization.getO(binary).serialize(message);
      } catch (error) {
        context.end(error);
        fail(context, asConnectError(error));
        return;
      }
      context.end();
      if (!grpc) {
        finishConnect(
          request,
          response,
          200,
          connectHeaders(context, binary ? 'application/proto' : 'application/json'),
          bytes,
        );
        return;
      }
      const compression = responseCompression(request.headers['grpc-accept-encoding']);
      if (compression === null || bytes.byteLength < limits.compressMinBytes) {
        sendGrpc(response, context, compression, envelope(0, bytes));
        return;
      }
      compression.compress(bytes).then(
        (compressed) => sendGrpc(response, context, compression, envelope(1, compressed)),
        (error: unknown) => failGrpc(response, context, asConnectError(error)),
      );
    };

    let output: unknown;
    try {
      output = route.impl(input, context);
    } catch (error) {
      failCall(error);
      return;
    }
    if (isThenable(output)) output.then(succeed, failCall);
    else succeed(output);
  };

  return function unaryFastPath(request, response) {
    const url = request.url ?? '';
    let route = routes.get(url);
    if (route === undefined) {
      const query = url.indexOf('?');
      if (query >= 0) route = routes.get(url.slice(0, query));
    }
    const wire = route === undefined || request.method !== 'POST' ? OTHER : wireOf(request);
    if (wire === OTHER) {
      fallback(request, response);
      return;
    }
    const found = route as Route;
    // gRPC's 5-byte envelope prefix is not part of the message the limit is about.
    const maxBody = maxRequestBytes + (wire === GRPC ? 5 : 0);
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > maxBody) {
      refuseTooLarge(wire, request, response, declared - (wire === GRPC ? 5 : 0));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    request.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      const first = chunks.length === 0 ? chunk : (chunks[0] as Buffer);
      const prefixed = wire === GRPC && first.length >= 5 ? first.readUInt32BE(1) : undefined;
      if (size <= maxBody && (prefixed === undefined || prefixed <= maxRequestBytes)) {
        chunks.push(chunk);
        return;
      }
      refused = true;
      chunks.length = 0;
      refuseTooLarge(wire, request, response, prefixed ?? size);
    });
    request.once('end', () => {
      if (refused) return;
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      serve(found, wire, request, response, body);
    });
  };
}

function envelope(flags: number, data: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + data.byteLength);
  frame[0] = flags;
  frame.writeUInt32BE(data.byteLength, 1);
  frame.set(data, 5);
  return frame;
}

/**
 * A ConnectRouter that also records each `router.service(desc, impl)` into `into`, so the fast
 * path serves exactly what the router serves. Services registered with per-service options
 * (other protocols, serialization options) are left to connect.
 */
export function recordServices(router: ConnectRouter, into: FastPathService[]): ConnectRouter {
  const recording: ConnectRouter = {
    get handlers() {
      return router.handlers;
    },
    service(service, implementation, options) {
      if (options === undefined) into.push([service, implementation]);
      router.service(service, implementation, options);
      return recording;
    },
    rpc(method, implementation, options) {
      router.rpc(method, implementation, options);
      return recording;
    },
  };
  return recording;
}
