import { Code, ConnectError, createClient, type Interceptor, type Transport } from '@connectrpc/connect';
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from '@connectrpc/connect-node';
import { expect } from 'chai';
import { CoordinatorService, LifecycleState } from '../../src/server/codec/proto.js';
import { type BatonServer, type ServerOptions, startServer } from '../../src/server/server.js';
import { Health } from '../../src/server/services/health-service.js';
import { collectingLogger, type Fleet, makeFleet } from './support.js';

type Outcome = 'ok' | 'unauthenticated' | 'permission_denied' | string;

/** A call of the spec as each path makes it. */
type Call = 'status' | 'add' | 'cancel' | 'stop';

interface Path {
  readonly name: string;
  readonly server: Partial<ServerOptions>;
  call(url: string, token: string | undefined, call: Call, id: string, query?: string): Promise<Outcome>;
}

const bearer = (token: string | undefined): Record<string, string> =>
  token === undefined ? {} : { authorization: `Bearer ${token}` };

function rpcPath(
  name: string,
  server: Partial<ServerOptions>,
  transport: (url: string, headers: Record<string, string>) => Transport,
): Path {
  return {
    name,
    server,
    async call(url, token, call, id) {
      const client = createClient(CoordinatorService, transport(url, bearer(token)));
      try {
        if (call === 'status') await client.getStatus({});
        else if (call === 'add') await client.addTask({ task: { id } });
        else if (call === 'cancel') await client.cancelTask({ id });
        else await client.stop({});
        return 'ok';
      } catch (error) {
        const code = ConnectError.from(error).code;
        return code === Code.Unauthenticated
          ? 'unauthenticated'
          : code === Code.PermissionDenied
            ? 'permission_denied'
            : Code[code];
      }
    },
  };
}

const withHeaders = (headers: Record<string, string>): Interceptor[] => [
  (next) => (request) => {
    for (const [k, v] of Object.entries(headers)) request.header.set(k, v);
    return next(request);
  },
];

