import { type Client, createClient, type Interceptor } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { expect } from 'chai';
import { CoordinatorService } from '../../src/server/codec/proto.js';
import { type BatonServer, type ServerOptions, startServer } from '../../src/server/server.js';
import { createStateReader, type StateReader } from './state-snapshot.js';
import type { SpecCase } from './task-model.js';

/** A server for one fuzz run: port 0, the memory store unless told, its unexpected errors kept. */
export interface LiveServer {
  readonly server: BatonServer;
  readonly url: string;
  /** What it was started with (a restart passes them again). */
  readonly options: ServerOptions;
  readonly read: StateReader;
  /** Operator calls outside the fuzzed protocol (setting up a run), over gRPC. */
  readonly client: Client<typeof CoordinatorService>;
  /** Adds the tasks a run starts with. */
  seed(specs: readonly SpecCase[]): Promise<void>;
  /** What the server logged as unexpected: a bug whenever it is not empty. */
  readonly unexpected: readonly string[];
  /** /healthz still answers, nothing unexpected was logged. */
  expectHealthy(what: string): Promise<void>;
  close(): Promise<void>;
}

/** `token`: the bearer token the oracle's own reads and seeding use, when the server checks tokens. */
export async function startLiveServer(options: ServerOptions = {}, token?: string): Promise<LiveServer> {
  const unexpected: string[] = [];
  const server = await startServer({
    port: 0,
    log: (message, error) =>
      unexpected.push(
        `${message}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      ),
    ...options,
  });
  const bearer: Interceptor = (next) => (request) => {
    if (token !== undefined) request.header.set('authorization', `Bearer ${token}`);
    return next(request);
  };
  const client = createClient(
    CoordinatorService,
    createGrpcTransport({ baseUrl: server.url, interceptors: [bearer] }),
  );
  return {
    server,
    url: server.url,
    options,
    read: createStateReader(client),
    client,
    async seed(specs) {
      await client.batchAddTasks({
        tasks: specs.map(({ bad: _, deps, ...spec }) => ({ ...spec, deps: [...deps] })),
      });
    },
    unexpected,
    async expectHealthy(what) {
      const health = await fetch(`${server.url}/healthz`);
      expect(health.status, `${what}: /healthz`).to.equal(200);
      expect(unexpected, `${what}: unexpected errors logged`).to.deep.equal([]);
    },
    close: () => server.close(),
  };
}
