import { toJson } from '@bufbuild/protobuf';
import type { Client } from '@connectrpc/connect';
import { expect } from 'chai';
import {
  type CoordinatorService,
  GetStatusResponseSchema,
  TaskSchema,
} from '../../src/server/codec/proto.js';
import type { Json } from '../support/json-http.js';
import type { Lifecycle, Model, ModelTask, Prediction, SpecCase, Status } from './task-model.js';

/** The server's state as its own read API shows it: every task, and the status minus what time moves. */
export interface Snapshot {
  readonly state: Lifecycle;
  /** Task JSON by id, in listing order. */
  readonly tasks: ReadonlyMap<string, Json>;
  /** GetStatus without the rate limiter's refill and the workers' lease deadlines. */
  readonly status: Json;
}

export type StateReader = () => Promise<Snapshot>;

const JSON_OPTIONS = { alwaysEmitImplicit: true } as const;
const lower = (name: string, prefix: string): string => name.slice(prefix.length).toLowerCase();

/** Reads the state with a client of the server's own read API, every page of ListTasks. */
export function createStateReader(client: Client<typeof CoordinatorService>): StateReader {
  return async () => {
    const tasks = new Map<string, Json>();
    let pageToken = '';
    do {
      const page = await client.listTasks({ limit: 1000, pageToken });
      for (const task of page.tasks) tasks.set(task.id, toJson(TaskSchema, task, JSON_OPTIONS));
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    const status: Json = toJson(GetStatusResponseSchema, await client.getStatus({}), JSON_OPTIONS);
    delete status.rateLimit;
    for (const worker of status.workers) delete worker.leaseExpiresAt;
    return { state: lower(status.state, 'LIFECYCLE_STATE_') as Lifecycle, tasks, status };
  };
}

export function modelOf(snapshot: Snapshot): Model {
  const tasks = new Map<string, ModelTask>();
  for (const [id, t] of snapshot.tasks) {
    tasks.set(id, {
      id,
      deps: t.deps,
      status: lower(t.status, 'TASK_STATUS_') as Status,
      cancelledBy: t.cancelledBy,
    });
  }
  return { state: snapshot.state, tasks };
}

/** The request changed nothing: every task, the lifecycle and the status read back as before. */
export function expectUnchanged(before: Snapshot, after: Snapshot, what: string): void {
  expect(after.state, `${what}: lifecycle`).to.equal(before.state);
  expect([...after.tasks.keys()], `${what}: task ids`).to.deep.equal([...before.tasks.keys()]);
  for (const [id, task] of after.tasks)
    expect(task, `${what}: task ${id}`).to.deep.equal(before.tasks.get(id));
  expect(after.status, `${what}: status`).to.deep.equal(before.status);
}

/**
 * The request did what the model predicts: the same tasks in the same order, each changed one in
 * its predicted status with its spec untouched, each new one as it was given, every other one
 * byte for byte as before; the progress counts agree with the tasks.
 */
export function expectPredicted(
  before: Snapshot,
  after: Snapshot,
  prediction: Extract<Prediction, { verdict: 'accept' }>,
  given: ReadonlyMap<string, SpecCase>,
  what: string,
): void {
  const model = prediction.after;
  expect(after.state, `${what}: lifecycle`).to.equal(model.state);
  expect([...after.tasks.keys()], `${what}: task ids`).to.deep.equal([...model.tasks.keys()]);
  const old = modelOf(before).tasks;
  for (const [id, task] of after.tasks) {
    const want = model.tasks.get(id) as ModelTask;
    const was = old.get(id);
    if (was !== undefined && was.status === want.status && was.cancelledBy === want.cancelledBy) {
      expect(task, `${what}: task ${id} is unchanged`).to.deep.equal(before.tasks.get(id));
      continue;
    }
    expect(
      { status: lower(task.status, 'TASK_STATUS_'), cancelledBy: task.cancelledBy, deps: task.deps },
      `${what}: task ${id}`,
    ).to.deep.equal({ status: want.status, cancelledBy: want.cancelledBy, deps: want.deps });
    const spec = given.get(id);
    if (was !== undefined || spec === undefined) {
      const { priority, category, metadata } = before.tasks.get(id) ?? {};
      expect({ priority, category, metadata }, `${what}: task ${id} keeps its spec`).to.deep.equal({
        priority: task.priority,
        category: task.category,
        metadata: task.metadata,
      });
    } else {
      expect(
        { priority: task.priority, category: task.category, metadata: task.metadata },
        `${what}: task ${id} as given`,
      ).to.deep.equal({ priority: spec.priority, category: spec.category, metadata: spec.metadata });
    }
  }
  const counts: Record<string, number> = {};
  for (const t of model.tasks.values()) counts[t.status] = (counts[t.status] ?? 0) + 1;
  const progress = after.status.progress;
  for (const status of ['pending', 'assigned', 'running', 'complete', 'failed', 'cancelled'] as const)
    expect(progress[status], `${what}: progress.${status}`).to.equal(counts[status] ?? 0);
  expect({ ...after.status, state: undefined, progress: undefined }, `${what}: workers, costs`).to.deep.equal(
    {
      ...before.status,
      state: undefined,
      progress: undefined,
    },
  );
}
