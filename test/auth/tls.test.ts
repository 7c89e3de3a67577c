import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { Code, ConnectError } from '@connectrpc/connect';
import { expect } from 'chai';
import { createAdminClient, createWorker } from '../../src/client/index.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { eventually } from '../support/waiting.js';
import { collectingLogger, type Fleet, hasOpenssl, httpsGet, makeFleet, selfSigned } from './support.js';

/** The protocol the server picks when the client offers only `offer`. */
function alpnOf(port: number, ca: string, offer: string[]): Promise<string | false | null> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: '127.0.0.1', port, ca, ALPNProtocols: offer, servername: 'localhost' },
      () => {
        resolve(socket.alpnProtocol);
        socket.end();
      },
    );
    socket.on('error', reject);
  });
}

describe('TLS on the one port', () => {
  let dir: string;
  let pem: { cert: string; key: string };
  let fleet: Fleet;
  let server: BatonServer;

  before(async function () {
    if (!hasOpenssl) {
      console.log('    (skipped: no openssl CLI on this machine to make a test certificate)');
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'baton-tls-'));
    pem = selfSigned(dir);
    fleet = makeFleet();
    server = await startServer({
      port: 0,
      tls: pem,
      auth: { tokens: fleet.entries },
      logger: collectingLogger().logger,
    });
  });
  after(async () => {
    await server?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('serves an https URL and negotiates h2 or http/1.1 by ALPN', async () => {
    expect(server.url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await alpnOf(server.port, pem.cert, ['h2', 'http/1.1'])).to.equal('h2');
    expect(await alpnOf(server.port, pem.cert, ['http/1.1'])).to.equal('http/1.1');
  });

  it('answers gRPC, Connect and REST over TLS, with the token still required', async () => {
    for (const protocol of ['grpc', 'connect'] as const) {
      const admin = createAdminClient({ url: server.url, protocol, ca: pem.cert, token: fleet.reader });
      expect((await admin.progress()).total).to.equal(0);
      const anonymous = createAdminClient({ url: server.url, protocol, ca: pem.cert });
      const refused = await anonymous.progress().catch((e: unknown) => ConnectError.from(e));
      expect((refused as ConnectError).code).to.equal(Code.Unauthenticated);
    }
    const rest = await httpsGet(`${server.url}/api/coordination/progress`, pem.cert, {
      authorization: `Bearer ${fleet.reader}`,
    });
    // Node's https offers no ALPN at all: such a client is served HTTP/1.1.
    expect({ status: rest.status, alpn: rest.alpn }).to.deep.equal({ status: 200, alpn: 'false' });
  });

  it('runs an SDK worker session over TLS', async () => {
    const worker = createWorker({
      url: server.url,
      id: 'agent-1',
      token: fleet.agent1,
      ca: pem.cert,
      maxConcurrency: 1,
      handler: async () => 'done',
    });
    try {
      await worker.start();
      await createAdminClient({ url: server.url, ca: pem.cert, token: fleet.operator }).addTask({
        id: 'tls-1',
      });
      await eventually(() => {
        expect(server.coordinator.taskQueue.get('tls-1')?.status).to.equal('complete');
      });
    } finally {
      await worker.stop();
    }
  });

  it('is refused by a client that does not trust the certificate, and by a cleartext one', async () => {
    const untrusting = createAdminClient({ url: server.url, token: fleet.reader });
    const error = await untrusting.progress().catch((e: unknown) => ConnectError.from(e));
    expect((error as ConnectError).message).to.match(/self-signed certificate/);
    const cleartext = createAdminClient({
      url: server.url.replace('https:', 'http:'),
      token: fleet.reader,
      defaultTimeoutMs: 3000,
    });
    const failed = await cleartext.progress().then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(failed).to.be.instanceOf(ConnectError);
  });
});
