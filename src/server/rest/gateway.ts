// rest/: the REST gateway under /api/coordination, its routes read from the proto annotations.
// Imports src/core, src/gen and codec/ (test/architecture/walls.test.ts).
import {
  create,
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescService,
  fromJson,
  type JsonObject,
  type JsonValue,
} from '@bufbuild/protobuf';
import { isFieldError } from '@bufbuild/protobuf/reflect';
import {
  Code,
  ConnectError,
  type ContextValues,
  createHandlerContext,
  type HandlerContext,
} from '@connectrpc/connect';
import { codeToString } from '@connectrpc/connect/protocol-connect';
import type { ConnectNodeAdapterOptions } from '@connectrpc/connect-node';
import { isBatonError } from '../../core/errors.js';
import { httpStatusOf, toConnectError } from '../codec/errors.js';
import { DEFAULT_MAX_REQUEST_BYTES, requestTooLarge } from '../codec/request-limit.js';
import {
  BadRequest,
  checkRequestJson,
  eventName,
  queryToJson,
  refuseContradiction,
  restJson,
  setPath,
  wordsToEnums,
} from './json.js';
import {
  bestForVerb,
  matchingRoutes,
  type RestRoute,
  type RouteMatch,
  restPath,
  restRoutes,
} from './routes.js';

