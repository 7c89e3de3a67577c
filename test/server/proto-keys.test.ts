import * as http2 from 'node:http2';
import { create, fromBinary, type JsonObject, toBinary, toJson } from '@bufbuild/protobuf';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { expect } from 'chai';
import { createWorker, keepProtoKeysAsData } from '../../src/client/index.js';
import {
  AddTaskRequestSchema,
  CoordinatorService,
  GetTaskResponseSchema,
} from '../../src/server/codec/proto.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { startCli, tempDir } from '../durability/harness.js';
import { postgresOrSkip } from '../support/postgres-cluster.js';

/** Keys that name Object.prototype's own members, at the top and nested, as JSON text. */
const METADATA_TEXT =
  '{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},' +
  '"nested":{"__proto__":[1,2],"toString":"x","hasOwnProperty":1,"valueOf":{"__proto__":null}}}';
const RESULT_TEXT = '{"__proto__":{"ok":true},"constructor":"c"}';
const metadata = () => JSON.parse(METADATA_TEXT) as JsonObject;

/** The JSON text of a value, keys in order: equal texts, equal data. */
const text = (value: unknown) => JSON.stringify(value);

const notPolluted = () => {
  expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
  expect(Object.prototype).not.to.have.own.property('polluted');
  expect(Object.getPrototypeOf(Object.prototype)).to.equal(null);
};

const restAdd = (url: string, id: string) =>
  fetch(`${url}/api/coordination/tasks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: `{"id": "${id}", "metadata": ${METADATA_TEXT}}`,
  });
const restMetadata = async (url: string, id: string) =>
  ((await (await fetch(`${url}/api/coordination/tasks/${id}`)).json()) as { metadata: unknown }).metadata;
const connectJson = (url: string, method: string, body: string) =>
  fetch(`${url}/coord.v1.CoordinatorService/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });

/**
 * The process's `__proto__` accessor removed for a while, as in `baton serve`: protobuf-es then
 * keeps such keys in this process too (the SDK's encoding and decoding included).
 */
function withProtoKeysAsData(): void {
  let saved: PropertyDescriptor | undefined;
  before(() => {
    saved = Object.getOwnPropertyDescriptor(Object.prototype, '__proto__');
    keepProtoKeysAsData();
  });
  after(() => {
    if (saved !== undefined) Object.defineProperty(Object.prototype, '__proto__', saved);
  });
}

describe('__proto__ and constructor keys in metadata and results are data, on every path', function () {
  this.timeout(30_000);
  withProtoKeysAsData();

  for (const store of ['memory', 'sqlite'] as const) {
    describe(`with the ${store} store`, () => {
      let server: BatonServer;
      let dir: ReturnType<typeof tempDir>;
      const start = () => startServer({ port: 0, store, dbPath: `${dir.path}/baton.db` });
      before(async () => {
        dir = tempDir('baton-proto-');
        server = await start();
      });
      after(async () => {
        await server.close();
        dir.remove();
      });

      it('round-trips over REST JSON, Connect JSON and gRPC binary, and pollutes nothing', async () => {
        expect((await restAdd(server.url, 'rest')).status).to.equal(200);
        const added = await connectJson(
          server.url,
          'AddTask',
          `{"task": {"id": "connect", "metadata": ${METADATA_TEXT}}}`,
        );
        expect(added.status).to.equal(200);
        const grpc = createClient(CoordinatorService, createGrpcTransport({ baseUrl: server.url }));
        await grpc.addTask({ task: { id: 'grpc', metadata: metadata() } });

        for (const id of ['rest', 'connect', 'grpc']) {
          expect(text(await restMetadata(server.url, id)), `${id} over REST`).to.equal(METADATA_TEXT);
          const reply = await connectJson(server.url, 'GetTask', `{"id": "${id}"}`);
          const task = ((await reply.json()) as { task: { metadata: unknown } }).task;
          expect(text(task.metadata), `${id} over Connect JSON`).to.equal(METADATA_TEXT);
          expect(text((await grpc.getTask({ id })).task?.metadata), `${id} over gRPC`).to.equal(
            METADATA_TEXT,
          );
        }
        notPolluted();
      });

      it('hands a worker its metadata and keeps its result, through a restart', async () => {
        const seen: string[] = [];
        const worker = createWorker({
          url: server.url,
          id: 'w1',
          maxConcurrency: 1,
          handler: async (task) => {
            if (task.id === 'work') seen.push(text(task.metadata));
            return JSON.parse(RESULT_TEXT);
          },
        });
        await worker.start();
        try {
          await restAdd(server.url, 'work');
          const deadline = Date.now() + 10_000;
          while (server.coordinator.taskQueue.peek('work')?.status !== 'complete') {
            if (Date.now() > deadline) throw new Error('the task did not complete');
            await new Promise((done) => setTimeout(done, 20));
          }
        } finally {
          await worker.stop();
        }
        expect(seen).to.deep.equal([METADATA_TEXT]);
        const result = async () =>
          ((await (await fetch(`${server.url}/api/coordination/tasks/work`)).json()) as { result: unknown })
            .result;
        expect(text(await result())).to.equal(RESULT_TEXT);
        if (store === 'sqlite') {
          await server.close();
          server = await start();
          expect(text(await restMetadata(server.url, 'work'))).to.equal(METADATA_TEXT);
          expect(text(await restMetadata(server.url, 'grpc'))).to.equal(METADATA_TEXT);
          expect(text(await result())).to.equal(RESULT_TEXT);
        }
        notPolluted();
      });
    });
  }
});

