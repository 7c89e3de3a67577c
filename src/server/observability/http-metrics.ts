// observability/: what operators read of a running server: Prometheus metrics, structured logs.
// Imports src/core; runtime/ and transport/ for types only (test/architecture/walls.test.ts).
import { Counter, Histogram, type Registry } from 'prom-client';
import type { NodeHandler } from '../transport/one-port.js';

export interface HttpMetricsOptions {
  readonly registry: Registry;
  /** The RPC paths the server serves (`/coord.v1.CoordinatorService/AddTask`), read per request. */
  readonly rpcPaths: ReadonlySet<string>;
  /** Answers `GET /metrics`. */
  readonly scrape: () => Promise<{ readonly contentType: string; readonly body: string }>;
  readonly onScrapeError: (error: unknown) => void;
}

/** Paths outside the RPCs that get their own label; anything else is `other`, so labels stay few. */
const PLAIN_ROUTES = new Set(['/metrics', '/healthz', '/readyz']);
const REST_PREFIX = '/api/coordination';

type Request = Parameters<NodeHandler>[0];

function labelsOf(request: Request, rpcPaths: ReadonlySet<string>): { protocol: string; route: string } {
  const url = request.url ?? '';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (rpcPaths.has(path)) {
    const type = request.headers['content-type'] ?? '';
    const protocol = type.startsWith('application/grpc-web')
      ? 'grpc-web'
      : type.startsWith('application/grpc')
        ? 'grpc'
        : 'connect';
    return { protocol, route: path };
  }
  if (path === REST_PREFIX || path.startsWith(`${REST_PREFIX}/`))
    return { protocol: 'rest', route: REST_PREFIX };
  return { protocol: 'http', route: PLAIN_ROUTES.has(path) ? path : 'other' };
}

/**
 * Wraps the server's handler: counts and times every request (gRPC, gRPC-Web, Connect, REST), by
 * protocol, route and HTTP status, and answers `GET /metrics` itself. A stream's duration is its
 * whole life (a worker session, an event watch). gRPC errors travel in trailers with HTTP 200:
 * their codes are not split out here.
 */
export function instrumentHandler(handler: NodeHandler, options: HttpMetricsOptions): NodeHandler {
  const { registry, rpcPaths } = options;
  const requests = new Counter({
    name: 'baton_http_requests_total',
    help: 'Requests answered, by protocol, route (the RPC path, /api/coordination for REST) and HTTP status.',
    labelNames: ['protocol', 'route', 'code'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'baton_http_request_duration_seconds',
    help: 'From a request arriving to its response ending (for streams: the stream life), by protocol and route.',
    labelNames: ['protocol', 'route'],
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300],
    registers: [registry],
  });

  const serveMetrics = (response: Parameters<NodeHandler>[1]): void => {
    options.scrape().then(
      ({ contentType, body }) => {
        response.writeHead(200, {
          'content-type': contentType,
          'cache-control': 'no-store',
          'content-length': Buffer.byteLength(body),
        });
        response.end(body);
      },
      (error: unknown) => {
        options.onScrapeError(error);
        response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        response.end('metrics collection failed\n');
      },
    );
  };

  return (request, response) => {
    const labels = labelsOf(request, rpcPaths);
    const start = process.hrtime.bigint();
    response.once('close', () => {
      duration.observe(labels, Number(process.hrtime.bigint() - start) / 1e9);
      requests.inc({ ...labels, code: String(response.statusCode) });
    });
    if (labels.route === '/metrics' && (request.method === 'GET' || request.method === 'HEAD')) {
      serveMetrics(response);
      return;
    }
    handler(request, response);
  };
}
