import { fromJson } from '@bufbuild/protobuf';
import { ValueSchema } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createRouterTransport } from '@connectrpc/connect';
import { expect } from 'chai';
import {
  batonErrorDetail,
  createAdminClient,
  eventKindName,
  resultOf,
  taskStatusName,
} from '../../src/client/index.js';
import {
  CoordinatorService,
  ErrorCode,
  ErrorSchema,
  EventKind,
  LifecycleState,
  TaskStatus,
} from '../../src/client/proto.js';

describe('client admin', () => {
  const seen: Record<string, unknown> = {};

  const transport = createRouterTransport((router) => {
    router.service(CoordinatorService, {
      getStatus: () => ({ state: LifecycleState.RUNNING, leaseTtlMs: 30_000 }),
      start: () => ({ state: LifecycleState.RUNNING }),
      drain: (req) => {
        seen.drain = req.reason;
        return { state: LifecycleState.DRAINING };
      },
      stop: () => ({ state: LifecycleState.STOPPED }),
      addTask: (req) => {
        seen.addTask = req.task;
        return { task: { id: req.task?.id ?? '', status: TaskStatus.PENDING, deps: req.task?.deps ?? [] } };
      },
      batchAddTasks: (req) => ({ tasks: req.tasks.map((t) => ({ id: t.id, status: TaskStatus.PENDING })) }),
      getTask: (req) => {
        throw new ConnectError(`task ${req.id} not found`, Code.NotFound, undefined, [
          {
            desc: ErrorSchema,
            value: { code: ErrorCode.NOT_FOUND, message: `task ${req.id} not found`, taskId: req.id },
          },
        ]);
      },
      listTasks: (req) => {
        seen.listTasks = { status: req.status, workerId: req.workerId, limit: req.limit };
        const all = ['a', 'b', 'c'].map((id) => ({ id, status: TaskStatus.FAILED }));
        const start = req.pageToken === '' ? 0 : Number(req.pageToken);
        const end = Math.min(all.length, start + (req.limit || 100));
        return {
          tasks: all.slice(start, end),
          nextPageToken: end < all.length ? String(end) : '',
          totalSize: 3,
        };
      },
      cancelTask: (req) => ({ task: { id: req.id, status: TaskStatus.CANCELLED }, cascadedIds: ['child'] }),
      retryTask: (req) => ({ task: { id: req.id, status: TaskStatus.PENDING }, cascadedIds: [] }),
      getProgress: () => ({ progress: { total: 3, complete: 1, percentComplete: 33.3 } }),
      getRateLimit: () => ({ rateLimit: { maxRequestsPerMinute: 60 } }),
      getCosts: () => ({ costs: { warningThreshold: 0.8 } }),
      async *watchEvents(req) {
        seen.watch = { kinds: req.kinds, taskId: req.taskId, sinceSequence: req.sinceSequence };
        yield {
          events: [
            { sequence: 8n, kind: EventKind.TASK_ADDED },
            { sequence: 9n, kind: EventKind.TASK_ADDED },
          ],
        };
        yield { events: [{ sequence: 10n, kind: EventKind.TASK_COMPLETE }] };
      },
    });
  });
  const admin = createAdminClient({ url: 'http://in-memory', transport });

  it('answers the lifecycle operations with the resulting state', async () => {
    expect(await admin.start()).to.equal(LifecycleState.RUNNING);
    expect(await admin.drain('maintenance')).to.equal(LifecycleState.DRAINING);
    expect(seen.drain).to.equal('maintenance');
    expect(await admin.stop()).to.equal(LifecycleState.STOPPED);
    expect((await admin.status()).leaseTtlMs).to.equal(30_000);
  });

  it('adds a task from a plain object and returns the stored task', async () => {
    const task = await admin.addTask({
      id: 't1',
      deps: ['t0'],
      priority: 2,
      category: 'code',
      metadata: { a: 1 },
    });
    expect(task).to.include({ id: 't1', status: TaskStatus.PENDING });
    expect(seen.addTask).to.include({ id: 't1', priority: 2, category: 'code' });
    expect(seen.addTask).to.deep.include({ deps: ['t0'], metadata: { a: 1 } });
    expect((await admin.addTasks([{ id: 'x' }, { id: 'y', deps: ['x'] }])).map((t) => t.id)).to.deep.equal([
      'x',
      'y',
    ]);
  });

  it('surfaces a refusal as a ConnectError with its code and structured detail', async () => {
    try {
      await admin.getTask('nope');
      expect.fail('getTask should have failed');
    } catch (e) {
      expect(ConnectError.from(e).code).to.equal(Code.NotFound);
      expect(batonErrorDetail(e)?.taskId).to.equal('nope');
    }
  });

  it('lists tasks by status word or enum, and pages through all of them', async () => {
    const page = await admin.listTasks({
      status: ['failed', TaskStatus.CANCELLED],
      workerId: 'w1',
      limit: 2,
    });
    expect(seen.listTasks).to.deep.equal({
      status: [TaskStatus.FAILED, TaskStatus.CANCELLED],
      workerId: 'w1',
      limit: 2,
    });
    expect(page.tasks.map((t) => t.id)).to.deep.equal(['a', 'b']);
    expect(page.nextPageToken).to.equal('2');
    const ids: string[] = [];
    for await (const t of admin.listAllTasks({ status: 'failed', limit: 1 })) ids.push(t.id);
    expect(ids).to.deep.equal(['a', 'b', 'c']);
  });

  it('returns the useful part of cancel, retry and the status views', async () => {
    expect((await admin.cancelTask('t1', 'no longer needed')).cascadedIds).to.deep.equal(['child']);
    expect((await admin.retryTask('t1')).task.status).to.equal(TaskStatus.PENDING);
    expect((await admin.progress()).total).to.equal(3);
    expect((await admin.rateLimit()).maxRequestsPerMinute).to.equal(60);
    expect((await admin.costs()).warningThreshold).to.equal(0.8);
  });

  it('watches events one at a time, with filters given by coord:* name or enum', async () => {
    const sequences: bigint[] = [];
    for await (const event of admin.watch({
      kinds: ['coord:task-added', EventKind.TASK_COMPLETE],
      taskId: 't1',
      sinceSequence: 7,
    })) {
      sequences.push(event.sequence);
    }
    expect(sequences).to.deep.equal([8n, 9n, 10n]);
    expect(seen.watch).to.deep.equal({
      kinds: [EventKind.TASK_ADDED, EventKind.TASK_COMPLETE],
      taskId: 't1',
      sinceSequence: 7n,
    });
  });

  it('names event kinds and statuses as the REST routes do', () => {
    expect(eventKindName(EventKind.TASK_COMPLETE)).to.equal('coord:task-complete');
    expect(eventKindName(EventKind.ALL_COMPLETE)).to.equal('coord:all-complete');
    expect(taskStatusName(TaskStatus.CANCELLED)).to.equal('cancelled');
  });

  it('gives a task result back as plain JSON', () => {
    expect(resultOf({ result: fromJson(ValueSchema, { files: ['a.ts'], ok: true }) })).to.deep.equal({
      files: ['a.ts'],
      ok: true,
    });
    expect(resultOf({})).to.equal(undefined);
  });
});
