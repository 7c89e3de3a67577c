// transport/: the one port (HTTP/1.1 + HTTP/2) and the hand-written gRPC paths that bypass connect-node.
// Imports codec/ and src/wire; services/ and runtime/ for types only (test/architecture/walls.test.ts).
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export type NodeHandler = (
  request: http.IncomingMessage | http2.Http2ServerRequest,
  response: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/** A certificate and its private key, PEM: the port then speaks TLS only. */
export interface TlsOptions {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

/** What a connection may hold of the port without using it (docs/security.md, "Limits"). */
export interface ConnectionLimits {
  /**
   * A new connection must have sent its first request's headers (HTTP/1.1), or the HTTP/2
   * preface (and TLS handshake), within this; a kept-alive HTTP/1.1 connection, the next
   * request's headers within this of their first byte. Slow loris: one byte every few seconds.
   */
  readonly headerTimeoutMs: number;
  /** A connection with no request in flight (HTTP/2: no open stream) is closed after this. */
  readonly idleTimeoutMs: number;
  /** HTTP/2 streams one connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly maxStreamsPerConnection: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  headerTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
  maxStreamsPerConnection: 1_000,
};

/** A timer that destroys one connection unless cleared; it never keeps the process alive. */
function deadline(expire: () => void): { set(ms: number): void; clear(): void } {
  let timer: NodeJS.Timeout | undefined;
  return {
    set(ms) {
      clearTimeout(timer);
      timer = setTimeout(expire, ms);
      timer.unref();
    },
    clear() {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}

export interface OnePortServer {
  listen(port: number, host: string): Promise<net.AddressInfo>;
  /** Stops accepting, ends idle connections, and resolves once every connection is gone. */
  close(): Promise<void>;
}

/**
 * One port for every client: gRPC clients (grpc-js, grpc-go, grpcio) open HTTP/2 with prior
 * knowledge, browsers and curl speak HTTP/1.1. In cleartext each connection's first bytes decide:
 * the HTTP/2 preface goes to the HTTP/2 server, anything else to the HTTP/1.1 server. With `tls`
 * the handshake's ALPN decides instead (`h2`, else HTTP/1.1), as every gRPC client over TLS
 * negotiates h2; both servers then read the decrypted socket exactly as they read a plain one.
 */
export function createOnePortServer(
  handler: NodeHandler,
  options: { readonly tls?: TlsOptions; readonly limits?: Partial<ConnectionLimits> } = {},
): OnePortServer {
  const limits = { ...DEFAULT_CONNECTION_LIMITS, ...options.limits };
  const h1 = http.createServer(handler as http.RequestListener);
  // What Keep-Alive advertises; the idle deadline below is what closes the connection.
  h1.keepAliveTimeout = limits.idleTimeoutMs;
  const h2 = http2.createServer(
    { settings: { maxConcurrentStreams: limits.maxStreamsPerConnection } },
    handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
  );
  const sessions = new Set<http2.Http2Session>();
  const sockets = new Map<net.Socket, ReturnType<typeof deadline>>();
  h2.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    // Idle means no open stream: a worker's session stream or a watcher keeps its connection.
    const timer = deadline(() => session.close());
    timer.set(limits.idleTimeoutMs);
    let open = 0;
    session.on('stream', (stream) => {
      open++;
      timer.clear();
      stream.once('close', () => {
        if (--open === 0 && !session.closed) timer.set(limits.idleTimeoutMs);
      });
    });
    session.once('close', () => timer.clear());
  });
  // The HTTP/1.1 server never listens itself, so Node does not track its connections:
  // closeIdleConnections() finds none, and its headersTimeout and requestTimeout never fire (they
  // are checked by a timer that listen() starts). Count in-flight requests per socket ourselves.
  const h1Busy = new Map<net.Socket, number>();
  let closing = false;
  h1.on('request', (request: http.IncomingMessage, response: http.ServerResponse) => {
    const socket = request.socket;
    h1Busy.set(socket, (h1Busy.get(socket) ?? 0) + 1);
    sockets.get(socket)?.clear();
    response.on('close', () => {
      const left = (h1Busy.get(socket) ?? 1) - 1;
      h1Busy.set(socket, left);
      if (closing && left === 0) socket.destroy();
      else if (left === 0) idleH1(socket);
    });
  });
  /** A kept-alive connection between requests: idle until the next request's first byte. */
  const idleH1 = (socket: net.Socket): void => {
    const timer = sockets.get(socket);
    if (timer === undefined) return;
    timer.set(limits.idleTimeoutMs);
    socket.once('data', () => {
      if (h1Busy.get(socket) === 0) timer.set(limits.headerTimeoutMs);
    });
  };

  /** Every connection starts with the header deadline: it must say something soon. */
  const track = (socket: net.Socket): void => {
    const timer = deadline(() => socket.destroy());
    timer.set(limits.headerTimeoutMs);
    sockets.set(socket, timer);
    socket.on('close', () => {
      timer.clear();
      sockets.delete(socket);
    });
    socket.on('error', () => socket.destroy());
    socket.setNoDelay(true);
  };
  const toHttp2 = (socket: net.Socket): void => {
    sockets.get(socket)?.clear(); // the preface came: from here on the session's idle deadline
    h2.emit('connection', socket);
  };
  const toHttp1 = (socket: net.Socket): void => {
    h1Busy.set(socket, 0);
    socket.on('close', () => h1Busy.delete(socket));
    h1.emit('connection', socket);
  };
  const server =
    options.tls !== undefined
      ? tls.createServer(
          {
            cert: options.tls.cert,
            key: options.tls.key,
            ALPNProtocols: ['h2', 'http/1.1'],
            handshakeTimeout: limits.headerTimeoutMs,
          },
          (socket) => {
            track(socket);
            if (socket.alpnProtocol === 'h2') toHttp2(socket);
            else toHttp1(socket);
          },
        )
      : net.createServer((socket) => {
          track(socket);
          let buffered: Buffer = Buffer.alloc(0);
          const onData = (chunk: Buffer): void => {
            buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
            const n = Math.min(buffered.length, PREFACE.length);
            const isH2 = buffered.subarray(0, n).equals(PREFACE.subarray(0, n));
            if (isH2 && buffered.length < PREFACE.length) return;
            socket.off('data', onData);
            socket.pause();
            socket.unshift(buffered);
            if (isH2) toHttp2(socket);
            else toHttp1(socket);
            process.nextTick(() => socket.resume());
          };
          socket.on('data', onData);
        });

  return {
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve(server.address() as net.AddressInfo);
        });
      });
    },
    close() {
      return new Promise((resolve) => {
        closing = true;
        server.close(() => resolve());
        for (const session of sessions) session.close();
        for (const [socket, busy] of h1Busy) if (busy === 0) socket.destroy();
        // Streams that outlive a grace period (a watcher that never hangs up) are cut.
        const force = setTimeout(() => {
          for (const session of sessions) session.destroy();
          for (const socket of sockets.keys()) socket.destroy();
        }, 2000);
        force.unref();
        server.once('close', () => clearTimeout(force));
      });
    },
  };
}