export interface RestGatewayOptions {
  /**
   * The services whose `google.api.http` options give the routes, each with its implementation:
   * the same object the Connect router serves, so both sides agree.
   */
  readonly services: readonly { readonly service: DescService; readonly implementation: object }[];
  /** Where unexpected errors go; clients only ever see "internal error". */
  readonly log: (error: unknown) => void;
  /** Larger bodies are refused with 413 (`--max-request-bytes`). Default 16 MiB. */
  readonly maxBodyBytes?: number;
  /** How often an idle event stream gets a comment line, so proxies keep it open. Default 15 s. */
  readonly keepAliveMs?: number;
  /** A handler context's values, as connectNodeAdapter's `contextValues` (the caller's principal). */
  readonly contextValues?: (request: Request) => ContextValues;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/** The adapter's fallback type: Node's HTTP/1.1 and HTTP/2 requests alike. */
export type FallbackHandler = NonNullable<ConnectNodeAdapterOptions['fallback']>;
type Request = Parameters<FallbackHandler>[0];

/** What the gateway uses of `http.ServerResponse` and `http2.Http2ServerResponse` alike. */
interface Response {
  writeHead(status: number, headers: Record<string, string | number>): unknown;
  write(chunk: string): boolean;
  end(chunk?: string): unknown;
  once(event: 'close' | 'drain', listener: () => void): unknown;
  off(event: 'close' | 'drain', listener: () => void): unknown;
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
  readonly destroyed: boolean;
}

type UnaryFn = (request: unknown, context: HandlerContext) => unknown;
type StreamFn = (request: unknown, context: HandlerContext) => AsyncIterable<unknown>;

/** A failure with its own HTTP status that has no Connect code of its own (405, 413). */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: Code,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

function sendJson(
  response: Response,
  status: number,
  body: JsonValue,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': JSON_TYPE,
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  response.end(text);
}

async function readBody(request: Request, limit: number): Promise<string> {
  const tooLarge = (bytes: number) =>
    new HttpError(413, Code.ResourceExhausted, requestTooLarge(bytes, limit).rawMessage, {
      connection: 'close',
    });
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > limit) throw tooLarge(declared);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(size);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseBody(text: string, route: RestRoute): JsonValue | undefined {
  if (text.trim() === '') return route.body === '*' ? {} : undefined;
  let json: JsonValue;
  try {
    json = JSON.parse(text) as JsonValue;
  } catch (error) {
    throw new BadRequest(`request body is not valid JSON: ${(error as Error).message}`);
  }
  if (route.body === '*' && (typeof json !== 'object' || json === null || Array.isArray(json)))
    throw new BadRequest('request body must be a JSON object');
  return json;
}

const requestHeaders = (request: Request): Headers => {
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) {
    if (name.startsWith(':') || value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  return headers;
};

const isHttp1 = (request: Request): boolean => request.httpVersionMajor === 1;

const JSON_MEDIA = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * What a write must look like. Cross-site request forgery: any web page can make a browser send
 * a "simple" POST (a form or text/plain body, or none) to a coordinator on 127.0.0.1, and one
 * `POST /stop` is forever on a durable store. So a write must come from no browser page or from
 * this origin (browsers always send `Origin` with a POST), and carry JSON or nothing: a browser
 * sends JSON across origins only after a CORS preflight, which this server never grants. The
 * body is read as it comes, so a compressed one is refused here rather than as "not valid JSON".
 */
function refuseUnsafeWrite(request: Request): void {
  if (request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS') return;
  const origin = request.headers.origin;
  if (typeof origin === 'string') {
    // Behind a proxy that rewrites Host, the page's host arrives as X-Forwarded-Host: a page
    // cannot set that header on a cross-site request without a preflight.
    const hosts = [
      request.headers[':authority'] ?? request.headers.host,
      request.headers['x-forwarded-host'],
    ];
    let host: string | undefined;
    try {
      host = new URL(origin).host;
    } catch {
      host = undefined;
    }
    if (host === undefined || !hosts.includes(host)) {
      throw new HttpError(403, Code.PermissionDenied, `cross-origin write refused (Origin ${origin})`);
    }
  }
  const type = request.headers['content-type'];
  if (type !== undefined && !JSON_MEDIA.test(type)) {
    const message = `request bodies are JSON: content-type ${type} is refused`;
    throw new HttpError(415, Code.InvalidArgument, message, { accept: 'application/json' });
  }
  const encoding = request.headers['content-encoding'];
  if (encoding !== undefined && encoding !== 'identity') {
    const message = `content-encoding ${encoding} is not supported`;
    throw new HttpError(415, Code.InvalidArgument, message, { 'accept-encoding': 'identity' });
  }
}

/**
 * The seed's REST API on the same port as gRPC and Connect: the routes come from the service's
 * `google.api.http` options, each request is decoded with proto3 JSON into the RPC's request
 * message, handed to the very function the Connect router calls, and the answer encoded back,
 * with enum values as the seed's words (`pending`, `round-robin`). A server-streaming route
 * answers with Server-Sent Events. Installed as the Connect adapter's fallback: it sees every
 * request that is not an RPC path.
 */
export function createRestGateway(options: RestGatewayOptions): FallbackHandler {
  const { log } = options;
  const implementations = new Map(options.services.map((s) => [s.service, s.implementation]));
  const implementationOf = (method: DescMethod): Record<string, unknown> =>
    implementations.get(method.parent) as Record<string, unknown>;
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const keepAliveMs = options.keepAliveMs ?? 15_000;
  const routes = restRoutes(options.services.map((s) => s.service));
  for (const route of routes) {
    const kind = route.method.methodKind;
    if (kind !== 'unary' && kind !== 'server_streaming')
      throw new Error(`${route.method.name}: REST cannot serve ${kind} methods`);
    if (typeof implementationOf(route.method)[route.method.localName] !== 'function')
      throw new Error(`${route.method.name} has a REST route but no implementation`);
  }

  const sendError = (response: Response, error: unknown): void => {
    if (error instanceof HttpError) {
      sendJson(
        response,
        error.status,
        { code: codeToString(error.code), message: error.message },
        error.headers,
      );
      return;
    }
    if (error instanceof BadRequest) {
      const field = error.field === undefined ? {} : { field: error.field };
      sendJson(response, 400, { code: 'invalid_argument', message: error.message, ...field });
      return;
    }
    const connectError = toConnectError(error);
    if (connectError.rawMessage === 'internal error') log(error);
    const body: JsonObject = { code: codeToString(connectError.code), message: connectError.rawMessage };
    // The core's details name the field, the task and, e.g., the unknown deps or the cycle.
    if (isBatonError(error)) {
      if (error.field !== undefined) body.field = error.field;
      if (error.taskId !== undefined) body.taskId = error.taskId;
      if (error.data !== undefined) body.data = JSON.parse(JSON.stringify(error.data)) as JsonObject;
    }
    sendJson(response, httpStatusOf(connectError.code), body);
  };

  const route = (request: Request, path: string): RouteMatch => {
    const verb = request.method === 'HEAD' ? 'GET' : (request.method ?? 'GET');
    const matched = matchingRoutes(routes, path);
    if (matched.length === 0) throw new HttpError(404, Code.NotFound, `no route for ${path}`);
    const best = bestForVerb(matched, verb);
    if (best === undefined) {
      const allow = [
        ...new Set(matched.flatMap((m) => (m.route.verb === 'GET' ? ['GET', 'HEAD'] : [m.route.verb]))),
      ];
      throw new HttpError(405, Code.Unimplemented, `${request.method} is not allowed on ${path}`, {
        allow: allow.join(', '),
      });
    }
    return best;
  };

  /** Path variables, the body and the query string as the RPC's request message. */
  const decode = async (
    request: Request,
    url: URL,
    r: RestRoute,
    vars: Map<string, string>,
  ): Promise<unknown> => {
    const schema = r.method.input;
    const text = await readBody(request, maxBody);
    const body = parseBody(text, r);
    const bodyField = r.body;
    if (bodyField === '*') checkRequestJson(schema, body ?? {});
    else if (bodyField?.fieldKind === 'message') checkRequestJson(bodyField.message, body ?? {});
    if (body !== undefined) {
      const asRequest = bodyField === '*' || bodyField === undefined ? body : { [bodyField.jsonName]: body };
      for (const [name, value] of vars) refuseContradiction(schema, asRequest, name, value);
      // A body the route does not read would be ignored, and whatever it asked for not done
      // (`{}` asks for nothing).
      const empty = typeof body === 'object' && body !== null && Object.keys(body).length === 0;
      if (bodyField === undefined && !empty)
        throw new BadRequest(
          `${r.verb} ${r.template} takes no request body: its fields go in the path and the query string`,
        );
    }
    const pathFields = new Set<DescField>();
    for (const name of vars.keys()) {
      const top = schema.fields.find((f) => f.name === name.split('.')[0]);
      if (top !== undefined) pathFields.add(top);
    }
    const bound = (field: DescField): boolean =>
      bodyField === '*' || field === bodyField || pathFields.has(field);
    const query = queryToJson(schema, url.searchParams, bound);
    // With `body: "*"` the query binds nothing (checked above), so the parsed body is the request.
    const json = bodyField === '*' ? (body as JsonObject) : query;
    if (bodyField !== '*' && bodyField !== undefined && body !== undefined) json[bodyField.jsonName] = body;
    for (const [name, value] of vars) setPath(schema, json, name, value);
    if (r.method.methodKind === 'server_streaming') {
      // An EventSource reconnecting names the last event it saw: resume right after it.
      const lastEventId = request.headers['last-event-id'];
      const since = schema.fields.find((f) => f.name === 'since_sequence');
      if (typeof lastEventId === 'string' && lastEventId !== '' && since !== undefined) {
        if (!/^\d+$/.test(lastEventId)) throw new BadRequest(`Last-Event-ID must be a sequence number`);
        json[since.jsonName] = lastEventId;
      }
    }
    wordsToEnums(schema, json);
    try {
      return fromJson(schema, json);
    } catch (error) {
      // What the checks above let through (a Timestamp, a query value): the field, by its name.
      const cause = (error as Error).cause;
      const at = isFieldError(cause) ? cause.field() : undefined;
      const field = at === undefined ? undefined : 'jsonName' in at ? at.jsonName : at.localName;
      throw new BadRequest(`invalid request: ${(error as Error).message}`, field);
    }
  };

  const unary = async (
    response: Response,
    r: RestRoute,
    message: unknown,
    context: HandlerContext,
  ): Promise<void> => {
    const implementation = implementationOf(r.method);
    const fn = implementation[r.method.localName] as UnaryFn;
    const output = await fn.call(implementation, message, context);
    const json = restJson(r.method.output, output) as JsonObject;
    const body = r.responseBody === undefined ? json : (json[r.responseBody.jsonName] ?? null);
    const headers: Record<string, string> = {};
    context.responseHeader.forEach((value, name) => {
      headers[name] = value;
    });
    sendJson(response, 200, body, headers);
  };

  const stream = async (
    request: Request,
    response: Response,
    method: DescMethod,
    message: unknown,
    context: HandlerContext,
  ): Promise<void> => {
    const implementation = implementationOf(method);
    const fn = implementation[method.localName] as StreamFn;
    const it = fn.call(implementation, message, context)[Symbol.asyncIterator]();
    let next = it.next();
    // A request the method refuses before it waits for anything gets an HTTP status, not a stream.
    const early = await Promise.race([
      next.then(
        () => undefined,
        (error: unknown) => ({ error }),
      ),
      new Promise<undefined>((resolve) => setImmediate(resolve, undefined)),
    ]);
    if (early !== undefined) throw early.error;

    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
      ...(isHttp1(request) ? { connection: 'keep-alive' } : {}),
    });
    const format = sseFormat(method.output);
    let writable = true;
    const send = async (text: string): Promise<void> => {
      if (!writable || response.destroyed) return;
      if (response.write(text)) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          response.off('drain', done);
          response.off('close', done);
          resolve();
        };
        response.once('drain', done);
        response.once('close', done);
      });
    };
    const keepAlive = setInterval(() => void send(': keep-alive\n\n'), keepAliveMs);
    keepAlive.unref();
    try {
      await send(`retry: 1000\n${ssePreamble(method.input, message)}\n`);
      for (;;) {
        const result = await next;
        if (result.done || response.destroyed) break;
        for (const text of format(result.value)) await send(text);
        next = it.next();
      }
    } catch (error) {
      const connectError = toConnectError(error);
      if (connectError.rawMessage === 'internal error') log(error);
      const data = JSON.stringify({
        code: codeToString(connectError.code),
        message: connectError.rawMessage,
      });
      await send(`event: error\ndata: ${data}\n\n`);
    } finally {
      clearInterval(keepAlive);
      writable = false;
      if (!response.writableEnded) response.end();
      void it.return?.();
    }
  };

  const handle = async (request: Request, res: Response): Promise<void> => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const path = restPath(url.pathname);
    const aborted = new AbortController();
    const onClose = () => aborted.abort(new ConnectError('the client went away', Code.Canceled));
    res.once('close', onClose);
    let context: ReturnType<typeof createHandlerContext> | undefined;
    try {
      const { route: r, vars } = route(request, path);
      refuseUnsafeWrite(request);
      const message = await decode(request, url, r, vars);
      context = createHandlerContext({
        service: r.method.parent,
        method: r.method,
        protocolName: 'rest',
        requestMethod: request.method ?? 'GET',
        url: url.toString(),
        requestSignal: aborted.signal,
        requestHeader: requestHeaders(request),
        ...(options.contextValues === undefined ? {} : { contextValues: options.contextValues(request) }),
      });
      if (r.method.methodKind === 'server_streaming') await stream(request, res, r.method, message, context);
      else await unary(res, r, message, context);
    } catch (error) {
      if (res.headersSent || res.destroyed) {
        if (!res.writableEnded) res.end();
        return;
      }
      sendError(res, error);
    } finally {
      res.off('close', onClose);
      context?.abort();
    }
  };

  return (request, response) => {
    const res = response as unknown as Response;
    handle(request, res).catch((error: unknown) => {
      log(error);
      if (!res.writableEnded) res.end();
    });
  };
}

