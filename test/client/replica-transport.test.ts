import { Code, ConnectError, createClient, createRouterTransport, type Transport } from '@connectrpc/connect';
import { expect } from 'chai';
import { createAdminClient, repeatableCall } from '../../src/client/admin.js';
import { CoordinatorService, TaskStatus } from '../../src/client/proto.js';
import { createReplicaTransport } from '../../src/client/replica-transport.js';
import { rejection } from '../support/rejection.js';

/** A Node.js network error as connect-node wraps it: `code` on the cause. */
const networkError = (code: 'ECONNREFUSED' | 'ECONNRESET'): ConnectError =>
  new ConnectError(
    `connect ${code}`,
    code === 'ECONNREFUSED' ? Code.Unavailable : Code.Aborted,
    undefined,
    undefined,
    Object.assign(new Error(code), { code }),
  );

/** Nothing listens at the URL. */
const down: Transport = {
  unary: () => Promise.reject(networkError('ECONNREFUSED')),
  stream: () => Promise.reject(networkError('ECONNREFUSED')),
};

/** A standby: every call refused UNAVAILABLE naming `leader`, as standby-server.ts answers. */
const standby = (leader: string): Transport =>
  createRouterTransport(({ service }) => {
    const refusal = () =>
      new ConnectError(
        `this replica is a standby; the leader is ${leader}`,
        Code.Unavailable,
        new Headers({ 'baton-leader': leader }),
      );
    service(CoordinatorService, {
      getProgress: () => {
        throw refusal();
      },
      addTask: () => {
        throw refusal();
      },
      // biome-ignore lint/correctness/useYield: a stream that fails before its first message
      async *watchEvents() {
        throw refusal();
      },
    });
  });

/** A leader that keeps the tasks it added; `lose` makes the next answer go missing after it applied the call. */
function leader() {
  const tasks = new Set<string>();
  const calls: string[] = [];
  let lose = 0;
  const inner = createRouterTransport(({ service }) => {
    service(CoordinatorService, {
      getProgress: () => {
        calls.push('getProgress');
        return { progress: { total: tasks.size } };
      },
      addTask: (req) => {
        calls.push('addTask');
        const id = req.task?.id ?? '';
        if (tasks.has(id)) throw new ConnectError(`task ${id} already exists`, Code.AlreadyExists);
        tasks.add(id);
        return { task: { id, status: TaskStatus.PENDING } };
      },
      cancelTask: (req) => {
        calls.push('cancelTask');
        return { task: { id: req.id, status: TaskStatus.CANCELLED } };
      },
      async *watchEvents() {
        calls.push('watchEvents');
        yield { events: [{ sequence: 1n }] };
      },
    });
  });
  const transport: Transport = {
    async unary(...args) {
      const answer = await inner.unary(...args);
      if (lose > 0) {
        lose--;
        throw networkError('ECONNRESET');
      }
      return answer;
    },
    stream: (...args) => inner.stream(...args),
  };
  return {
    transport,
    calls,
    tasks,
    loseNextAnswer() {
      lose++;
    },
  };
}

describe('client: several replicas behind one transport', () => {
  const A = 'http://a.test';
  const B = 'http://b.test';

  it('sends a call a standby refused to the leader it names, and the next ones straight there', async () => {
    const b = leader();
    const seen: string[] = [];
    const transport = createReplicaTransport({
      urls: [A, B],
      transportAt: (url) => {
        seen.push(url);
        return url === A ? standby(B) : b.transport;
      },
    });
    const client = createClient(CoordinatorService, transport);
    expect((await client.getProgress({})).progress?.total).to.equal(0);
    expect((await client.addTask({ task: { id: 't1' } })).task?.id).to.equal('t1');
    expect(seen).to.deep.equal([A, B]);
    expect(b.calls).to.deep.equal(['getProgress', 'addTask']);
  });

  it('tries the next URL when nothing answers at one, for a write too (it was never sent)', async () => {
    const b = leader();
    const client = createClient(
      CoordinatorService,
      createReplicaTransport({ urls: [A, B], transportAt: (url) => (url === A ? down : b.transport) }),
    );
    expect((await client.cancelTask({ id: 't1' })).task?.status).to.equal(TaskStatus.CANCELLED);
    expect(b.calls).to.deep.equal(['cancelTask']);
  });

  it('sends a read again after its answer was lost, but not a write that is not idempotent', async () => {
    const b = leader();
    const client = createClient(
      CoordinatorService,
      createReplicaTransport({ urls: [A, B], transportAt: (url) => (url === A ? standby(B) : b.transport) }),
    );
    b.loseNextAnswer();
    expect((await client.getProgress({})).progress?.total).to.equal(0);
    expect(b.calls).to.deep.equal(['getProgress', 'getProgress']);

    b.loseNextAnswer();
    const error = await rejection(client.cancelTask({ id: 't1' }));
    expect(error.code).to.equal(Code.Aborted);
    expect(error.rawMessage).to.include(
      `${B} went away before answering CancelTask: it may or may not have been applied`,
    );
    expect(b.calls.filter((c) => c === 'cancelTask')).to.have.length(1);
  });

  it("repeats an admin client's add after a lost answer; a repeat refused by its own commit says so", async () => {
    const b = leader();
    const admin = createAdminClient({
      urls: [A, B],
      transport: createReplicaTransport({
        urls: [A, B],
        transportAt: (url) => (url === A ? standby(B) : b.transport),
        repeatable: repeatableCall,
      }),
    });
    b.loseNextAnswer();
    const error = await rejection(admin.addTask({ id: 't1' }));
    expect(error.code).to.equal(Code.AlreadyExists);
    expect(error.rawMessage).to.equal(
      'task t1 already exists (this call was sent again after its first answer was lost in a failover: ' +
        'the first attempt may have made it)',
    );
    expect([...b.tasks]).to.deep.equal(['t1']);
  });

  it('opens a server stream a standby refused at the leader it names', async () => {
    const b = leader();
    const client = createClient(
      CoordinatorService,
      createReplicaTransport({ urls: [A, B], transportAt: (url) => (url === A ? standby(B) : b.transport) }),
    );
    const sequences: bigint[] = [];
    for await (const res of client.watchEvents({})) sequences.push(...res.events.map((e) => e.sequence));
    expect(sequences).to.deep.equal([1n]);
    expect(b.calls).to.deep.equal(['watchEvents']);
  });

  it('gives up with the last error once no replica led for failoverMs', async () => {
    const client = createClient(
      CoordinatorService,
      createReplicaTransport({ urls: [A, B], transportAt: () => down, failoverMs: 300 }),
    );
    const started = Date.now();
    const error = await rejection(client.getProgress({}));
    expect(error.code).to.equal(Code.Unavailable);
    expect(Date.now() - started).to.be.within(250, 2_000);
  });

  it('with a single URL fails at once when nothing answers there, as without replicas', async () => {
    let tries = 0;
    const client = createClient(
      CoordinatorService,
      createReplicaTransport({
        urls: [A],
        transportAt: () => ({
          unary: () => {
            tries++;
            return Promise.reject(networkError('ECONNREFUSED'));
          },
          stream: () => Promise.reject(networkError('ECONNREFUSED')),
        }),
      }),
    );
    expect((await rejection(client.getProgress({}))).code).to.equal(Code.Unavailable);
    expect(tries).to.equal(1);
  });
});
