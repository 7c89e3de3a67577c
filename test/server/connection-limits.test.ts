import * as http2 from 'node:http2';
import * as net from 'node:net';
import { Code, ConnectError } from '@connectrpc/connect';
import { expect } from 'chai';
import { createAdminClient, createWorker } from '../../src/client/index.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { eventually } from '../support/waiting.js';

const HEADER_MS = 300;
const IDLE_MS = 1_200;

/** A raw TCP connection to the server, and when (ms after connecting) the server closed it. */
function connect(server: BatonServer): Promise<{ socket: net.Socket; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(server.port, '127.0.0.1');
    socket.once('error', reject);
    socket.once('connect', () => {
      const started = Date.now();
      const closed = new Promise<number>((done) => socket.once('close', () => done(Date.now() - started)));
      socket.on('data', () => {});
      socket.on('error', () => {});
      resolve({ socket, closed });
    });
  });
}

/** Writes `text` one byte every `everyMs` while the socket is open; resolves with the bytes sent. */
async function trickle(socket: net.Socket, text: string, everyMs: number): Promise<number> {
  let sent = 0;
  for (const byte of text) {
    if (socket.destroyed || !socket.writable) break;
    socket.write(byte);
    sent++;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return sent;
}

const REQUEST = 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: slow-slow-slow-slow-slow\r\n\r\n';

describe('Connection limits: slow-loris and idle connections are closed', () => {
  let server: BatonServer;
  before(async () => {
    server = await startServer({
      port: 0,
      connectionLimits: { headerTimeoutMs: HEADER_MS, idleTimeoutMs: IDLE_MS, maxStreamsPerConnection: 7 },
      heartbeatIntervalMs: 100,
      leaseTtlMs: 5_000,
    });
  });
  after(() => server.close());

  it('close an HTTP/1.1 connection whose headers arrive one byte at a time after --header-timeout-ms', async () => {
    const { socket, closed } = await connect(server);
    const sent = await trickle(socket, REQUEST, 40);
    const after = await closed;
    expect(sent).to.be.below(REQUEST.length);
    expect(after).to.be.within(HEADER_MS - 50, HEADER_MS + 1_000);
  });

  it('close a connection that sends nothing after --header-timeout-ms', async () => {
    const { closed } = await connect(server);
    expect(await closed).to.be.within(HEADER_MS - 50, HEADER_MS + 1_000);
  });

  it('close a kept-alive HTTP/1.1 connection idle after its request, after --idle-timeout-ms', async () => {
    const { socket, closed } = await connect(server);
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString();
    });
    socket.write(REQUEST);
    await eventually(() => {
      expect(answer).to.match(/^HTTP\/1\.1 200/);
    });
    const answeredAt = Date.now();
    await closed;
    expect(Date.now() - answeredAt).to.be.within(IDLE_MS - 50, IDLE_MS + 1_000);
  });

  it('close a kept-alive connection whose next request trickles in, after --header-timeout-ms', async () => {
    const { socket, closed } = await connect(server);
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString();
    });
    socket.write(REQUEST);
    await eventually(() => {
      expect(answer).to.match(/^HTTP\/1\.1 200/);
    });
    const startedAt = Date.now();
    const sent = await trickle(socket, REQUEST, 40);
    await closed;
    expect(sent).to.be.below(REQUEST.length);
    expect(Date.now() - startedAt).to.be.below(IDLE_MS - 200);
  });

  it('close an HTTP/2 connection with no stream open after --idle-timeout-ms, and cap its streams', async () => {
    const session = http2.connect(server.url);
    session.on('error', () => {});
    const started = Date.now();
    await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
    expect(session.remoteSettings.maxConcurrentStreams).to.equal(7);
    await new Promise<void>((resolve) => session.once('close', () => resolve()));
    expect(Date.now() - started).to.be.within(IDLE_MS - 50, IDLE_MS + 1_000);
  });

  it('keep a worker session and an event stream open past the idle timeout: each has a live stream', async () => {
    const done: string[] = [];
    const worker = createWorker({
      url: server.url,
      id: 'steady',
      maxConcurrency: 1,
      handler: async (task) => {
        done.push(task.id);
        return null;
      },
    });
    await worker.start();
    const events = await fetch(`${server.url}/api/coordination/events`);
    const reader = (events.body as ReadableStream<Uint8Array>).getReader();
    let seen = '';
    const reading = (async () => {
      for (;;) {
        const { value, done: ended } = await reader.read();
        if (ended) return;
        seen += Buffer.from(value).toString();
      }
    })();
    await new Promise((r) => setTimeout(r, IDLE_MS * 3));
    const admin = createAdminClient({ url: server.url, protocol: 'grpc' });
    await admin.addTasks([{ id: 'after-idle' }]);
    await eventually(() => {
      expect(done).to.deep.equal(['after-idle']);
    });
    await eventually(() => {
      expect(seen).to.include('after-idle');
    });
    await reader.cancel();
    await reading;
    await worker.stop();
  });

  it('hold a worker id to one session: a second hello replaces the first, which ends ABORTED and does not come back', async () => {
    const first = createWorker({ url: server.url, id: 'twin', maxConcurrency: 1, handler: async () => null });
    await first.start();
    const ended = first.done.then(
      () => undefined,
      (error: unknown) => ConnectError.from(error),
    );
    const second = createWorker({
      url: server.url,
      id: 'twin',
      maxConcurrency: 1,
      handler: async () => null,
    });
    await second.start();
    const error = await ended;
    expect(error?.code).to.equal(Code.Aborted);
    expect(error?.rawMessage).to.equal('replaced by a newer session of the same worker');
    await new Promise((r) => setTimeout(r, 300));
    expect(second.state).to.equal('running');
    expect(server.coordinator.pool.get('twin')).to.not.equal(undefined);
    await second.stop();
  });
});