/**
 * The comment line an event stream opens with, for a stream that can replay (its request has a
 * `since_sequence`): says whether it is live from now or replays first. Without it `curl -N` on a
 * quiet coordinator shows nothing but `retry: 1000`, and a reader cannot tell why. EventSource
 * ignores comments.
 */
function ssePreamble(input: DescMessage, message: unknown): string {
  const since = input.fields.find((f) => f.name === 'since_sequence');
  if (since === undefined) return '';
  const value = (message as Record<string, unknown>)[since.localName];
  return value === undefined
    ? ': live: events from now on (add ?since_sequence=0 to replay the retained ones first)\n'
    : `: replaying retained events after sequence ${String(value)}, then live\n`;
}

/**
 * How a streamed response becomes Server-Sent Events. A response that is only a list of
 * messages (`WatchEventsResponse.events`) gives one event per element; an element's `sequence`
 * is the SSE `id:` (what Last-Event-ID sends back) and its `kind` enum the `event:` name.
 */
function sseFormat(output: DescMessage): (message: unknown) => string[] {
  const [only, ...others] = output.fields;
  const list =
    others.length === 0 && only?.fieldKind === 'list' && only.listKind === 'message' ? only : undefined;
  const frame = (schema: DescMessage, json: JsonValue): string => {
    const fields = json as JsonObject;
    const lines: string[] = [];
    const sequence = schema.fields.find((f) => f.name === 'sequence');
    const kind = schema.fields.find((f) => f.name === 'kind' && f.fieldKind === 'enum');
    if (sequence !== undefined && fields[sequence.jsonName] !== undefined)
      lines.push(`id: ${String(fields[sequence.jsonName])}`);
    const word = kind === undefined ? undefined : fields[kind.jsonName];
    if (typeof word === 'string' && kind?.enum !== undefined)
      lines.push(`event: ${eventName(kind.enum, word)}`);
    lines.push(`data: ${JSON.stringify(json)}`);
    return `${lines.join('\n')}\n\n`;
  };
  if (list === undefined) return (message) => [frame(output, restJson(output, message))];
  const element = list.message;
  return (message) => {
    const items = (create(output, message as never) as unknown as Record<string, unknown[]>)[list.localName];
    return (items ?? []).map((item) => frame(element, restJson(element, item)));
  };
}