/** One gRPC unary call by hand: the message bytes in, the reply's bytes out. */
async function grpcUnary(url: string, method: string, message: Uint8Array): Promise<Uint8Array> {
  const session = http2.connect(url);
  try {
    const stream = session.request({
      ':method': 'POST',
      ':path': `/coord.v1.CoordinatorService/${method}`,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    stream.end(frame);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    return body.subarray(5, 5 + body.readUInt32BE(1));
  } finally {
    session.close();
  }
}

describe('baton serve keeps __proto__ keys as data in its own process, through a restart', function () {
  this.timeout(30_000);

  /** Adds a task on each path to `baton serve` with these store flags, restarts it, and reads them all. */
  const roundTrip = async (store: readonly string[]) => {
    const dir = tempDir('baton-proto-serve-');
    const args = ['--port=0', ...store, `--db=${dir.path}/baton.db`];
    let proc = await startCli(args);
    const urlOf = () => /listening on (\S+)/.exec(proc.output())?.[1] as string;
    try {
      expect((await restAdd(urlOf(), 'rest')).status).to.equal(200);
      const body = `{"task": {"id": "connect", "metadata": ${METADATA_TEXT}}}`;
      expect((await connectJson(urlOf(), 'AddTask', body)).status).to.equal(200);
      // This process still has its accessor: the message is written as protobuf-es would with
      // none, by taking it away just while encoding and decoding.
      const saved = Object.getOwnPropertyDescriptor(Object.prototype, '__proto__') as PropertyDescriptor;
      const bare = <T>(fn: () => T): T => {
        keepProtoKeysAsData();
        try {
          return fn();
        } finally {
          Object.defineProperty(Object.prototype, '__proto__', saved);
        }
      };
      const request = bare(() =>
        toBinary(
          AddTaskRequestSchema,
          create(AddTaskRequestSchema, { task: { id: 'grpc', metadata: metadata() } }),
        ),
      );
      await grpcUnary(urlOf(), 'AddTask', request);

      await proc.kill('SIGTERM');
      proc = await startCli(args);
      for (const id of ['rest', 'connect', 'grpc']) {
        expect(text(await restMetadata(urlOf(), id)), id).to.equal(METADATA_TEXT);
        const reply = await connectJson(urlOf(), 'GetTask', `{"id": "${id}"}`);
        expect(text(((await reply.json()) as { task: { metadata: unknown } }).task.metadata)).to.equal(
          METADATA_TEXT,
        );
        const bytes = await grpcUnary(
          urlOf(),
          'GetTask',
          new Uint8Array([10, id.length, ...Buffer.from(id)]),
        );
        const metadataOf = bare(() =>
          text(toJson(GetTaskResponseSchema, fromBinary(GetTaskResponseSchema, bytes))),
        );
        expect(metadataOf).to.include(`"metadata":${METADATA_TEXT}`);
      }
    } finally {
      await proc.kill('SIGTERM');
      dir.remove();
    }
  };

  it('with SQLite: over REST, Connect JSON and gRPC binary (encoded and decoded here by hand)', () =>
    roundTrip(['--store=sqlite']));

  it('with PostgreSQL: the same', async function () {
    const cluster = await postgresOrSkip(this);
    await roundTrip([`--store=${await cluster.createDatabase()}`]);
  });
});
