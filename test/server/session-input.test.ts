import * as http2 from 'node:http2';
import { Code, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { expect } from 'chai';
import { RateLimitService } from '../../src/server/codec/proto.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { envelope } from '../fuzz/grpc-requests.js';
import { openRawSession, type SessionEvent } from '../fuzz/raw-session.js';
import { rejection } from '../support/rejection.js';

const endOf = (e: SessionEvent | undefined) => (e !== undefined && 'end' in e ? e.end : undefined);

// Found by the fuzz suite (test/fuzz): a worker id of any length or bytes joined (a session or a
// rate stream), and a session
// message that did not parse ended the call as INTERNAL, which Baton keeps for its own bugs.
describe('The worker session refuses bad input as the client’s mistake', () => {
  let server: BatonServer;
  let connection: http2.ClientHttp2Session;

  before(async () => {
    server = await startServer({ port: 0 });
    connection = http2.connect(server.url);
  });
  after(async () => {
    connection.close();
    await server.close();
  });

  for (const [path, headers] of [
    ['the session fast path', {}],
    ['connect-node', { 'grpc-timeout': '60S' }],
  ] as const) {
    describe(`over ${path}`, () => {
      it('refuses a hello whose worker id is too long, has a control character or is not UTF-8', async () => {
        for (const workerId of ['w'.repeat(257), 'nul\u0000w', 'lone\ud800', 'tab\tw']) {
          const session = openRawSession(connection, headers);
          session.send({ kind: { case: 'hello', value: { workerId } } });
          const end = endOf(await session.next());
          expect(end?.code, JSON.stringify(workerId)).to.equal(Code.InvalidArgument);
          expect(end?.message).to.match(/^workerId (is 257 characters|must be)/);
        }
        expect(server.coordinator.status().workers).to.deep.equal([]);
      });

      it('ends a session whose message does not parse with INVALID_ARGUMENT, not INTERNAL', async () => {
        const session = openRawSession(connection, headers);
        session.sendBytes(envelope(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])));
        expect(endOf(await session.next())?.code).to.equal(Code.InvalidArgument);
      });
    });
  }

  it('refuses a rate stream’s hello whose worker id breaks the same rules', async () => {
    const rate = createClient(RateLimitService, createGrpcTransport({ baseUrl: server.url }));
    for (const workerId of ['w'.repeat(257), 'nul\u0000w']) {
      async function* hello() {
        yield { kind: { case: 'hello' as const, value: { workerId } } };
      }
      const error = await rejection(
        (async () => {
          for await (const _ of rate.acquire(hello()));
        })(),
      );
      expect(error.code, JSON.stringify(workerId)).to.equal(Code.InvalidArgument);
      expect(error.rawMessage).to.match(/^workerId /);
    }
  });

  it('ends a session that sends a compressed flag without an encoding with INVALID_ARGUMENT', async () => {
    const session = openRawSession(connection);
    session.sendBytes(envelope(Buffer.from([0x1a, 0x00]), 1));
    expect(endOf(await session.next())?.code).to.equal(Code.InvalidArgument);
  });
});
