// observability/: what operators read of a running server: Prometheus metrics, structured logs.
// Imports src/core; runtime/ and transport/ for types only (test/architecture/walls.test.ts).
import type { Logger } from 'pino';
import type { NodeHandler } from '../transport/one-port.js';

/**
 * Logs each request when it ends, at debug: method, path, HTTP status, duration (gRPC errors
 * travel in trailers with HTTP 200; the error paths log those themselves). Wraps the handler only when debug is on, so at info a
 * request pays nothing for it.
 */
export function logRequests(handler: NodeHandler, logger: Logger): NodeHandler {
  if (!logger.isLevelEnabled('debug')) return handler;
  return (request, response) => {
    const start = process.hrtime.bigint();
    response.once('close', () => {
      logger.debug(
        {
          method: request.method,
          path: (request.url ?? '').split('?', 1)[0],
          status: response.statusCode,
          ms: Number(process.hrtime.bigint() - start) / 1e6,
          httpVersion: request.httpVersion,
        },
        'request',
      );
    });
    handler(request, response);
  };
}
