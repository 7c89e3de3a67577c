import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { expect } from 'chai';
import { grpcTransport } from '../../src/client/connection.js';
import {
  type AdminClient,
  createAdminClient,
  createRateLimitClient,
  createWorker,
} from '../../src/client/index.js';
import type { CoordinatorMessage } from '../../src/server/codec/proto.js';
import { ErrorCode, RateLimitService } from '../../src/server/codec/proto.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { createAsyncQueue } from '../../src/wire/async-queue.js';
import { openRawSession, type RawSession } from '../durability/harness.js';
import { eventually } from '../support/waiting.js';
import { collectingLogger, type Fleet, makeFleet } from './support.js';

const welcome = (m: CoordinatorMessage) => (m.kind.case === 'welcome' ? m.kind.value : undefined);
const proceed = (m: CoordinatorMessage) => (m.kind.case === 'proceed' ? m.kind.value.assignments : undefined);

/** The worker's stream on each path that serves it: the session fast path and connect-node's handler. */
for (const [name, sessionFastPath] of [
  ['the session fast path', true],
  ['connect-node', false],
] as const) {
  describe(`Worker tokens on ${name}`, () => {
    let fleet: Fleet;
    let server: BatonServer;
    let admin: AdminClient;
    let log: ReturnType<typeof collectingLogger>;
    const closers: (() => unknown)[] = [];
    const raw = (token: string, workerId: string): RawSession => {
      const s = openRawSession(server.url, workerId, 1, grpcTransport(server.url, { token }));
      closers.push(() => s.abort());
      return s;
    };

    beforeEach(async () => {
      fleet = makeFleet();
      log = collectingLogger();
      server = await startServer({
        port: 0,
        sessionFastPath,
        auth: { tokens: fleet.entries },
        logger: log.logger,
      });
      admin = createAdminClient({ url: server.url, token: fleet.operator, defaultTimeoutMs: 5000 });
    });
    afterEach(async () => {
      for (const close of closers.splice(0)) await close();
      await server.close();
    });

    it('runs a task for the SDK worker whose token names its id', async () => {
      const worker = createWorker({
        url: server.url,
        id: 'agent-1',
        token: fleet.agent1,
        maxConcurrency: 1,
        handler: async () => ({ done: true }),
      });
      closers.push(() => worker.stop());
      await worker.start();
      await admin.addTask({ id: 't1' });
      await eventually(() => {
        expect(server.coordinator.taskQueue.get('t1')?.status).to.equal('complete');
      });
    });

    it('refuses a hello naming another worker id, and nobody joins', async () => {
      const s = raw(fleet.agent1, 'agent-2');
      const ended = await s.ended;
      expect(ended?.code).to.equal(Code.PermissionDenied);
      expect(ended?.rawMessage).to.match(/hello\.worker_id "agent-2": this token is for worker agent-1/);
      expect(server.coordinator.status().workers).to.deep.equal([]);
      expect(log.refusals()).to.have.length(1);
    });

    it('refuses an operator token on the worker stream and a session without a token', async () => {
      expect((await raw(fleet.operator, 'agent-1').ended)?.code).to.equal(Code.PermissionDenied);
      const anonymous = openRawSession(server.url, 'agent-1');
      closers.push(() => anonymous.abort());
      expect((await anonymous.ended)?.code).to.equal(Code.Unauthenticated);
      expect(server.coordinator.status().workers).to.deep.equal([]);
    });

    it('refuses reports about a task another worker holds as PERMISSION_DENIED, changing nothing', async () => {
      const holder = raw(fleet.agent2, 'agent-2');
      await holder.next('welcome', welcome);
      holder.send({ kind: { case: 'request', value: { count: 1 } } });
      await admin.addTask({ id: 't1' });
      const [held] = await holder.next('assignment', proceed);
      expect(held).to.deep.include({ taskId: 't1', attempt: 1 });

      const thief = raw(fleet.agent1, 'agent-1');
      await thief.next('welcome', welcome);
      thief.send({ kind: { case: 'started', value: { seq: 1, taskId: 't1', attempt: 1 } } });
      thief.send({ kind: { case: 'complete', value: { seq: 2, taskId: 't1', attempt: 1 } } });
      thief.send({ kind: { case: 'failed', value: { seq: 3, taskId: 't1', attempt: 1, error: 'x' } } });
      for (const seq of [1, 2, 3]) {
        const receipt = await thief.receipt(seq);
        expect(receipt.ok).to.equal(false);
        expect(receipt.error?.code).to.equal(ErrorCode.PERMISSION_DENIED);
        expect(receipt.error?.message).to.equal(
          'task t1 attempt 1 is held by another worker, not by agent-1',
        );
      }
      expect(server.coordinator.taskQueue.get('t1')).to.deep.include({
        status: 'assigned',
        workerId: 'agent-2',
        attempt: 1,
      });
      expect(log.refusals()).to.have.length(3);
      // The holder is not disturbed: its own report goes through.
      holder.send({ kind: { case: 'complete', value: { seq: 1, taskId: 't1', attempt: 1 } } });
      expect((await holder.receipt(1)).ok).to.equal(true);
    });

    it('refuses a rate-limit stream under another worker id', async () => {
      const client = createClient(RateLimitService, grpcTransport(server.url, { token: fleet.agent1 }));
      const out = createAsyncQueue<{ kind: { case: 'hello'; value: { workerId: string } } }>();
      out.push({ kind: { case: 'hello', value: { workerId: 'agent-2' } } });
      let error: ConnectError | undefined;
      try {
        for await (const _ of client.acquire(out)) break;
      } catch (e) {
        error = ConnectError.from(e);
      }
      expect(error?.code).to.equal(Code.PermissionDenied);
      const own = createRateLimitClient({ url: server.url, workerId: 'agent-1', token: fleet.agent1 });
      closers.push(() => own.close());
      expect((await own.acquire(1)).reservationId).to.be.a('string');
    });
  });
}
