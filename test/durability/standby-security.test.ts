import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Code, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { expect } from 'chai';
import { bearer } from '../../src/client/connection.js';
import { createAdminClient, createWorker } from '../../src/client/index.js';
import { CoordinatorService } from '../../src/client/proto.js';
import { type BatonReplica, startReplica } from '../../src/server/replica.js';
import { Health, ServingStatus } from '../../src/server/services/health-service.js';
import type { PostgresUrl } from '../../src/server/store/postgres-store.js';
import {
  collectingLogger,
  type Fleet,
  hasOpenssl,
  httpsGet,
  makeFleet,
  selfSigned,
} from '../auth/support.js';
import { type PostgresCluster, postgresOrSkip } from '../support/postgres-cluster.js';
import { rejection } from '../support/rejection.js';
import { waitFor } from './harness.js';

/** Replicas started with the leader's certificate and tokens: the standby keeps the same gate. */
describe('high availability: a standby with TLS and tokens', function () {
  this.timeout(60_000);
  let cluster: PostgresCluster;
  let dir: string;
  let pem: { cert: string; key: string };
  let fleet: Fleet;
  const replicas: BatonReplica[] = [];

  before(async function () {
    if (!hasOpenssl) {
      console.log('      skipped: no openssl CLI on this machine to make a test certificate');
      this.skip();
    }
    cluster = await postgresOrSkip(this);
    dir = mkdtempSync(join(tmpdir(), 'baton-standby-tls-'));
    pem = selfSigned(dir);
    fleet = makeFleet();
  });
  afterEach(async () => {
    for (const r of replicas.splice(0)) await r.close();
  });
  after(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** A replica on `db` with TLS and tokens; resolves once it leads or stands by. */
  const replica = async (db: string): Promise<BatonReplica> => {
    let stood: () => void = () => {};
    const standing = new Promise<void>((resolve) => {
      stood = resolve;
    });
    const started = await startReplica({
      store: db as PostgresUrl,
      port: 0,
      tls: pem,
      auth: { tokens: fleet.entries },
      logger: collectingLogger().logger,
      onRole: (role) => {
        if (role === 'standby') stood();
      },
    });
    replicas.push(started);
    await Promise.race([standing, started.leading]);
    return started;
  };

  /** CoordinatorService at `url` over TLS, with `token` if given: one attempt, no following. */
  const coordinatorAt = (url: string, token?: string) =>
    createClient(
      CoordinatorService,
      createGrpcTransport({
        baseUrl: url,
        nodeOptions: { ca: pem.cert },
        interceptors: token === undefined ? [] : [bearer(token)],
      }),
    );

  it('answers probes and health over TLS, refuses a caller without a token as a leader does, and names the leader only to one with a token', async () => {
    const db = await cluster.createDatabase();
    const a = await replica(db);
    const b = await replica(db);
    expect(a.token).to.not.equal(undefined);
    expect(b.url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(a.url).to.match(/^https:/);

    const health = createClient(
      Health,
      createGrpcTransport({ baseUrl: b.url, nodeOptions: { ca: pem.cert } }),
    );
    expect((await health.check({})).status).to.equal(ServingStatus.NOT_SERVING);
    expect((await httpsGet(`${b.url}/readyz`, pem.cert)).status).to.equal(503);
    expect((await httpsGet(`${b.url}/healthz`, pem.cert)).status).to.equal(200);

    // Without a token: what the leader would answer, and not a word about where it is.
    const refused = await rejection(coordinatorAt(b.url).getProgress({}));
    expect(refused.code).to.equal(Code.Unauthenticated);
    expect(refused.metadata.get('baton-leader')).to.equal(null);
    for (const path of ['/api/coordination/progress', '/', '/dashboard/app.js', '/metrics']) {
      const answer = await httpsGet(`${b.url}${path}`, pem.cert);
      expect(answer.status, path).to.be.oneOf([401, 503]);
      expect(answer.body, path).to.not.include(a.url);
      expect(answer.headers['baton-leader'], path).to.equal(undefined);
    }
    expect((await httpsGet(`${b.url}/api/coordination/progress`, pem.cert)).status).to.equal(401);
    expect((await rejection(coordinatorAt(b.url, fleet.agent1).getProgress({}))).code).to.equal(
      Code.PermissionDenied,
    );

    // With one: the standby's refusal, which the SDK follows to the leader.
    const named = await rejection(coordinatorAt(b.url, fleet.reader).getProgress({}));
    expect(named.code).to.equal(Code.Unavailable);
    expect(named.metadata.get('baton-leader')).to.equal(a.url);
    const withToken = await httpsGet(`${b.url}/api/coordination/progress`, pem.cert, {
      authorization: `Bearer ${fleet.reader}`,
    });
    expect(withToken.status).to.equal(503);
    expect(withToken.headers['baton-leader']).to.equal(a.url);
    const reader = createAdminClient({ url: b.url, ca: pem.cert, token: fleet.reader });
    expect((await reader.progress()).total).to.equal(0);
  });

  it('takes over with the same certificate and tokens: the SDKs given both URLs carry on', async () => {
    const db = await cluster.createDatabase();
    const a = await replica(db);
    const b = await replica(db);
    const operator = createAdminClient({ urls: [a.url, b.url], ca: pem.cert, token: fleet.operator });
    await operator.addTask({ id: 'before' });
    await a.close();
    await b.leading;
    expect(b.url).to.match(/^https:/);
    await operator.addTask({ id: 'after' });
    expect((await operator.progress()).total).to.equal(2);
    const anonymous = createAdminClient({ urls: [a.url, b.url], ca: pem.cert });
    expect((await rejection(anonymous.progress())).code).to.equal(Code.Unauthenticated);

    const done: string[] = [];
    const worker = createWorker({
      url: a.url,
      urls: [a.url, b.url],
      id: 'agent-1',
      token: fleet.agent1,
      ca: pem.cert,
      maxConcurrency: 1,
      reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
      handler: (task) => {
        done.push(task.id);
        return 'ok';
      },
    });
    try {
      await worker.start();
      await waitFor(
        'both tasks complete',
        async () => (await operator.progress()).complete === 2,
        20_000,
        50,
      );
    } finally {
      await worker.stop();
    }
    expect(done.sort()).to.deep.equal(['after', 'before']);
  });
});
