// auth/: who may call what: tokens, roles, and the one table of roles by route.
// Imports nothing of Baton's but auth/ itself (test/architecture/walls.test.ts).

/** What a token may do. `worker` tokens also name the one worker id they may act as. */
export type Role = 'admin' | 'operator' | 'reader' | 'worker';

export const ROLES: readonly Role[] = ['admin', 'operator', 'reader', 'worker'];

export const isRole = (value: string): value is Role => (ROLES as readonly string[]).includes(value);

/** Who a call comes from, once its bearer token was recognised. */
export interface Principal {
  /** For logs: the worker id of a worker token, `<role>:<hash prefix>` otherwise. Never the token. */
  readonly name: string;
  readonly role: Role;
  /** A worker token's worker id: the only id its sessions may join as. */
  readonly workerId?: string;
}

/** Anyone, token or not: probes for load balancers and orchestrators, which carry no secrets. */
export const PUBLIC = 'public';

const READ: readonly Role[] = ['admin', 'operator', 'reader'];
const OPERATE: readonly Role[] = ['admin', 'operator'];
const ADMIN: readonly Role[] = ['admin'];
const WORK: readonly Role[] = ['admin', 'worker'];

const coordinator = (method: string) => `coord.v1.CoordinatorService/${method}`;
const workspace = (method: string) => `coord.v1.WorkspaceService/${method}`;

/**
 * The roles allowed on each route: an RPC as `package.Service/Method` (the same key for gRPC,
 * Connect and the REST route bound to it) or a plain HTTP route as `VERB /path`. A route missing
 * here is admin-only, so a new RPC is closed until someone decides who may call it
 * (test/server/auth-policy.test.ts fails for every served method that is missing).
 */
export const ROUTE_ROLES: Readonly<Record<string, readonly Role[] | typeof PUBLIC>> = {
  [coordinator('GetStatus')]: READ,
  [coordinator('ListTasks')]: READ,
  [coordinator('GetTask')]: READ,
  [coordinator('GetProgress')]: READ,
  [coordinator('GetRateLimit')]: READ,
  [coordinator('GetCosts')]: READ,
  [coordinator('WatchEvents')]: READ,
  [coordinator('AddTask')]: OPERATE,
  [coordinator('BatchAddTasks')]: OPERATE,
  [coordinator('CancelTask')]: OPERATE,
  [coordinator('RetryTask')]: OPERATE,
  // Deleting one settled task is an operator's chore, like a cancel; a purge erases history in
  // bulk and for good, so it is the admin's.
  [coordinator('DeleteTask')]: OPERATE,
  [coordinator('PurgeTasks')]: ADMIN,
  [coordinator('Start')]: ADMIN,
  [coordinator('Drain')]: ADMIN,
  [coordinator('Stop')]: ADMIN,
  [workspace('ListWorkspaces')]: READ,
  [workspace('GetConflicts')]: READ,
  [workspace('ListMergeQueue')]: READ,
  [workspace('GetMergeEntry')]: READ,
  // A worker token only for its own workspace's branch (services/workspace-service.ts checks).
  [workspace('EnqueueMerge')]: [...OPERATE, 'worker'],
  [workspace('RemoveWorkspace')]: ADMIN,
  'coord.v1.WorkerService/Session': WORK,
  'coord.v1.RateLimitService/Acquire': WORK,
  'grpc.health.v1.Health/Check': PUBLIC,
  'grpc.health.v1.Health/Watch': PUBLIC,
  'grpc.health.v1.Health/List': PUBLIC,
  'grpc.reflection.v1.ServerReflection/ServerReflectionInfo': READ,
  'grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo': READ,
  // The dashboard's page and assets hold no data; what it shows comes from REST with a token.
  'GET /': PUBLIC,
  'GET /index.html': PUBLIC,
  'GET /dashboard/*': PUBLIC,
  'GET /healthz': PUBLIC,
  'GET /readyz': PUBLIC,
  'GET /metrics': READ,
};

export type Decision =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      readonly code: 'unauthenticated' | 'permission-denied';
      readonly message: string;
    };

const ALLOWED: Decision = { allowed: true };

/** The roles a route admits: its table entry, or admin alone for a route the table does not name. */
export const rolesOf = (route: string): readonly Role[] | typeof PUBLIC => ROUTE_ROLES[route] ?? ADMIN;

/** Whether a route needs a token at all. */
export const isPublic = (route: string): boolean => rolesOf(route) === PUBLIC;

/**
 * The whole decision for one call: `principal` is who the token says (undefined when there was
 * no token or it was not recognised, `why` then says which). Pure, so it is tested as a table.
 */
export function decide(
  route: string,
  principal: Principal | undefined,
  why = 'missing bearer token',
): Decision {
  const roles = rolesOf(route);
  if (roles === PUBLIC) return ALLOWED;
  if (principal === undefined) {
    return { allowed: false, code: 'unauthenticated', message: `${why}: send authorization: Bearer <token>` };
  }
  if (roles.includes(principal.role)) return ALLOWED;
  return {
    allowed: false,
    code: 'permission-denied',
    message: `role ${principal.role} may not call ${route} (allowed: ${roles.join(', ')})`,
  };
}

/** The worker id a call is bound to: a worker token's; undefined for every other caller (and with auth off). */
export const boundWorkerId = (principal: Principal | undefined): string | undefined =>
  principal?.role === 'worker' ? principal.workerId : undefined;
