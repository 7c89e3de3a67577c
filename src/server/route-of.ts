import type { DescService } from '@bufbuild/protobuf';
import { bestForVerb, matchingRoutes, restPath, restRoutes } from './rest/routes.js';

/** One file of the dashboard's assets, as dashboard/static-files.ts serves them. */
const DASHBOARD_ASSET = /^\/dashboard\/[\w.-]+$/;

/**
 * The auth policy's key for a request (auth/policy.ts), seeing each path as the handler that
 * will serve it does: RPC paths as they are (exact match, as connect-node and the fast paths
 * route), anything else as the REST gateway reads it (URL-normalized, the route its verb binds).
 * `rpcPaths` is read at call time: the router fills it as services are registered.
 */
export function createRouteOf(
  rpcPaths: ReadonlySet<string>,
  restServices: readonly DescService[],
): (verb: string, raw: string) => string {
  const table = restRoutes(restServices);
  return (verb, raw) => {
    if (rpcPaths.has(raw)) return raw.slice(1);
    let path: string;
    try {
      path = restPath(new URL(raw, 'http://localhost').pathname);
    } catch {
      return `${verb} ${raw}`;
    }
    const found = bestForVerb(matchingRoutes(table, path), verb)?.route.method;
    if (found !== undefined) return `${found.parent.typeName}/${found.name}`;
    return DASHBOARD_ASSET.test(path) ? `${verb} /dashboard/*` : `${verb} ${path}`;
  };
}
