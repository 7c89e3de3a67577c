import { connect } from 'node:net';
import { expect } from 'chai';
import { type BatonServer, startServer } from '../../src/server/server.js';

describe('HTTP probes', () => {
  let server: BatonServer;
  const probe = async (path: string, method = 'GET') => {
    const response = await fetch(`${server.url}${path}`, { method });
    return {
      status: response.status,
      body: await response.text(),
      type: response.headers.get('content-type'),
    };
  };

  beforeEach(async () => {
    server = await startServer({ port: 0, log: () => {} });
  });
  afterEach(async () => {
    await server.close();
  });

  it('answers GET /healthz and /readyz with 200 ok while the coordinator runs', async () => {
    expect(await probe('/healthz')).to.deep.equal({
      status: 200,
      body: 'ok\n',
      type: 'text/plain; charset=utf-8',
    });
    expect(await probe('/readyz')).to.deep.equal({
      status: 200,
      body: 'ok\n',
      type: 'text/plain; charset=utf-8',
    });
    expect((await probe('/readyz', 'HEAD')).status).to.equal(200);
  });

  it('says not ready (503) once the coordinator is stopped, while the process stays live', async () => {
    server.coordinator.stop();
    expect(await probe('/readyz')).to.deep.include({ status: 503, body: 'not serving\n' });
    expect((await probe('/healthz')).status).to.equal(200);
  });

  it('answers an HTTP/1.0 check with no Host header and a query string, as load balancers send', async () => {
    const { port } = new URL(server.url);
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () =>
        socket.write('GET /healthz?from=lb HTTP/1.0\r\n\r\n'),
      );
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk.toString();
      });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(raw).to.match(/^HTTP\/1\.1 200 OK\r\n/);
    expect(raw.endsWith('\r\n\r\nok\n')).to.equal(true);
  });

  it('stays ready while draining and drained: the coordinator still takes reports, tasks and a start', async () => {
    server.coordinator.drain();
    expect(server.coordinator.state).to.equal('drained');
    expect((await probe('/readyz')).status).to.equal(200);
  });

  it('leaves every other path to the REST gateway', async () => {
    const response = await fetch(`${server.url}/api/coordination/progress`);
    expect(response.status).to.equal(200);
    expect((await fetch(`${server.url}/healthzz`)).status).to.equal(404);
  });
});
