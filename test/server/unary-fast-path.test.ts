import * as http2 from 'node:http2';
import { type DescMessage, type MessageShape, toJson } from '@bufbuild/protobuf';
import {
  type Client,
  Code,
  ConnectError,
  createClient,
  type ServiceImpl,
  type Transport,
} from '@connectrpc/connect';
import {
  compressionGzip,
  connectNodeAdapter,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from '@connectrpc/connect-node';
import { expect } from 'chai';
import { ClientError, createChannel, createClient as createNiceClient, Status } from 'nice-grpc';
import { BatonError } from '../../src/core/errors.js';
import { toConnectError } from '../../src/server/codec/errors.js';
import { JSON_WRITE_OPTIONS } from '../../src/server/codec/json-rule.js';
import {
  CoordinatorService,
  GetProgressResponseSchema,
  GetTaskResponseSchema,
  ListTasksResponseSchema,
  TaskStatus,
} from '../../src/server/codec/proto.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { errorInterceptor } from '../../src/server/transport/error-interceptor.js';
import {
  createOnePortServer,
  type NodeHandler,
  type OnePortServer,
} from '../../src/server/transport/one-port.js';
import { createUnaryFastPath } from '../../src/server/transport/unary-fast-path.js';
import { niceDefinition } from '../interop/nice-definition.js';
import { refusal as failure } from '../support/refusal.js';

type Coord = Client<typeof CoordinatorService>;

const EPOCH = 1_750_000_000_000;

/** Every way a Node or curl client calls a unary RPC that the fast path takes. */
const TRANSPORTS: ReadonlyArray<readonly [string, (baseUrl: string) => Transport]> = [
  ['gRPC (HTTP/2)', (baseUrl) => createGrpcTransport({ baseUrl })],
  ['Connect binary HTTP/2', (baseUrl) => createConnectTransport({ baseUrl, httpVersion: '2' })],
  [
    'Connect JSON HTTP/2',
    (baseUrl) => createConnectTransport({ baseUrl, httpVersion: '2', useBinaryFormat: false }),
  ],
  ['Connect binary HTTP/1.1', (baseUrl) => createConnectTransport({ baseUrl, httpVersion: '1.1' })],
  [
    'Connect JSON HTTP/1.1',
    (baseUrl) => createConnectTransport({ baseUrl, httpVersion: '1.1', useBinaryFormat: false }),
  ],
];

/** Requests the fast path leaves to connect-node. */
const FALLBACK_TRANSPORTS: ReadonlyArray<readonly [string, (baseUrl: string) => Transport]> = [
  ['gRPC-web', (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: '1.1' })],
  [
    'gRPC with a gzip request',
    (baseUrl) => createGrpcTransport({ baseUrl, sendCompression: compressionGzip, compressMinBytes: 1 }),
  ],
  [
    'Connect with a gzip request',
    (baseUrl) =>
      createConnectTransport({
        baseUrl,
        httpVersion: '2',
        sendCompression: compressionGzip,
        compressMinBytes: 0,
      }),
  ],
  ['Connect GET', (baseUrl) => createConnectTransport({ baseUrl, httpVersion: '1.1', useHttpGet: true })],
];

/** A failure with its details, as the client decoded them. */
async function rawFailure(call: Promise<unknown>) {
  try {
    await call;
  } catch (error) {
    const e = ConnectError.from(error);
    const details = e.details.map((d) =>
      'desc' in d ? d.desc.typeName : [d.type, Buffer.from(d.value).toString('hex')],
    );
    return { code: e.code, message: e.rawMessage, details };
  }
  throw new Error('the call succeeded');
}

/** As the server writes JSON: every field, zero values too. */
const json = <D extends DescMessage>(schema: D, message: MessageShape<D>) =>
  toJson(schema, message, JSON_WRITE_OPTIONS);

