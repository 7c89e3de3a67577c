// rest/: the REST gateway under /api/coordination, its routes read from the proto annotations.
// Imports src/core, src/gen and codec/ (test/architecture/walls.test.ts).
import type { FallbackHandler } from './gateway.js';

export interface ProbeOptions {
  /** False once the server is shutting down: the process should no longer get traffic. */
  readonly live: () => boolean;
  /** True while the coordinator takes work (the gRPC health service's SERVING). */
  readonly ready: () => boolean;
  /** Everything that is not a probe. */
  readonly next: FallbackHandler;
}

/**
 * `GET /healthz` (liveness) and `GET /readyz` (readiness) for load balancers and orchestrators that
 * speak plain HTTP rather than gRPC health: 200 `ok`, or 503 with the reason. Any other request
 * goes on to `next`.
 */
export function createProbes(options: ProbeOptions): FallbackHandler {
  const { live, ready, next } = options;
  return (request, response) => {
    const path = (request.url ?? '').split('?', 1)[0];
    const check = path === '/healthz' ? live : path === '/readyz' ? ready : undefined;
    if (check === undefined || (request.method !== 'GET' && request.method !== 'HEAD')) {
      next(request, response);
      return;
    }
    const ok = check();
    const body = ok ? 'ok\n' : path === '/healthz' ? 'shutting down\n' : 'not serving\n';
    response.writeHead(ok ? 200 : 503, {
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'no-store',
      'content-length': Buffer.byteLength(body),
    });
    if (request.method === 'HEAD') response.end();
    else response.end(body);
  };
}
