import { expect } from 'chai';
import { type Channel, type Client, createChannel, createClient, Status } from 'nice-grpc';
import { ErrorCode } from '../../src/gen/coord/v1/common_pb.js';
import { CoordinatorService } from '../../src/gen/coord/v1/coordinator_pb.js';
import { EventKind } from '../../src/gen/coord/v1/events_pb.js';
import { TaskStatus } from '../../src/gen/coord/v1/task_pb.js';
import { WorkerService } from '../../src/gen/coord/v1/worker_pb.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { createAsyncQueue } from '../../src/wire/async-queue.js';
import { clientError } from '../support/rejection.js';
import type { CoordinatorCase, CoordinatorValue, WorkerMessageInit } from '../support/session-messages.js';
import { next } from '../support/waiting.js';
import { type NiceDefinitionOf, niceDefinition } from './nice-definition.js';

// grpc-js is what most Node gRPC code runs on, and it speaks h2c with prior knowledge on an
// insecure channel: these specs prove the one-port server and its generated contract work for it.

describe('interop with grpc-js through nice-grpc', () => {
  let server: BatonServer;
  let channel: Channel;
  let coordinator: Client<NiceDefinitionOf<typeof CoordinatorService>>;
  let worker: Client<NiceDefinitionOf<typeof WorkerService>>;

  before(async () => {
    server = await startServer({ port: 0 });
    channel = createChannel(`127.0.0.1:${server.port}`);
    coordinator = createClient(niceDefinition(CoordinatorService), channel);
    worker = createClient(niceDefinition(WorkerService), channel);
  });

  after(async () => {
    channel?.close();
    await server?.close();
  });

  describe('unary calls', () => {
    it('BatchAddTasks adds the tasks, GetTask returns one, GetProgress counts them', async () => {
      const added = await coordinator.batchAddTasks({
        tasks: [
          { id: 'unary-b', deps: ['unary-a'], category: 'docs' },
          { id: 'unary-a', priority: -1, metadata: { prompt: 'write the README' } },
        ],
      });
      expect(added.tasks.map((t) => [t.id, t.status])).to.deep.equal([
        ['unary-b', TaskStatus.PENDING],
        ['unary-a', TaskStatus.PENDING],
      ]);

      const { task } = await coordinator.getTask({ id: 'unary-b' });
      expect(task?.id).to.equal('unary-b');
      expect(task?.deps).to.deep.equal(['unary-a']);
      expect(task?.category).to.equal('docs');
      const { task: a } = await coordinator.getTask({ id: 'unary-a' });
      expect(a?.metadata).to.deep.equal({ prompt: 'write the README' });
      expect(a?.priority).to.equal(-1);

      const { progress } = await coordinator.getProgress({});
      expect(progress?.total).to.be.at.least(2);
      expect(progress?.pending).to.be.at.least(2);
    });

    it('GetTask of an unknown task fails with NOT_FOUND and a message naming the task', async () => {
      const error = await clientError(coordinator.getTask({ id: 'no-such-task' }));
      expect(error.code).to.equal(Status.NOT_FOUND);
      expect(error.details).to.contain('no-such-task');
      expect(error.path).to.equal('/coord.v1.CoordinatorService/GetTask');
    });

    it('BatchAddTasks with an unknown dep fails with INVALID_ARGUMENT and adds nothing', async () => {
      const error = await clientError(
        coordinator.batchAddTasks({ tasks: [{ id: 'orphan', deps: ['missing-dep'] }] }),
      );
      expect(error.code).to.equal(Status.INVALID_ARGUMENT);
      expect(error.details).to.contain('missing-dep');
      const notAdded = await clientError(coordinator.getTask({ id: 'orphan' }));
      expect(notAdded.code).to.equal(Status.NOT_FOUND);
    });
  });

  describe('server streaming', () => {
    it('WatchEvents delivers task-added events in the order the tasks were added', async () => {
      const abort = new AbortController();
      // since_sequence 1 replays everything after the first event (coord:started), so events of
      // tasks added before the server registered the watch are not lost to the race.
      const events = coordinator
        .watchEvents({ kinds: [EventKind.TASK_ADDED], sinceSequence: 1n }, { signal: abort.signal })
        [Symbol.asyncIterator]();
      const ids = ['watch-1', 'watch-2', 'watch-3', 'watch-4'];
      await coordinator.batchAddTasks({ tasks: ids.slice(0, 2).map((id) => ({ id })) });
      await coordinator.batchAddTasks({ tasks: ids.slice(2).map((id) => ({ id })) });

      const seen: string[] = [];
      let lastSequence = 0n;
      while (seen.length < ids.length) {
        const { events: batch } = await next(events);
        for (const event of batch) {
          expect(event.kind).to.equal(EventKind.TASK_ADDED);
          expect(event.sequence > lastSequence, 'sequences increase').to.equal(true);
          lastSequence = event.sequence;
          const id = event.payload.case === 'task' ? event.payload.value.id : undefined;
          if (id?.startsWith('watch-')) seen.push(id);
        }
      }
      expect(seen).to.deep.equal(ids);
      abort.abort();
    });
  });

  describe('the bidirectional worker Session', () => {
    it('hello → welcome → proceed → complete → ack; a stale attempt gets ABORTED', async () => {
      // The highest priority of the ready tasks, so it is the one a single-slot worker gets.
      await coordinator.batchAddTasks({ tasks: [{ id: 'session-1', priority: 1000 }] });
      const outbox = createAsyncQueue<WorkerMessageInit>();
      const abort = new AbortController();
      const inbox = worker.session(outbox, { signal: abort.signal })[Symbol.asyncIterator]();
      const expectKind = async <K extends CoordinatorCase>(kind: K): Promise<CoordinatorValue<K>> => {
        const message = await next(inbox);
        expect(message.kind.case).to.equal(kind);
        return message.kind.value as CoordinatorValue<K>;
      };
      /** The next ack: finishing a task frees a slot, so a proceed for another task may come first. */
      const nextAck = async (): Promise<CoordinatorValue<'ack'>> => {
        for (;;) {
          const { kind } = await next(inbox);
          if (kind.case === 'ack') return kind.value;
          expect(kind.case).to.be.oneOf(['proceed', 'wait']);
        }
      };
      const say = (message: WorkerMessageInit) => outbox.push(message);

      try {
        say({ kind: { case: 'hello', value: { workerId: 'grpc-js-worker', maxConcurrency: 1 } } });
        const welcome = await expectKind('welcome');
        expect(welcome.workerId).to.equal('grpc-js-worker');
        expect(welcome.maxConcurrency).to.equal(1);
        expect(welcome.leaseTtlMs).to.be.greaterThan(0);

        const proceed = await expectKind('proceed');
        expect(proceed.assignments).to.have.length(1);
        const assignment = proceed.assignments[0]!;
        expect(assignment.taskId).to.equal('session-1');
        expect(assignment.attempt).to.equal(1);

        say({
          kind: {
            case: 'complete',
            value: { seq: 1, taskId: 'session-1', attempt: assignment.attempt - 1 },
          },
        });
        const stale = await nextAck();
        expect(stale.receipts).to.have.length(1);
        expect(stale.receipts[0]?.seq).to.equal(1);
        expect(stale.receipts[0]?.ok).to.equal(false);
        expect(stale.receipts[0]?.error?.code).to.equal(ErrorCode.ABORTED);

        say({
          kind: {
            case: 'complete',
            value: {
              seq: 2,
              taskId: 'session-1',
              attempt: assignment.attempt,
              result: { kind: { case: 'stringValue', value: 'done' } },
            },
          },
        });
        const ack = await nextAck();
        expect(ack.receipts.map((r) => [r.seq, r.ok])).to.deep.equal([[2, true]]);

        const { task } = await coordinator.getTask({ id: 'session-1' });
        expect(task?.status).to.equal(TaskStatus.COMPLETE);
        expect(task?.workerId).to.equal('grpc-js-worker');
      } finally {
        outbox.close();
        abort.abort();
      }
    });
  });
});
