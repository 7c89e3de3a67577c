import { Code, ConnectError, createClient, type Transport } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { expect } from 'chai';
import { grpcTransport } from '../../src/client/connection.js';
import { createWorker, type Worker } from '../../src/client/index.js';
import { WorkspaceService } from '../../src/server/codec/proto.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { createTempRepo, type TempRepo } from '../workspaces/temp-repo.js';
import { collectingLogger, type Fleet, makeFleet } from './support.js';

describe('Worker tokens and the merge queue', () => {
  let repo: TempRepo;
  let fleet: Fleet;
  let server: BatonServer;
  let log: ReturnType<typeof collectingLogger>;
  const workers: Worker[] = [];

  before(async () => {
    repo = await createTempRepo('baton-auth-ws-');
    fleet = makeFleet();
    log = collectingLogger();
    server = await startServer({
      port: 0,
      repo: { repo: repo.path, check: 'true' },
      auth: { tokens: fleet.entries },
      logger: log.logger,
    });
    for (const [id, token] of [
      ['agent-1', fleet.agent1],
      ['agent-2', fleet.agent2],
    ] as const) {
      const w = createWorker({
        url: server.url,
        id,
        token,
        workspace: true,
        maxConcurrency: 1,
        handler: () => null,
      });
      workers.push(w);
      await w.start();
    }
  });
  after(async () => {
    await Promise.all(workers.map((w) => w.stop({ signal: AbortSignal.timeout(2000) }).catch(() => {})));
    await server.close();
    repo.remove();
  });

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const transports: readonly (readonly [string, (token: string) => Transport])[] = [
    ['gRPC (unary fast path)', (token) => grpcTransport(server.url, { token })],
    [
      'Connect JSON (HTTP/1.1)',
      (token) =>
        createConnectTransport({
          baseUrl: server.url,
          httpVersion: '1.1',
          useBinaryFormat: false,
          interceptors: [
            (next) => (request) => {
              request.header.set('authorization', `Bearer ${token}`);
              return next(request);
            },
          ],
        }),
    ],
  ];

  for (const [name, transport] of transports) {
    it(`refuses, over ${name}, a worker token queueing another worker's branch or in another's name`, async () => {
      const client = createClient(WorkspaceService, transport(fleet.agent1));
      for (const request of [{ branch: 'baton/agent-2' }, { branch: 'baton/agent-1', by: 'agent-2' }]) {
        const error = await client.enqueueMerge(request).catch((e: unknown) => ConnectError.from(e));
        expect((error as ConnectError).code).to.equal(Code.PermissionDenied);
      }
      expect(
        (await client.listMergeQueue({}).catch((e: unknown) => ConnectError.from(e))) as ConnectError,
      ).to.have.property('code', Code.PermissionDenied);
    });
  }

  it('refuses the same over REST, logging each refusal once', async () => {
    const before = log.refusals().length;
    const response = await fetch(`${server.url}/api/coordination/merge-queue`, {
      method: 'POST',
      headers: { ...bearer(fleet.agent1), 'content-type': 'application/json' },
      body: JSON.stringify({ branch: 'baton/agent-2' }),
    });
    expect(response.status).to.equal(403);
    expect(((await response.json()) as { message: string }).message).to.equal(
      'branch baton/agent-2: a worker token may only queue its own workspace branch (baton/agent-1)',
    );
    expect(log.refusals().length - before).to.equal(1);
  });

  it('lets the SDK worker queue its own branch, in its own name, and nothing else was queued', async () => {
    const work = await repo.commit(repo.root, { 'agent-1.txt': 'done\n' }, 'agent-1 work');
    await repo.branch('baton/agent-1', work);
    const entry = await (workers[0] as Worker).enqueueMerge(work);
    expect(entry).to.deep.include({ branch: 'baton/agent-1', by: 'agent-1' });
    const admin = createClient(WorkspaceService, grpcTransport(server.url, { token: fleet.reader }));
    expect((await admin.listMergeQueue({})).entries.map((e) => e.branch)).to.deep.equal(['baton/agent-1']);
  });
});
