// services/: one file per proto service, each handler decode -> core call -> encode.
// Imports src/core, src/gen, src/wire, codec/ and runtime/ (test/architecture/walls.test.ts).
import type { DescService } from '@bufbuild/protobuf';
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import type { Coordinator } from '../../core/coordinator.js';
import { LIFECYCLE_EVENTS } from '../../core/events.js';
// Not through ./proto.js: that module re-exports coord/v1 with `export *`, and the gRPC
// infrastructure protos are only needed here and in the reflection service.
import {
  type Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from '../../gen/grpc/health/v1/health_pb.js';
import { createAsyncQueue } from '../../wire/async-queue.js';
import type { GroupCommit } from '../runtime/group-commit.js';

export { Health } from '../../gen/grpc/health/v1/health_pb.js';
export { ServingStatus };

export interface HealthServiceOptions {
  readonly coordinator: Pick<Coordinator, 'state' | 'events'>;
  readonly commit: Pick<GroupCommit, 'degraded'>;
  /**
   * The services the server serves, read at call time: pass
   * `() => router.handlers.map((h) => h.service)`. `""` (the whole server) is implied.
   */
  readonly services: () => Iterable<DescService>;
  /**
   * How often watchers re-read `commit.degraded`, which has no change event (lifecycle changes are
   * pushed at once). Only runs while someone watches. Default 1000 ms.
   */
  readonly pollMs?: number;
  /** Aborted when the server shuts down: every status becomes NOT_SERVING and Watch calls end. */
  readonly signal?: AbortSignal;
}

/**
 * Whether the coordinator takes work: not shut down, not stopped, and its store writing. The gRPC
 * health service and the HTTP readiness probe (rest/probes.ts) answer from this one rule.
 */
export function isServing(options: Pick<HealthServiceOptions, 'coordinator' | 'commit' | 'signal'>): boolean {
  return !(options.signal?.aborted || options.coordinator.state === 'stopped' || options.commit.degraded);
}

/**
 * The standard gRPC health service (grpc.health.v1.Health), which Kubernetes gRPC probes,
 * grpc_health_probe and load balancers speak. Every service shares one status, since they all
 * front the same coordinator: SERVING while it takes work (init, running, draining and drained: a
 * draining coordinator still takes its workers' reports, a drained one tasks and a start),
 * NOT_SERVING once it is stopped or while the store refuses writes (a load balancer should then
 * send work elsewhere).
 */
export function createHealthService(options: HealthServiceOptions): ServiceImpl<typeof Health> {
  const { coordinator, signal } = options;
  const pollMs = options.pollMs ?? 1000;
  const known = (): Set<string> => {
    const names = new Set(['']);
    for (const service of options.services()) names.add(service.typeName);
    return names;
  };

  const current = (): ServingStatus =>
    isServing(options) ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;

  // One shared watch over the coordinator for every Watch call, attached only while there is one.
  const listeners = new Set<() => void>();
  let detach: (() => void) | undefined;
  const notify = (): void => {
    for (const listener of listeners) listener();
  };
  const subscribe = (listener: () => void): (() => void) => {
    listeners.add(listener);
    if (detach === undefined) {
      const offs = LIFECYCLE_EVENTS.map((kind) => coordinator.events.on(kind, notify));
      const timer = setInterval(notify, pollMs);
      timer.unref();
      signal?.addEventListener('abort', notify);
      detach = () => {
        for (const off of offs) off();
        clearInterval(timer);
        signal?.removeEventListener('abort', notify);
      };
    }
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0) {
        detach?.();
        detach = undefined;
      }
    };
  };

  const check = (service: string): ServingStatus => {
    if (!known().has(service)) throw new ConnectError(`unknown service ${service}`, Code.NotFound);
    return current();
  };

  return {
    check(request) {
      return { status: check(request.service) };
    },
    list() {
      const status = current();
      return { statuses: Object.fromEntries([...known()].map((name) => [name, { status }])) };
    },
    async *watch(request, context: HandlerContext) {
      // Per the spec an unknown service is not an error: the call stays open (the service might
      // be registered later; ours never are) until the client hangs up.
      const isKnown = known().has(request.service);
      const changes = createAsyncQueue<void>();
      const end = (): void => changes.close();
      const unsubscribe = isKnown ? subscribe(() => changes.push()) : () => {};
      context.signal.addEventListener('abort', end, { once: true });
      signal?.addEventListener('abort', end, { once: true });
      try {
        let sent = isKnown ? current() : ServingStatus.SERVICE_UNKNOWN;
        const shutDown = signal?.aborted === true; // then no abort event will come to end the call
        yield { status: sent };
        if (shutDown) return;
        for await (const _ of changes) {
          const status = current();
          if (status === sent) continue;
          sent = status;
          yield { status };
        }
      } finally {
        unsubscribe();
        context.signal.removeEventListener('abort', end);
        signal?.removeEventListener('abort', end);
        changes.close();
      }
    },
  };
}
