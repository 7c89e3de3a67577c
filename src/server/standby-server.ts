import type { AddressInfo } from 'node:net';
import type { DescService } from '@bufbuild/protobuf';
import { Code, ConnectError, type ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { principalOf } from './auth/principal.js';
import type { Verifier } from './auth/tokens.js';
import { CoordinatorService, RateLimitService, WorkerService, WorkspaceService } from './codec/proto.js';
import { createProbes } from './rest/probes.js';
import { createRouteOf } from './route-of.js';
import { Health, ServingStatus } from './services/health-service.js';
import { createAuthGate, type Refusal } from './transport/auth-gate.js';
import { type ConnectionLimits, createOnePortServer, type TlsOptions } from './transport/one-port.js';

/** The header naming the leader's URL on a standby's refusals, so SDKs can go there. */
export const LEADER_HEADER = 'baton-leader';

export interface StandbyServerOptions {
  readonly host: string;
  readonly port: number;
  /** The leader's URL as last read from the database, or undefined while none holds the lease. */
  readonly leader: () => string | undefined;
  /** The leader's certificate and key: a standby speaks TLS exactly as the leader will. */
  readonly tls?: TlsOptions;
  /** The leader's token check: a standby refuses an unauthenticated caller exactly as the leader does. */
  readonly auth?: { readonly verify: Verifier; readonly refused: (refusal: Refusal) => void };
  readonly connectionLimits?: Partial<ConnectionLimits>;
}

export interface StandbyServer {
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}

/**
 * What a standby replica serves on its port until it takes over: health NOT_SERVING (gRPC health
 * and `/readyz` 503; `/healthz` 200, the process is alive), and UNAVAILABLE for every call,
 * naming the leader in the message and in the `baton-leader` header. It holds no coordinator.
 * With `tls` and `auth` it serves over TLS behind the leader's auth gate: a caller without a
 * token gets what the leader would give it (probes, health, UNAUTHENTICATED), and only a caller
 * the gate let through learns where the leader is.
 */
export async function startStandbyServer(options: StandbyServerOptions): Promise<StandbyServer> {
  const refusal = (named = true): ConnectError => {
    const leader = named ? options.leader() : undefined;
    const headers = new Headers();
    if (leader !== undefined) headers.set(LEADER_HEADER, leader);
    return new ConnectError(
      leader === undefined
        ? 'this replica is a standby and no leader holds the lease yet; retry shortly'
        : `this replica is a standby; the leader is ${leader}`,
      Code.Unavailable,
      headers,
    );
  };
  const refuseAll = (service: DescService) =>
    Object.fromEntries(
      service.methods.map((method) => [
        method.localName,
        method.methodKind === 'unary' || method.methodKind === 'client_streaming'
          ? async () => {
              throw refusal();
            }
          : // biome-ignore lint/correctness/useYield: a stream that fails before its first message
            async function* () {
              throw refusal();
            },
      ]),
    );
  const shutdown = new AbortController();
  const rpcPaths = new Set<string>();
  const routes = (router: ConnectRouter): void => {
    for (const service of [WorkerService, RateLimitService, CoordinatorService, WorkspaceService]) {
      router.service(service, refuseAll(service));
    }
    router.service(Health, {
      check: () => ({ status: ServingStatus.NOT_SERVING }),
      async *watch(_request, context) {
        yield { status: ServingStatus.NOT_SERVING };
        await new Promise<void>((resolve) => {
          context.signal.addEventListener('abort', () => resolve());
          shutdown.signal.addEventListener('abort', () => resolve());
        });
      },
    });
    for (const h of router.handlers) rpcPaths.add(h.requestPath);
  };
  const handler = connectNodeAdapter({
    routes,
    fallback: createProbes({
      live: () => !shutdown.signal.aborted,
      ready: () => false,
      next: (request, response) => {
        // Past the gate without a token only on a public route (the dashboard's page): the
        // leader would show a page that holds nothing, so the answer names nobody either.
        const named = options.auth === undefined || principalOf(request) !== undefined;
        const error = refusal(named);
        const leader = named ? options.leader() : undefined;
        const body = JSON.stringify({ code: 'unavailable', message: error.rawMessage });
        response.writeHead(503, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...(leader === undefined ? {} : { [LEADER_HEADER]: leader }),
        });
        response.end(body);
      },
    }),
  });
  const gated =
    options.auth === undefined
      ? handler
      : createAuthGate({
          verify: options.auth.verify,
          routeOf: createRouteOf(rpcPaths, [CoordinatorService, WorkspaceService]),
          refused: options.auth.refused,
          next: handler,
        });
  const server = createOnePortServer(gated, {
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    ...(options.connectionLimits === undefined ? {} : { limits: options.connectionLimits }),
  });
  const address: AddressInfo = await server.listen(options.port, options.host);
  return {
    port: address.port,
    host: address.address,
    async close() {
      shutdown.abort();
      await server.close();
    },
  };
}
