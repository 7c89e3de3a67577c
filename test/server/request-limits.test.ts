import * as http2 from 'node:http2';
import { Code, ConnectError, createClient, type Transport } from '@connectrpc/connect';
import {
  compressionGzip,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from '@connectrpc/connect-node';
import { expect } from 'chai';
import { CoordinatorService, WorkerService } from '../../src/server/codec/proto.js';
import { type BatonServer, startServer } from '../../src/server/server.js';

const LIMIT = 4096;
const OVER = `: over the limit --max-request-bytes (${LIMIT})`;
/** A task whose request is well over the limit. */
const bigTask = (id: string) => ({ id, metadata: { blob: 'x'.repeat(LIMIT * 3) } });

const PATHS: ReadonlyArray<readonly [string, (baseUrl: string) => Transport]> = [
  ['gRPC', (baseUrl) => createGrpcTransport({ baseUrl })],
  ['Connect binary HTTP/2', (baseUrl) => createConnectTransport({ baseUrl, httpVersion: '2' })],
  [
    'Connect JSON HTTP/1.1',
    (baseUrl) => createConnectTransport({ baseUrl, httpVersion: '1.1', useBinaryFormat: false }),
  ],
];

/** Paths connect-node serves itself: its readMaxBytes, with its own wording. */
const CONNECT_NODE_PATHS: ReadonlyArray<readonly [string, (baseUrl: string) => Transport]> = [
  ['gRPC-web', (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: '1.1' })],
  [
    'gzipped gRPC (the limit holds for the inflated message)',
    (baseUrl) => createGrpcTransport({ baseUrl, sendCompression: compressionGzip, compressMinBytes: 1 }),
  ],
];

describe('Request size: --max-request-bytes on every protocol', () => {
  let server: BatonServer;
  before(async () => {
    server = await startServer({ port: 0, maxRequestBytes: LIMIT });
  });
  after(() => server.close());

  const healthy = async (): Promise<void> => {
    expect((await fetch(`${server.url}/healthz`)).status).to.equal(200);
    expect(server.coordinator.taskQueue.peek('big')).to.equal(undefined);
    expect(server.coordinator.taskQueue.peek('rest-big')).to.equal(undefined);
  };

  it('answer a REST body over the limit with 413 naming the limit, and add nothing', async () => {
    const body = JSON.stringify(bigTask('rest-big'));
    const response = await fetch(`${server.url}/api/coordination/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(response.status).to.equal(413);
    expect(await response.json()).to.deep.equal({
      code: 'resource_exhausted',
      message: `a request message of ${Buffer.byteLength(body)} bytes${OVER}`,
    });
    await healthy();
  });

  for (const [name, transport] of PATHS) {
    it(`answer a ${name} message over the limit with RESOURCE_EXHAUSTED naming the limit`, async () => {
      const client = createClient(CoordinatorService, transport(server.url));
      const error = await client
        .addTask({ task: { id: 'big', metadata: bigTask('big').metadata } })
        .catch((e: unknown) => ConnectError.from(e));
      expect(error).to.be.instanceOf(ConnectError);
      expect((error as ConnectError).code).to.equal(Code.ResourceExhausted);
      expect((error as ConnectError).rawMessage).to.match(/^a request message of \d+ bytes: over the limit/);
      expect((error as ConnectError).rawMessage).to.include(OVER);
      expect(server.coordinator.taskQueue.peek('big')).to.equal(undefined);
      // A message under the limit still goes through on the same path.
      await client.addTask({ task: { id: `small ${name}` } });
      expect((await fetch(`${server.url}/healthz`)).status).to.equal(200);
    });
  }

  for (const [name, transport] of CONNECT_NODE_PATHS) {
    it(`answer a ${name} message over the limit with RESOURCE_EXHAUSTED`, async () => {
      const client = createClient(CoordinatorService, transport(server.url));
      const error = await client
        .addTask({ task: { id: 'big', metadata: bigTask('big').metadata } })
        .catch((e: unknown) => ConnectError.from(e));
      expect((error as ConnectError).code).to.equal(Code.ResourceExhausted);
      expect((error as ConnectError).rawMessage).to.include(`readMaxBytes ${LIMIT}`);
      await healthy();
    });
  }

  it('end a worker session whose message declares more than the limit, before it arrives', async () => {
    const session = http2.connect(server.url);
    try {
      const stream = session.request({
        ':method': 'POST',
        ':path': `/${WorkerService.typeName}/Session`,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(1_000_000, 1);
      stream.write(Buffer.concat([prefix, Buffer.alloc(100)]));
      const trailers = await new Promise<http2.IncomingHttpHeaders>((resolve) => {
        stream.on('response', (headers) => {
          if (headers['grpc-status'] !== undefined) resolve(headers);
        });
        stream.on('trailers', resolve);
        stream.resume();
      });
      expect(trailers['grpc-status']).to.equal(String(Code.ResourceExhausted));
      expect(decodeURIComponent(String(trailers['grpc-message']))).to.equal(
        `a request message of 1000000 bytes${OVER}`,
      );
      stream.close();
    } finally {
      session.close();
    }
    await healthy();
  });
});
