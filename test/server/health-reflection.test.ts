import { createFileRegistry, fromBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { type FileDescriptorProto, FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { createClient as createConnectClient, createRouterTransport } from '@connectrpc/connect';
import { expect } from 'chai';
import { createChannel, createClient, Status } from 'nice-grpc';
import { createEventBus } from '../../src/core/event-bus.js';
import type { CoordEvents } from '../../src/core/events.js';
import { createMemoryStore } from '../../src/core/memory-store.js';
import type { Store } from '../../src/core/store.js';
import { CoordinatorService } from '../../src/gen/coord/v1/coordinator_pb.js';
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from '../../src/gen/grpc/health/v1/health_pb.js';
import {
  ServerReflection,
  type ServerReflectionRequestSchema,
  type ServerReflectionResponse,
} from '../../src/gen/grpc/reflection/v1/reflection_pb.js';
import {
  ServerReflection as ServerReflectionV1alpha,
  type ServerReflectionRequestSchema as V1alphaRequestSchema,
} from '../../src/gen/grpc/reflection/v1alpha/reflection_pb.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { createHealthService } from '../../src/server/services/health-service.js';
import { createAsyncQueue } from '../../src/wire/async-queue.js';
import { niceDefinition } from '../interop/nice-definition.js';
import { clientError } from '../support/rejection.js';
import { next } from '../support/waiting.js';

// Health and reflection as generic gRPC tooling sees them (grpc_health_probe, Kubernetes probes,
// grpcurl, Postman): through grpc-js, with no knowledge of Baton beyond the standard protos.

const OUR_SERVICES = [
  'coord.v1.WorkerService',
  'coord.v1.RateLimitService',
  'coord.v1.CoordinatorService',
  'grpc.health.v1.Health',
  'grpc.reflection.v1.ServerReflection',
];

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A gRPC connection to a server with the clients generic tooling would use. */
function connect(server: BatonServer) {
  const channel = createChannel(`127.0.0.1:${server.port}`);
  return {
    channel,
    health: createClient(niceDefinition(Health), channel),
    coordinator: createClient(niceDefinition(CoordinatorService), channel),
    reflection: createClient(niceDefinition(ServerReflection), channel),
    reflectionV1alpha: createClient(niceDefinition(ServerReflectionV1alpha), channel),
  };
}

/** A memory store whose commits fail while `failing` is set, like a full disk. */
function flakyStore(): Store & { failing: boolean } {
  const inner = createMemoryStore();
  return {
    kind: 'flaky',
    failing: false,
    load: () => inner.load(),
    commit(changes) {
      if (this.failing) throw new Error('disk full');
      inner.commit(changes);
    },
    close: () => inner.close(),
  };
}

describe('gRPC health checking (grpc.health.v1.Health)', () => {
  let server: BatonServer;
  let client: ReturnType<typeof connect>;

  before(async () => {
    server = await startServer({ port: 0 });
    client = connect(server);
  });

  after(async () => {
    client?.channel.close();
    await server?.close();
  });

  it('Check answers SERVING for the whole server and for each of our services', async () => {
    for (const service of ['', ...OUR_SERVICES, 'grpc.reflection.v1alpha.ServerReflection']) {
      const { status } = await client.health.check({ service });
      expect(status, service).to.equal(ServingStatus.SERVING);
    }
  });

  it('Check of an unknown service fails with NOT_FOUND', async () => {
    const error = await clientError(client.health.check({ service: 'coord.v1.NoSuchService' }));
    expect(error.code).to.equal(Status.NOT_FOUND);
    expect(error.details).to.contain('coord.v1.NoSuchService');
  });

  it('List reports every service with its status', async () => {
    const { statuses } = await client.health.list({});
    for (const service of ['', ...OUR_SERVICES])
      expect(statuses[service]?.status).to.equal(ServingStatus.SERVING);
  });

  it('Watch of an unknown service answers SERVICE_UNKNOWN and keeps the call open', async () => {
    const abort = new AbortController();
    const watch = client.health
      .watch({ service: 'coord.v1.NoSuchService' }, { signal: abort.signal })
      [Symbol.asyncIterator]();
    expect((await next(watch)).status).to.equal(ServingStatus.SERVICE_UNKNOWN);
    const more = watch.next();
    const open = await Promise.race([more.then(() => 'ended'), delay(100).then(() => 'open')]);
    expect(open).to.equal('open');
    abort.abort();
    await more.catch(() => undefined);
  });

  // Last: it stops the server's coordinator.
  it('Watch sees the coordinator stop, and Check then answers NOT_SERVING', async () => {
    const abort = new AbortController();
    const watch = client.health
      .watch({ service: 'coord.v1.WorkerService' }, { signal: abort.signal })
      [Symbol.asyncIterator]();
    const whole = client.health.watch({ service: '' }, { signal: abort.signal })[Symbol.asyncIterator]();
    expect((await next(watch)).status).to.equal(ServingStatus.SERVING);
    expect((await next(whole)).status).to.equal(ServingStatus.SERVING);

    await client.coordinator.stop({ reason: 'health spec' });
    expect((await next(watch)).status).to.equal(ServingStatus.NOT_SERVING);
    expect((await next(whole)).status).to.equal(ServingStatus.NOT_SERVING);
    for (const service of ['', ...OUR_SERVICES]) {
      const { status } = await client.health.check({ service });
      expect(status, service).to.equal(ServingStatus.NOT_SERVING);
    }
    abort.abort();
  });

  it('is NOT_SERVING while the store cannot write, and SERVING again once it recovers', async function () {
    this.timeout(10_000);
    const store = flakyStore();
    const flaky = await startServer({ port: 0, store, log: () => {} });
    const c = connect(flaky);
    const abort = new AbortController();
    try {
      const watch = c.health.watch({ service: '' }, { signal: abort.signal })[Symbol.asyncIterator]();
      expect((await next(watch)).status).to.equal(ServingStatus.SERVING);

      store.failing = true;
      const refused = await clientError(c.coordinator.addTask({ task: { id: 'unstored' } }));
      expect(refused.code).to.equal(Status.UNAVAILABLE);
      expect((await next(watch)).status).to.equal(ServingStatus.NOT_SERVING);
      expect((await c.health.check({ service: '' })).status).to.equal(ServingStatus.NOT_SERVING);

      store.failing = false; // the group commit retries on its own (every second)
      expect((await next(watch, 5000)).status).to.equal(ServingStatus.SERVING);
      expect((await c.health.check({ service: 'coord.v1.CoordinatorService' })).status).to.equal(
        ServingStatus.SERVING,
      );
    } finally {
      abort.abort();
      c.channel.close();
      await flaky.close();
    }
  });
});

describe('createHealthService (in memory)', () => {
  it('answers NOT_SERVING and ends every Watch when the server shuts down', async () => {
    const events = createEventBus<CoordEvents>();
    const shutdown = new AbortController();
    const health = createConnectClient(
      Health,
      createRouterTransport((router) =>
        router.service(
          Health,
          createHealthService({
            coordinator: { state: 'draining', events },
            commit: { degraded: false },
            services: () => [Health],
            signal: shutdown.signal,
          }),
        ),
      ),
    );
    const watch = health.watch({ service: 'grpc.health.v1.Health' })[Symbol.asyncIterator]();
    expect((await next(watch)).status, 'draining still serves').to.equal(ServingStatus.SERVING);
    shutdown.abort();
    expect((await next(watch)).status).to.equal(ServingStatus.NOT_SERVING);
    expect((await watch.next()).done).to.equal(true);
    expect((await health.check({ service: '' })).status).to.equal(ServingStatus.NOT_SERVING);
  });
});

type ReflectionRequest = MessageInitShape<typeof ServerReflectionRequestSchema>;
type Question = NonNullable<ReflectionRequest['messageRequest']>;

/** One reflection stream: ask, then read the answer (answers come in request order). */
function reflectionSession(
  call: (requests: AsyncIterable<ReflectionRequest>) => AsyncIterable<ServerReflectionResponse>,
) {
  const requests = createAsyncQueue<ReflectionRequest>();
  const responses = call(requests)[Symbol.asyncIterator]();
  return {
    async ask(request: Question): Promise<ServerReflectionResponse> {
      requests.push({ host: 'localhost', messageRequest: request });
      return next(responses);
    },
    close: () => requests.close(),
  };
}

const descriptorsOf = (response: ServerReflectionResponse): FileDescriptorProto[] => {
  expect(response.messageResponse.case).to.equal('fileDescriptorResponse');
  if (response.messageResponse.case !== 'fileDescriptorResponse') return [];
  return response.messageResponse.value.fileDescriptorProto.map((bytes) =>
    fromBinary(FileDescriptorProtoSchema, bytes),
  );
};

const serviceNames = (response: ServerReflectionResponse): string[] =>
  response.messageResponse.case === 'listServicesResponse'
    ? response.messageResponse.value.service.map((s) => s.name)
    : [];

describe('gRPC server reflection (grpc.reflection.v1 and v1alpha)', () => {
  let server: BatonServer;
  let client: ReturnType<typeof connect>;
  let session: ReturnType<typeof reflectionSession>;

  before(async () => {
    server = await startServer({ port: 0 });
    client = connect(server);
    session = reflectionSession((requests) => client.reflection.serverReflectionInfo(requests));
  });

  after(async () => {
    session?.close();
    client?.channel.close();
    await server?.close();
  });

  it('list_services names our three services, health and reflection', async () => {
    const response = await session.ask({ case: 'listServices', value: '' });
    expect(serviceNames(response)).to.include.members([
      ...OUR_SERVICES,
      'grpc.reflection.v1alpha.ServerReflection',
    ]);
    expect(response.validHost).to.equal('localhost');
    expect(response.originalRequest?.messageRequest.case).to.equal('listServices');
  });

  it('file_containing_symbol returns the file first, then all of its transitive imports', async () => {
    const files = descriptorsOf(
      await session.ask({ case: 'fileContainingSymbol', value: 'coord.v1.CoordinatorService' }),
    );
    const names = files.map((f) => f.name);
    expect(names[0]).to.equal('coord/v1/coordinator.proto');
    expect(names).to.include.members([
      'coord/v1/events.proto',
      'coord/v1/status.proto',
      'coord/v1/task.proto',
      'coord/v1/common.proto',
      'google/api/annotations.proto',
      'google/api/http.proto',
      'google/protobuf/descriptor.proto',
      'google/protobuf/struct.proto',
      'google/protobuf/timestamp.proto',
    ]);
    expect(new Set(names).size).to.equal(names.length);
    for (const file of files) expect(names).to.include.members(file.dependency, file.name);

    // What grpcurl does with them: build the types and find the service and its methods.
    const byName = new Map(files.map((f) => [f.name, f]));
    const registry = createFileRegistry(files[0] as FileDescriptorProto, (name) => byName.get(name));
    const service = registry.getService('coord.v1.CoordinatorService');
    expect(service?.methods.map((m) => m.name)).to.include.members([
      'GetTask',
      'BatchAddTasks',
      'WatchEvents',
    ]);
    expect(service?.method.watchEvents?.methodKind).to.equal('server_streaming');
    expect(registry.getMessage('coord.v1.Task')?.fields.map((f) => f.name)).to.include('status');
  });

  it('file_containing_symbol finds methods, messages, nested and enum types', async () => {
    const fileOf = async (symbol: string) =>
      descriptorsOf(await session.ask({ case: 'fileContainingSymbol', value: symbol }))[0]?.name;
    expect(await fileOf('coord.v1.WorkerService.Session')).to.equal('coord/v1/worker.proto');
    expect(await fileOf('coord.v1.Task')).to.equal('coord/v1/task.proto');
    expect(await fileOf('coord.v1.TaskStatus')).to.equal('coord/v1/task.proto');
    expect(await fileOf('grpc.health.v1.HealthCheckResponse.ServingStatus')).to.equal(
      'grpc/health/v1/health.proto',
    );
    expect(await fileOf('grpc.reflection.v1.ServerReflection')).to.equal(
      'grpc/reflection/v1/reflection.proto',
    );
  });

  it('file_by_filename returns that file with its imports', async () => {
    const files = descriptorsOf(await session.ask({ case: 'fileByFilename', value: 'coord/v1/task.proto' }));
    expect(files[0]?.name).to.equal('coord/v1/task.proto');
    expect(files[0]?.package).to.equal('coord.v1');
    expect(files.map((f) => f.name)).to.include.members(files[0]?.dependency ?? []);
  });

  it('answers what it cannot find with an error_response NOT_FOUND and keeps the stream open', async () => {
    for (const request of [
      { case: 'fileContainingSymbol', value: 'coord.v1.Nope' },
      { case: 'fileContainingSymbol', value: 'coord.v1.WorkerService.Nope' },
      { case: 'fileByFilename', value: 'coord/v1/nope.proto' },
      { case: 'fileContainingExtension', value: { containingType: 'coord.v1.Task', extensionNumber: 99 } },
      { case: 'allExtensionNumbersOfType', value: 'coord.v1.Nope' },
    ] as const) {
      const response = await session.ask(request);
      expect(response.messageResponse.case, request.case).to.equal('errorResponse');
      if (response.messageResponse.case === 'errorResponse')
        expect(response.messageResponse.value.errorCode).to.equal(Status.NOT_FOUND);
    }
    const after = await session.ask({ case: 'listServices', value: '' });
    expect(serviceNames(after)).to.include('coord.v1.CoordinatorService');
  });

  it('knows the google.api.http extension that declares the REST routes', async () => {
    const files = descriptorsOf(
      await session.ask({
        case: 'fileContainingExtension',
        value: { containingType: 'google.protobuf.MethodOptions', extensionNumber: 72295728 },
      }),
    );
    expect(files[0]?.name).to.equal('google/api/annotations.proto');
    const numbers = await session.ask({
      case: 'allExtensionNumbersOfType',
      value: 'google.protobuf.MethodOptions',
    });
    expect(numbers.messageResponse.case).to.equal('allExtensionNumbersResponse');
    if (numbers.messageResponse.case === 'allExtensionNumbersResponse') {
      expect(numbers.messageResponse.value.baseTypeName).to.equal('google.protobuf.MethodOptions');
      expect(numbers.messageResponse.value.extensionNumber).to.include(72295728);
    }
  });

  it('serves the same answers on the deprecated v1alpha service, for older tools', async () => {
    const requests = createAsyncQueue<MessageInitShape<typeof V1alphaRequestSchema>>();
    const responses = client.reflectionV1alpha.serverReflectionInfo(requests)[Symbol.asyncIterator]();
    try {
      requests.push({ messageRequest: { case: 'listServices', value: '*' } });
      const listed = await next(responses);
      expect(listed.$typeName).to.equal('grpc.reflection.v1alpha.ServerReflectionResponse');
      expect(listed.messageResponse.case).to.equal('listServicesResponse');
      if (listed.messageResponse.case === 'listServicesResponse')
        expect(listed.messageResponse.value.service.map((s) => s.name)).to.include.members(OUR_SERVICES);

      requests.push({
        messageRequest: { case: 'fileContainingSymbol', value: 'coord.v1.CoordinatorService' },
      });
      const found = await next(responses);
      expect(found.messageResponse.case).to.equal('fileDescriptorResponse');
      if (found.messageResponse.case === 'fileDescriptorResponse') {
        const files = found.messageResponse.value.fileDescriptorProto.map((b) =>
          fromBinary(FileDescriptorProtoSchema, b),
        );
        expect(files[0]?.name).to.equal('coord/v1/coordinator.proto');
        expect(files.map((f) => f.name)).to.include('coord/v1/task.proto');
      }

      requests.push({ messageRequest: { case: 'fileContainingSymbol', value: 'no.Such' } });
      const missing = await next(responses);
      expect(missing.messageResponse.case).to.equal('errorResponse');
      expect(missing.originalRequest?.messageRequest.value).to.equal('no.Such');
    } finally {
      requests.close();
    }
  });
});
