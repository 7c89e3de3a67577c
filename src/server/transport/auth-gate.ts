// transport/: the one port (HTTP/1.1 + HTTP/2) and the hand-written gRPC paths that bypass connect-node.
// Imports codec/, auth/ and src/wire; services/ and runtime/ for types only (test/architecture/walls.test.ts).
import * as http2 from 'node:http2';
import { Code, ConnectError } from '@connectrpc/connect';
import { setTrailerStatus } from '@connectrpc/connect/protocol-grpc';
import { decide, isPublic, type Principal } from '../auth/policy.js';
import { attachPrincipal } from '../auth/principal.js';
import { bearerToken, type Verifier } from '../auth/tokens.js';
import type { NodeHandler } from './one-port.js';

/** What is logged of a refused request (never the token). */
export interface Refusal {
  readonly route: string;
  readonly code: 'unauthenticated' | 'permission-denied';
  readonly message: string;
  /** Who the token named, when it named anyone. */
  readonly principal?: string;
  readonly remote?: string;
}

export interface AuthGateOptions {
  readonly verify: Verifier;
  /**
   * The policy key of a request (policy.ts): `package.Service/Method` for an RPC path or the REST
   * route bound to one, `VERB /path` for anything else.
   */
  readonly routeOf: (verb: string, path: string) => string;
  /**
   * Routes whose calls stay open: those the gate keeps track of while they last, so that a
   * revoked token's calls can be ended (replaceVerifier). A unary call ends by itself soon.
   */
  readonly streamingRoutes: ReadonlySet<string>;
  /** Called once per refused request. */
  readonly refused: (refusal: Refusal) => void;
  /** The server's handler, for the requests let through. */
  readonly next: NodeHandler;
}

/** The gate in front of the server's handler, whose tokens can be replaced while it runs. */
export interface AuthGate {
  readonly handle: NodeHandler;
  /**
   * Checks every call from now on with `verify` (the auth file reloaded), and ends the calls in
   * flight whose token it no longer knows, or knows with another role or worker id: a revoked
   * worker's session and an event watch end at once, rather than when they next reconnect.
   * Returns how many calls it ended.
   */
  replaceVerifier(verify: Verifier): number;
}

type Request = Parameters<NodeHandler>[0];
type Response = Parameters<NodeHandler>[1];

const TOKEN_PARAM = /(?:^|&)(?:access_)?token=/i;

/** The refusal in the caller's own protocol: gRPC and gRPC-Web read a status, the rest JSON. */
function answer(request: Request, response: Response, refusal: Refusal): void {
  const type = request.headers['content-type'] ?? '';
  const unauthenticated = refusal.code === 'unauthenticated';
  if (type.startsWith('application/grpc')) {
    const error = new ConnectError(
      refusal.message,
      unauthenticated ? Code.Unauthenticated : Code.PermissionDenied,
    );
    const headers: Record<string, string> = { 'content-type': type.split(';', 1)[0] as string };
    setTrailerStatus(new Headers(), error).forEach((value, key) => {
      headers[key] = value;
    });
    if ('stream' in response) {
      // Trailers-only: one HEADERS frame with the status, as gRPC clients expect.
      const stream = (response as http2.Http2ServerResponse).stream;
      if (!stream.destroyed && !stream.headersSent)
        stream.respond({ ':status': 200, ...headers }, { endStream: true });
      return;
    }
    response.writeHead(200, headers);
    response.end();
    return;
  }
  const body = JSON.stringify({
    code: unauthenticated ? 'unauthenticated' : 'permission_denied',
    message: refusal.message,
  });
  response.writeHead(unauthenticated ? 401 : 403, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    ...(unauthenticated ? { 'www-authenticate': 'Bearer realm="baton"' } : {}),
  });
  response.end(body);
}

/**
 * Checks the bearer token of every request before any path (unary or session fast path,
 * connect-node, REST, /metrics) sees it, so one check holds for all of them. A request let
 * through carries its principal (principal.ts) for handlers that bind a worker id. The decision
 * itself is policy.ts's; this file only reads the header and writes the refusal.
 */
export function createAuthGate(options: AuthGateOptions): AuthGate {
  const { routeOf, streamingRoutes, refused, next } = options;
  let verify = options.verify;
  // The last authorization header each connection sent, and who it named: an HTTP/2 connection
  // (or a kept-alive HTTP/1.1 one) repeats the same header on every call, and hashing it and
  // comparing with every stored hash each time is most of the gate's cost. Comparing a header
  // with the one the same connection sent before reveals nothing the client does not know.
  let seen = new WeakMap<object, { readonly header: string; readonly principal: Principal | undefined }>();
  // The streaming calls let through with a token and not yet ended, for replaceVerifier.
  const inFlight = new Map<Response, { readonly token: string; readonly principal: Principal }>();
  const principalFor = (request: Request, header: string, token: string): Principal | undefined => {
    const connection: object =
      'stream' in request
        ? ((request as http2.Http2ServerRequest).stream.session ?? request.socket)
        : request.socket;
    const last = seen.get(connection);
    if (last !== undefined && last.header === header) return last.principal;
    const principal = verify(token);
    seen.set(connection, { header, principal });
    return principal;
  };
  const handle: NodeHandler = (request, response) => {
    const url = request.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const verb = request.method === 'HEAD' ? 'GET' : (request.method ?? 'GET');
    const route = routeOf(verb, path);
    if (isPublic(route)) {
      next(request, response);
      return;
    }
    let principal: Principal | undefined;
    let token: string | undefined;
    let why: string;
    if (q >= 0 && TOKEN_PARAM.test(url.slice(q + 1))) {
      why = '?token= is refused (a token in a URL ends up in logs and histories)';
    } else {
      const header = request.headers.authorization;
      token = bearerToken(header);
      if (token === undefined) why = 'missing bearer token';
      else {
        principal = principalFor(request, header as string, token);
        why = 'unknown bearer token';
      }
    }
    const decision = decide(route, principal, why);
    if (decision.allowed) {
      attachPrincipal(request, principal as Principal);
      if (token !== undefined && principal !== undefined && streamingRoutes.has(route)) {
        inFlight.set(response, { token, principal });
        response.once('close', () => inFlight.delete(response));
      }
      next(request, response);
      return;
    }
    const refusal: Refusal = {
      route,
      code: decision.code,
      message: decision.message,
      ...(principal === undefined ? {} : { principal: principal.name }),
      ...(request.socket.remoteAddress === undefined ? {} : { remote: request.socket.remoteAddress }),
    };
    refused(refusal);
    answer(request, response, refusal);
  };
  const replaceVerifier = (next: Verifier): number => {
    verify = next;
    seen = new WeakMap();
    let ended = 0;
    for (const [response, call] of inFlight) {
      const now = next(call.token);
      if (now !== undefined && now.role === call.principal.role && now.workerId === call.principal.workerId)
        continue;
      inFlight.delete(response);
      ended++;
      // The call's own handler owns the response; cutting the stream (or the HTTP/1.1 connection,
      // which carries only this call) is what ends it from here. The client sees the call fail,
      // and its next call meets the new tokens.
      if ('stream' in response)
        (response as http2.Http2ServerResponse).stream.close(http2.constants.NGHTTP2_CANCEL);
      else response.socket?.destroy();
    }
    return ended;
  };
  return { handle, replaceVerifier };
}