const REST: Path = {
  name: 'the REST gateway',
  server: {},
  async call(url, token, call, id, query = '') {
    const routes: Record<Call, [string, string, unknown?]> = {
      status: ['GET', '/api/coordination/status'],
      add: ['POST', '/api/coordination/tasks', { id }],
      cancel: ['POST', `/api/coordination/tasks/${id}/cancel`, {}],
      stop: ['POST', '/api/coordination/stop', {}],
    };
    const [method, path, body] = routes[call];
    const response = await fetch(`${url}${path}${query}`, {
      method,
      headers: { ...bearer(token), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await response.json()) as { code?: string };
    if (response.ok) return 'ok';
    expect(response.status).to.equal(
      json.code === 'unauthenticated' ? 401 : json.code === 'permission_denied' ? 403 : response.status,
    );
    if (response.status === 401) expect(response.headers.get('www-authenticate')).to.match(/^Bearer/);
    return json.code ?? String(response.status);
  },
};

/** Every way a call reaches a handler: each fast path, connect-node's own, and REST. */
const PATHS: readonly Path[] = [
  rpcPath('the unary fast path (gRPC)', {}, (baseUrl, headers) =>
    createGrpcTransport({ baseUrl, interceptors: withHeaders(headers) }),
  ),
  rpcPath('the unary fast path (Connect JSON, HTTP/1.1)', {}, (baseUrl, headers) =>
    createConnectTransport({
      baseUrl,
      httpVersion: '1.1',
      useBinaryFormat: false,
      interceptors: withHeaders(headers),
    }),
  ),
  rpcPath('connect-node (gRPC)', { unaryFastPath: false, sessionFastPath: false }, (baseUrl, headers) =>
    createGrpcTransport({ baseUrl, interceptors: withHeaders(headers) }),
  ),
  rpcPath('connect-node (gRPC-Web)', {}, (baseUrl, headers) =>
    createGrpcWebTransport({ baseUrl, httpVersion: '1.1', interceptors: withHeaders(headers) }),
  ),
  REST,
];

for (const path of PATHS) {
  describe(`Auth on ${path.name}`, () => {
    let fleet: Fleet;
    let server: BatonServer;
    let log: ReturnType<typeof collectingLogger>;
    const call = (token: string | undefined, what: Call, id = 't1', query?: string) =>
      path.call(server.url, token, what, id, query);

    before(async () => {
      fleet = makeFleet();
      log = collectingLogger();
      server = await startServer({
        port: 0,
        ...path.server,
        auth: { tokens: fleet.entries },
        logger: log.logger,
      });
    });
    after(() => server.close());

    it('refuses a call without a token or with an unknown one as UNAUTHENTICATED, changing nothing', async () => {
      expect(await call(undefined, 'add')).to.equal('unauthenticated');
      expect(await call('baton_not-a-token', 'add')).to.equal('unauthenticated');
      expect(await call(undefined, 'status')).to.equal('unauthenticated');
      expect(server.coordinator.taskQueue.getProgress().total).to.equal(0);
    });

    it('lets each role do what the table gives it and refuses the rest as PERMISSION_DENIED', async () => {
      expect(await call(fleet.reader, 'status')).to.equal('ok');
      expect(await call(fleet.reader, 'add')).to.equal('permission_denied');
      expect(await call(fleet.agent1, 'status')).to.equal('permission_denied');
      expect(await call(fleet.agent1, 'add')).to.equal('permission_denied');
      expect(server.coordinator.taskQueue.getProgress().total).to.equal(0);
      expect(await call(fleet.operator, 'add', 't1')).to.equal('ok');
      expect(await call(fleet.operator, 'add', 't2')).to.equal('ok');
      expect(await call(fleet.agent1, 'cancel', 't2')).to.equal('permission_denied');
      expect(await call(fleet.operator, 'cancel', 't2')).to.equal('ok');
      expect(server.coordinator.taskQueue.getProgress().total).to.equal(2);
    });

    it('keeps Stop for admins: operator, reader and worker tokens leave the coordinator running', async () => {
      for (const token of [fleet.operator, fleet.reader, fleet.agent1]) {
        expect(await call(token, 'stop')).to.equal('permission_denied');
      }
      expect(server.coordinator.state).to.equal('running');
    });

    it('logs each refusal once, naming the route and never the token', async () => {
      const before = log.refusals().length;
      await call(fleet.reader, 'stop');
      await call(undefined, 'status');
      const lines = log.refusals().slice(before);
      expect(lines).to.have.length(2);
      expect(lines[0]).to.match(/role reader may not call coord\.v1\.CoordinatorService\/Stop/);
      expect(lines[1]).to.match(/missing bearer token/);
      expect(lines.join('\n')).to.not.include(fleet.reader);
    });

    it('lets an admin stop it', async () => {
      expect(await call(fleet.admin, 'stop')).to.equal('ok');
      expect(server.coordinator.state).to.equal('stopped');
    });
  });
}

describe('Auth beyond the RPCs', () => {
  let fleet: Fleet;
  let server: BatonServer;
  before(async () => {
    fleet = makeFleet();
    server = await startServer({
      port: 0,
      auth: { tokens: fleet.entries },
      logger: collectingLogger().logger,
    });
  });
  after(() => server.close());

  it('checks each call of one HTTP/2 connection by its own header', async () => {
    let token: string | undefined = fleet.reader;
    const transport = createGrpcTransport({
      baseUrl: server.url,
      interceptors: [
        (next) => (request) => {
          if (token !== undefined) request.header.set('authorization', `Bearer ${token}`);
          return next(request);
        },
      ],
    });
    const client = createClient(CoordinatorService, transport);
    const code = () =>
      client.getStatus({}).then(
        () => 'ok',
        (e: unknown) => Code[ConnectError.from(e).code],
      );
    expect(await code()).to.equal('ok');
    token = 'baton_forged';
    expect(await code()).to.equal('Unauthenticated');
    token = undefined;
    expect(await code()).to.equal('Unauthenticated');
    token = fleet.agent1;
    expect(await code()).to.equal('PermissionDenied');
    token = fleet.reader;
    expect(await code()).to.equal('ok');
  });

  it('refuses ?token= even when it is a good token', async () => {
    const response = await fetch(`${server.url}/api/coordination/status?token=${fleet.admin}`);
    expect(response.status).to.equal(401);
    expect(((await response.json()) as { message: string }).message).to.match(/\?token= is refused/);
    const both = await fetch(`${server.url}/api/coordination/status?access_token=${fleet.admin}`, {
      headers: bearer(fleet.admin),
    });
    expect(both.status).to.equal(401);
  });

  it('serves the probes, gRPC health and the dashboard page to anyone, /metrics to readers', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).to.equal(200);
    expect((await fetch(`${server.url}/readyz`)).status).to.equal(200);
    const health = createClient(Health, createGrpcTransport({ baseUrl: server.url }));
    expect((await health.check({})).status).to.equal(1);
    expect((await fetch(`${server.url}/`)).status).to.equal(200);
    expect((await fetch(`${server.url}/metrics`)).status).to.equal(401);
    expect((await fetch(`${server.url}/metrics`, { headers: bearer(fleet.agent1) })).status).to.equal(403);
    expect((await fetch(`${server.url}/metrics`, { headers: bearer(fleet.reader) })).status).to.equal(200);
  });

  it('checks the path the handler will serve, not a disguise of it', async () => {
    const sneaky = await fetch(`${server.url}/api/coordination/tasks/x/../../stop`, {
      method: 'POST',
      headers: { ...bearer(fleet.operator), 'content-type': 'application/json' },
      body: '{}',
    });
    expect(sneaky.status).to.equal(403);
    expect(server.coordinator.state).to.equal('running');
  });

  it('answers unknown paths to non-admins with PERMISSION_DENIED rather than saying what exists', async () => {
    expect((await fetch(`${server.url}/nothing-here`, { headers: bearer(fleet.reader) })).status).to.equal(
      403,
    );
    expect((await fetch(`${server.url}/nothing-here`, { headers: bearer(fleet.admin) })).status).to.equal(
      404,
    );
  });
});

describe('Auth defaults', () => {
  it('serves open on loopback without an auth file, and says so', async () => {
    const server = await startServer({ port: 0 });
    try {
      expect(server.auth).to.equal('off');
      const client = createClient(CoordinatorService, createGrpcTransport({ baseUrl: server.url }));
      expect((await client.getStatus({})).state).to.equal(LifecycleState.RUNNING);
    } finally {
      await server.close();
    }
  });

  it('refuses to listen beyond loopback without an auth file unless insecure', async () => {
    let refused: unknown;
    try {
      await startServer({ port: 0, host: '0.0.0.0' });
    } catch (error) {
      refused = error;
    }
    expect(String(refused)).to.match(
      /refusing to listen on 0\.0\.0\.0 without auth.*--auth-file.*--insecure/,
    );
    const server = await startServer({ port: 0, host: '0.0.0.0', insecure: true });
    await server.close();
  });
});
