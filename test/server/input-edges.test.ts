import * as http2 from 'node:http2';
import { Code, type ConnectError } from '@connectrpc/connect';
import { findTrailerError } from '@connectrpc/connect/protocol-grpc';
import { expect } from 'chai';
import { ErrorSchema } from '../../src/server/codec/proto.js';
import { type BatonServer, startServer } from '../../src/server/server.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field.
type Json = any;

/** `prefix`, the byte 0xFF (never valid UTF-8), then `suffix`. */
const withBadByte = (prefix: string, suffix: string): Buffer =>
  Buffer.concat([Buffer.from(prefix), Buffer.from([0xff]), Buffer.from(suffix)]);

/** A length-delimited protobuf field (lengths under 128 are one byte). */
const len = (no: number, data: Buffer): Buffer =>
  Buffer.concat([Buffer.from([(no << 3) | 2, data.length]), data]);

/** One unary gRPC call over HTTP/2 with a hand-made message, as any gRPC client could send it. */
async function grpcCall(url: string, path: string, message: Buffer): Promise<ConnectError | undefined> {
  const client = http2.connect(url);
  try {
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, message.length]), message]);
    const call = client.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const headers = new Headers();
    const keep = (h: http2.IncomingHttpHeaders) => {
      for (const [k, v] of Object.entries(h))
        if (!k.startsWith(':') && typeof v === 'string') headers.set(k, v);
    };
    call.on('response', keep);
    call.on('trailers', keep);
    call.on('data', () => {});
    await new Promise<void>((resolve, reject) => {
      call.on('close', resolve);
      call.on('error', reject);
      call.end(frame);
    });
    return findTrailerError(headers);
  } finally {
    client.close();
  }
}

describe('Input edges on every entry', () => {
  let server: BatonServer;
  const taskCount = () => server.coordinator.taskQueue.getProgress().total;
  const post = async (path: string, body: string | Buffer): Promise<{ status: number; body: Json }> => {
    const response = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    return { status: response.status, body: await response.json() };
  };

  before(async () => {
    server = await startServer({ port: 0 });
  });
  after(async () => {
    await server.close();
  });

  describe('an id that is not valid UTF-8', () => {
    it('REST refuses it with 400 naming the field, for raw bytes and for a lone surrogate', async () => {
      for (const body of [withBadByte('{"id":"a', '"}'), '{"id":"lone\\ud800"}']) {
        const reply = await post('/api/coordination/tasks', body);
        expect(reply.status).to.equal(400);
        expect(reply.body).to.include({ code: 'invalid_argument', field: 'id' });
        expect(reply.body.message).to.contain('UTF-8');
      }
      const batch = await post(
        '/api/coordination/tasks/batch',
        withBadByte('{"tasks":[{"id":"ok"},{"id":"b', '"}]}'),
      );
      expect(batch.status).to.equal(400);
      expect(batch.body.field).to.equal('tasks[1].id');
      expect(taskCount()).to.equal(0);
    });

    it('Connect JSON refuses it with invalid_argument and the field in the error detail', async () => {
      const reply = await post(
        '/coord.v1.CoordinatorService/AddTask',
        withBadByte('{"task":{"id":"b', '"}}'),
      );
      expect(reply.status).to.equal(400);
      expect(reply.body.code).to.equal('invalid_argument');
      expect(reply.body.details[0].debug.field).to.equal('id');
      // A lone surrogate never reaches the service: protobuf-es's JSON reader names the field.
      const lone = await post('/coord.v1.CoordinatorService/AddTask', '{"task":{"id":"lone\\ud800"}}');
      expect(lone.status).to.equal(400);
      expect(lone.body.message).to.contain('TaskSpec.id').and.contain('UTF8');
      expect(taskCount()).to.equal(0);
    });

    it('binary gRPC refuses it with INVALID_ARGUMENT (not INTERNAL) naming the field', async () => {
      const badId = Buffer.from([0x63, 0xff]);
      const one = await grpcCall(server.url, '/coord.v1.CoordinatorService/AddTask', len(1, len(1, badId)));
      expect(one?.code).to.equal(Code.InvalidArgument);
      expect(one?.rawMessage).to.equal('task.id must be valid UTF-8');
      expect(one?.findDetails(ErrorSchema)[0]?.field).to.equal('task.id');
      const good = Buffer.concat([len(1, len(1, Buffer.from('fine'))), len(1, len(1, Buffer.from('x')))]);
      const badDep = Buffer.concat([len(1, Buffer.from('y')), len(2, badId)]);
      const two = await grpcCall(
        server.url,
        '/coord.v1.CoordinatorService/BatchAddTasks',
        Buffer.concat([good, len(1, badDep)]),
      );
      expect(two?.code).to.equal(Code.InvalidArgument);
      expect(two?.findDetails(ErrorSchema)[0]?.field).to.equal('tasks[2].deps[0]');
      expect(taskCount()).to.equal(0);
    });
  });

  describe('priority', () => {
    it('REST refuses a quoted number, 1e20 and 0.5 with 400 naming the field', async () => {
      for (const priority of ['"7"', '1e20', '0.5']) {
        const reply = await post('/api/coordination/tasks', `{"id":"p","priority":${priority}}`);
        expect(reply.status, priority).to.equal(400);
        expect(reply.body.field, priority).to.equal('priority');
      }
      const batch = await post(
        '/api/coordination/tasks/batch',
        '{"tasks":[{"id":"p"},{"id":"q","priority":"7"}]}',
      );
      expect(batch.status).to.equal(400);
      expect(batch.body.field).to.equal('tasks[1].priority');
      expect(taskCount()).to.equal(0);
    });

    it('Connect JSON refuses 1e20 and 0.5, naming the field', async () => {
      for (const priority of ['1e20', '0.5']) {
        const reply = await post(
          '/coord.v1.CoordinatorService/AddTask',
          `{"task":{"id":"p","priority":${priority}}}`,
        );
        expect(reply.status, priority).to.equal(400);
        expect(reply.body.details[0].debug.field, priority).to.equal('priority');
      }
      expect(taskCount()).to.equal(0);
    });
  });

  it('an error of a single POST /tasks names the field itself, not tasks[0]', async () => {
    const reply = await post('/api/coordination/tasks', '{"id":"lonely","deps":["nobody"]}');
    expect(reply.status).to.equal(400);
    expect(reply.body).to.include({ field: 'deps', taskId: 'lonely' });
  });
});