/** A Connect JSON POST with fetch (HTTP/1.1), as curl would send it. */
async function fetchJson(baseUrl: string, method: string, body: unknown) {
  const response = await fetch(`${baseUrl}/coord.v1.CoordinatorService/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as unknown };
}

interface RawResponse {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders | undefined;
  body: Buffer;
}

/** One raw HTTP/2 request. */
function h2(baseUrl: string, headers: http2.OutgoingHttpHeaders, body: Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(baseUrl);
    session.once('error', reject);
    const call = session.request({ ':method': 'POST', ...headers });
    const out: RawResponse = { headers: {}, trailers: undefined, body: Buffer.alloc(0) };
    const chunks: Buffer[] = [];
    call.on('response', (h) => {
      out.headers = h;
    });
    call.on('trailers', (t) => {
      out.trailers = t;
    });
    call.on('data', (chunk: Buffer) => chunks.push(chunk));
    call.on('close', () => {
      out.body = Buffer.concat(chunks);
      session.close();
      resolve(out);
    });
    call.end(body);
  });
}

/** The gRPC status of a raw response, trailers-only or not. */
const grpcStatus = (r: RawResponse) => ({
  status: r.trailers?.['grpc-status'] ?? r.headers['grpc-status'],
  message: r.trailers?.['grpc-message'] ?? r.headers['grpc-message'],
});

describe('unary fast path', () => {
  describe('a real server: every client sees what connect-node alone answers', () => {
    let fast: BatonServer;
    let plain: BatonServer;

    before(async () => {
      const options = { port: 0, store: 'memory', now: () => EPOCH } as const;
      fast = await startServer(options);
      plain = await startServer({ ...options, unaryFastPath: false });
      for (const server of [fast, plain]) {
        const client = createClient(CoordinatorService, createGrpcTransport({ baseUrl: server.url }));
        await client.batchAddTasks({
          tasks: [
            { id: 'a', category: 'docs', metadata: { prompt: 'write the README' } },
            { id: 'b', deps: ['a'], priority: 3 },
          ],
        });
      }
    });

    after(async () => {
      await fast?.close();
      await plain?.close();
    });

    const both = () =>
      [
        ['fast path', fast],
        ['connect-node', plain],
      ] as const;

    it('answers GetTask, GetProgress and ListTasks identically on every transport', async () => {
      const reference = createClient(CoordinatorService, createGrpcTransport({ baseUrl: plain.url }));
      const want = {
        task: json(GetTaskResponseSchema, await reference.getTask({ id: 'b' })),
        progress: json(GetProgressResponseSchema, await reference.getProgress({})),
        list: json(ListTasksResponseSchema, await reference.listTasks({})),
      };
      expect((want.progress as { progress: { pending: number } }).progress.pending).to.equal(2);
      for (const [path, server] of both()) {
        for (const [name, transport] of TRANSPORTS) {
          const client: Coord = createClient(CoordinatorService, transport(server.url));
          const got = {
            task: json(GetTaskResponseSchema, await client.getTask({ id: 'b' })),
            progress: json(GetProgressResponseSchema, await client.getProgress({})),
            list: json(ListTasksResponseSchema, await client.listTasks({})),
          };
          expect(got, `${name} on the ${path}`).to.deep.equal(want);
        }
        const fetched = await fetchJson(server.url, 'GetTask', { id: 'b' });
        expect(fetched, `fetch on the ${path}`).to.deep.equal({ status: 200, body: want.task });
      }
    });

    it('sends the same codes and messages for errors', async () => {
      const cases = [
        {
          call: (c: Coord) => c.getTask({ id: 'nope' }),
          want: { code: Code.NotFound, message: 'task nope not found' },
          detailCount: 0,
          fetch: ['GetTask', { id: 'nope' }, 404, 'not_found'] as const,
        },
        {
          call: (c: Coord) => c.addTask({ task: { id: 'c', deps: ['ghost'] } }),
          want: { code: Code.InvalidArgument, message: 'task c depends on unknown task(s): ghost' },
          detailCount: 1,
          fetch: ['AddTask', { task: { id: 'c', deps: ['ghost'] } }, 400, 'invalid_argument'] as const,
        },
        {
          call: (c: Coord) => c.getTask({}),
          want: { code: Code.InvalidArgument, message: 'id is required' },
          detailCount: 0,
          fetch: ['GetTask', {}, 400, 'invalid_argument'] as const,
        },
      ];
      for (const [name, transport] of TRANSPORTS) {
        const clients = [fast, plain].map((server) =>
          createClient(CoordinatorService, transport(server.url)),
        );
        for (const { call, want, detailCount } of cases) {
          const [fromFast, fromPlain] = await Promise.all(clients.map((c) => rawFailure(call(c))));
          // The same ConnectError on both paths, the coord.v1.Error detail included.
          expect(fromFast, name).to.deep.equal(fromPlain);
          expect(fromFast, name).to.include(want);
          expect(fromFast?.details, name).to.have.length(detailCount);
        }
      }
      // curl's view: HTTP status and the whole error body (with its coord.v1.Error detail).
      for (const { want, fetch } of cases) {
        const [method, body, status, code] = fetch;
        const fromFast = await fetchJson(fast.url, method, body);
        expect(fromFast).to.deep.equal(await fetchJson(plain.url, method, body));
        expect(fromFast.status).to.equal(status);
        expect(fromFast.body).to.include({ code, message: want.message });
      }
    });

    it('answers grpc-js (nice-grpc) alike, large responses gzip-compressed as connect does', async () => {
      const ids = Array.from({ length: 40 }, (_, i) => `bulk-${i}`);
      for (const [, server] of both()) {
        const client = createClient(CoordinatorService, createGrpcTransport({ baseUrl: server.url }));
        await client.batchAddTasks({
          tasks: ids.map((id) => ({ id, metadata: { prompt: 'x'.repeat(40) } })),
        });
      }
      const results = [];
      for (const [path, server] of both()) {
        const channel = createChannel(`127.0.0.1:${server.port}`);
        try {
          const client = createNiceClient(niceDefinition(CoordinatorService), channel);
          const list = await client.listTasks({ limit: 1000 });
          const error = await client.getTask({ id: 'nope' }).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(error, path).to.be.instanceOf(ClientError);
          results.push({
            ids: list.tasks.map((t) => [t.id, t.status]),
            code: (error as ClientError).code,
            details: (error as ClientError).details,
          });
        } finally {
          channel.close();
        }
      }
      expect(results[0]).to.deep.equal(results[1]);
      expect(results[0]?.code).to.equal(Status.NOT_FOUND);
      expect(results[0]?.details).to.equal('task nope not found');
      expect(results[0]?.ids).to.have.length(42);
      expect(results[0]?.ids[0]).to.deep.equal(['a', TaskStatus.PENDING]);

      // grpc-js accepts gzip: both paths announce it and compress the (> 1 KiB) message.
      for (const [path, server] of both()) {
        const r = await h2(
          server.url,
          {
            ':path': '/coord.v1.CoordinatorService/ListTasks',
            'content-type': 'application/grpc',
            'grpc-accept-encoding': 'identity,deflate,gzip',
            te: 'trailers',
          },
          Buffer.from([0, 0, 0, 0, 0]),
        );
        expect(r.headers['grpc-encoding'], path).to.equal('gzip');
        expect(r.body[0], path).to.equal(1);
        expect(grpcStatus(r).status, path).to.equal('0');
      }
    });

    it('leaves gRPC-web, compressed requests, GET and server streams to connect-node, which still answer', async () => {
      for (const [name, transport] of FALLBACK_TRANSPORTS) {
        const client: Coord = createClient(CoordinatorService, transport(fast.url));
        const progress = await client.getProgress({});
        expect(progress.progress?.pending, name).to.be.greaterThan(0);
        expect(await failure(client.getTask({ id: 'nope' })), name).to.deep.equal({
          code: Code.NotFound,
          message: 'task nope not found',
        });
      }
      const client = createClient(CoordinatorService, createGrpcTransport({ baseUrl: fast.url }));
      const abort = new AbortController();
      const events = client.watchEvents({ sinceSequence: 1n }, { signal: abort.signal });
      const first = await events[Symbol.asyncIterator]().next();
      expect(first.done).to.equal(false);
      expect(first.value?.events.length).to.be.greaterThan(0);
      abort.abort();
    });

    it('rejects a bad grpc-timeout as connect does', async () => {
      const results = [];
      for (const [, server] of both()) {
        const r = await h2(
          server.url,
          {
            ':path': '/coord.v1.CoordinatorService/GetProgress',
            'content-type': 'application/grpc',
            'grpc-timeout': 'soon',
          },
          Buffer.from([0, 0, 0, 0, 0]),
        );
        results.push(grpcStatus(r));
      }
      expect(results[0]).to.deep.equal(results[1]);
      expect(results[0]).to.deep.equal({
        status: String(Code.InvalidArgument),
        message: encodeURIComponent('protocol error: invalid grpc timeout value: soon'),
      });
    });
  });

  describe('routing, over a stub service', () => {
    let server: OnePortServer;
    let plain: OnePortServer;
    let baseUrl: string;
    let plainUrl: string;
    let fallbacks = 0;
    const logged: unknown[] = [];
    let lastTimeout: number | undefined;
    let lastAbort: unknown;

    const stub: Partial<ServiceImpl<typeof CoordinatorService>> = {
      getProgress: () => ({ progress: { pending: 7 } }),
      getTask(request) {
        if (request.id === 'core') throw new BatonError('not-found', 'task core not found');
        if (request.id === 'bug') throw new Error('secret internals');
        return { task: { id: request.id } };
      },
      async getCosts(_request, context) {
        lastTimeout = context.timeoutMs();
        lastAbort = await new Promise((resolve) =>
          context.signal.addEventListener('abort', () => resolve(context.signal.reason), { once: true }),
        );
        return {};
      },
      async *watchEvents() {
        yield { events: [] };
      },
    };

    before(async () => {
      const log = (error: unknown) => logged.push(error);
      const connectHandler = connectNodeAdapter({
        routes: (router) => router.service(CoordinatorService, stub),
        interceptors: [errorInterceptor(log)],
      });
      const counted: NodeHandler = (request, response) => {
        fallbacks++;
        connectHandler(request, response);
      };
      const mapError = (error: unknown) => {
        const mapped = toConnectError(error);
        if (mapped.rawMessage === 'internal error') log(error);
        return mapped;
      };
      server = createOnePortServer(
        createUnaryFastPath({ services: [[CoordinatorService, stub]], mapError, fallback: counted }),
      );
      baseUrl = `http://127.0.0.1:${(await server.listen(0, '127.0.0.1')).port}`;
      plain = createOnePortServer(connectHandler);
      plainUrl = `http://127.0.0.1:${(await plain.listen(0, '127.0.0.1')).port}`;
    });

    after(async () => {
      await server?.close();
      await plain?.close();
    });

    it('serves unary calls itself on every transport, errors mapped as the interceptor does', async () => {
      for (const [name, transport] of TRANSPORTS) {
        const client: Coord = createClient(CoordinatorService, transport(baseUrl));
        logged.length = 0;
        expect((await client.getProgress({})).progress?.pending, name).to.equal(7);
        expect((await client.getTask({ id: 'x' })).task?.id, name).to.equal('x');
        expect(await failure(client.getTask({ id: 'core' })), name).to.deep.equal({
          code: Code.NotFound,
          message: 'task core not found',
        });
        expect(await failure(client.getTask({ id: 'bug' })), name).to.deep.equal({
          code: Code.Internal,
          message: 'internal error',
        });
        expect(logged.map((e) => (e as Error).message)).to.deep.equal(['secret internals']);
        // Not implemented by the stub: connect answers Unimplemented.
        expect((await failure(client.getStatus({}))).code, name).to.equal(Code.Unimplemented);
      }
      expect(await fetchJson(baseUrl, 'GetProgress', {})).to.deep.equal({
        status: 200,
        body: { progress: { pending: 7 } },
      });
      // Only the Unimplemented calls fell back.
      expect(fallbacks).to.equal(TRANSPORTS.length);
    });

    it('hands everything else to the fallback', async () => {
      for (const [name, transport] of FALLBACK_TRANSPORTS) {
        const before = fallbacks;
        const client: Coord = createClient(CoordinatorService, transport(baseUrl));
        expect((await client.getTask({ id: 'x' })).task?.id, name).to.equal('x');
        expect(fallbacks, name).to.equal(before + 1);
      }
      const before = fallbacks;
      const client = createClient(CoordinatorService, createGrpcTransport({ baseUrl }));
      for await (const response of client.watchEvents({})) expect(response.events).to.deep.equal([]);
      expect((await fetch(`${baseUrl}/no/such/path`, { method: 'POST' })).status).to.equal(404);
      expect(fallbacks).to.equal(before + 2);
    });

    it('gives handlers a context whose signal honours grpc-timeout', async () => {
      const r = await h2(
        baseUrl,
        {
          ':path': '/coord.v1.CoordinatorService/GetCosts',
          'content-type': 'application/grpc',
          'grpc-timeout': '50m',
        },
        Buffer.from([0, 0, 0, 0, 0]),
      );
      // Like connect, the deadline aborts the handler's signal; what it then returns is sent.
      expect(grpcStatus(r).status).to.equal('0');
      expect(lastTimeout).to.be.within(1, 50);
      expect(lastAbort).to.be.instanceOf(ConnectError);
      expect((lastAbort as ConnectError).code).to.equal(Code.DeadlineExceeded);
    });

    it('answers malformed gRPC frames with connect’s errors, a client’s mistake never as INTERNAL', async () => {
      const both = async (body: number[]) => {
        const results = [];
        for (const url of [baseUrl, plainUrl]) {
          const r = await h2(
            url,
            { ':path': '/coord.v1.CoordinatorService/GetTask', 'content-type': 'application/grpc' },
            Buffer.from(body),
          );
          results.push(grpcStatus(r));
        }
        return { fast: results[0], connect: results[1] };
      };
      const call = async (body: number[]) => {
        const { fast, connect } = await both(body);
        expect(fast, 'fast path and connect-node').to.deep.equal(connect);
        return fast;
      };
      const enc = encodeURIComponent;
      expect(await call([])).to.deep.equal({
        status: String(Code.Unimplemented),
        message: enc('protocol error: missing input message for unary method'),
      });
      expect(await call([0, 0, 0, 0, 9, 1])).to.deep.equal({
        status: String(Code.InvalidArgument),
        message: enc('protocol error: incomplete envelope'),
      });
      // connect-node says INTERNAL where the client broke the protocol; the fast path does not.
      expect(await both([1, 0, 0, 0, 0])).to.deep.equal({
        fast: {
          status: String(Code.InvalidArgument),
          message: enc('received compressed envelope, but do not know how to decompress'),
        },
        connect: {
          status: String(Code.Internal),
          message: enc('received compressed envelope, but do not know how to decompress'),
        },
      });
      expect(await call([0, 0, 0, 0, 0, 0, 0, 0, 0, 0])).to.deep.equal({
        status: String(Code.Unimplemented),
        message: enc('protocol error: received extra input message for unary method'),
      });
      expect(await both([0, 0, 0, 0, 3, 10, 30, 1])).to.deep.equal({
        fast: {
          status: String(Code.InvalidArgument),
          message: enc('coord.v1.GetTaskRequest: parse binary: premature EOF'),
        },
        connect: { status: String(Code.Internal), message: enc('parse binary: premature EOF') },
      });
    });
  });
});
