// services/: one file per proto service, each handler decode -> core call -> encode.
// Imports src/core, src/gen, src/wire, codec/ and runtime/ (test/architecture/walls.test.ts).
import { create } from '@bufbuild/protobuf';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import type { Coordinator } from '../../core/coordinator.js';
import { WARNING_THRESHOLD } from '../../core/cost-aggregator.js';
import { invalidArgument } from '../../core/errors.js';
import type { CoordEventKind } from '../../core/events.js';
import type { TaskStatus as CoreTaskStatus, TaskSnapshot } from '../../core/task.js';
import type { SettledStatus } from '../../core/task-purge.js';
import { eventKindName, eventToWire } from '../codec/event-wire.js';
import {
  type CoordinatorService,
  EventKind,
  type TaskSpec,
  TaskStatus,
  WatchEventsResponseSchema,
} from '../codec/proto.js';
import {
  coreStatus,
  costsToWire,
  LIFECYCLE,
  progressToWire,
  rateLimitToWire,
  STRATEGY,
  specFromWire,
  taskToWire,
  workerToWire,
} from '../codec/wire.js';
import type { EventHub } from '../runtime/event-hub.js';
import type { GroupCommit } from '../runtime/group-commit.js';

export interface CoordinatorServiceDeps {
  readonly coordinator: Coordinator;
  readonly commit: GroupCommit;
  readonly hub: EventHub;
}

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

const required = (value: string, field: string): string => {
  if (value === '') throw new ConnectError(`${field} is required`, Code.InvalidArgument);
  return value;
};

/**
 * A status filter (ListTasks, PurgeTasks) as core statuses. Unspecified is left out, as the proto
 * says; a number that is no status at all is refused naming `status[i]`: left out too, it would
 * widen the filter, so that a purge of "status 99" deleted every settled task.
 */
const statusFilter = (statuses: readonly TaskStatus[]): CoreTaskStatus[] => {
  const out: CoreTaskStatus[] = [];
  for (const [i, s] of statuses.entries()) {
    if (s === TaskStatus.UNSPECIFIED) continue;
    const status = coreStatus(s);
    if (status === undefined)
      throw invalidArgument(`status[${i}] is not a task status (${s})`, { field: `status[${i}]` });
    out.push(status);
  }
  return out;
};

/**
 * A page token names the `seq` of the last task the previous page showed, so the next page starts
 * right after it even if tasks before it were deleted or purged in between (an offset would skip
 * as many tasks as went). -1: from the start.
 */
const pageAfter = (token: string): number => {
  if (token === '') return -1;
  const text = Buffer.from(token, 'base64url').toString();
  const seq = text.startsWith('after:') ? Number(text.slice('after:'.length)) : Number.NaN;
  if (!Number.isSafeInteger(seq) || seq < 0)
    throw invalidArgument('page_token is not valid: pass next_page_token as it came', {
      field: 'page_token',
    });
  return seq;
};

const pageToken = (seq: number): string => Buffer.from(`after:${seq}`).toString('base64url');

/** The seed's 13 admin operations and the event stream: decode, call the core, encode. */
export function createCoordinatorService(
  deps: CoordinatorServiceDeps,
): ServiceImpl<typeof CoordinatorService> {
  const { coordinator, commit, hub } = deps;
  const queue = coordinator.taskQueue;

  /** A mutation: refused up front while the store cannot write; answered once stored. */
  const mutate = async <T>(apply: () => T): Promise<T> => {
    commit.ensureWritable();
    const result = apply();
    await commit.committed();
    return result;
  };

  const task = (id: string): TaskSnapshot => {
    const found = queue.get(required(id, 'id'));
    if (found === undefined) throw new ConnectError(`task ${id} not found`, Code.NotFound);
    return found;
  };

  const addSpecs = (specs: readonly TaskSpec[]) => coordinator.addTasks(specs.map(specFromWire));

  return {
    getStatus() {
      const s = coordinator.status();
      return {
        state: LIFECYCLE[s.state],
        strategy: STRATEGY[s.strategy],
        workers: s.workers.map((w) => workerToWire(w, coordinator.leases.expiresAt(w.id))),
        progress: progressToWire(s.progress),
        rateLimit: rateLimitToWire(coordinator.rateLimiter.status()),
        costs: costsToWire(coordinator.costAggregator.status(), WARNING_THRESHOLD),
        leaseTtlMs: s.leaseTtlMs,
        heartbeatIntervalMs: s.heartbeatIntervalMs,
      };
    },
    async start() {
      await mutate(() => coordinator.start());
      return { state: LIFECYCLE[coordinator.state] };
    },
    async drain() {
      await mutate(() => coordinator.drain());
      return { state: LIFECYCLE[coordinator.state] };
    },
    async stop() {
      await mutate(() => coordinator.stop());
      return { state: LIFECYCLE[coordinator.state] };
    },
    listTasks(request) {
      const statuses = new Set(statusFilter(request.status));
      const limit = request.limit === 0 ? DEFAULT_PAGE : Math.min(request.limit, MAX_PAGE);
      const after = pageAfter(request.pageToken);
      const tasks: TaskSnapshot[] = [];
      let last = -1;
      let matched = 0;
      let more = false;
      for (const t of queue.iterate()) {
        if (statuses.size > 0 && !statuses.has(t.status)) continue;
        if (request.workerId !== '' && t.workerId !== request.workerId) continue;
        matched++;
        if (t.seq <= after) continue;
        if (tasks.length < limit) {
          tasks.push(t);
          last = t.seq;
        } else more = true;
      }
      return {
        tasks: tasks.map(taskToWire),
        nextPageToken: more ? pageToken(last) : '',
        totalSize: matched,
      };
    },
    async addTask(request) {
      if (request.task === undefined) throw new ConnectError('task is required', Code.InvalidArgument);
      const spec = specFromWire(request.task);
      const added = await mutate(() => coordinator.addTask(spec));
      return { task: taskToWire(added) };
    },
    async batchAddTasks(request) {
      const added = await mutate(() => addSpecs(request.tasks));
      return { tasks: added.map(taskToWire) };
    },
    getTask(request) {
      return { task: taskToWire(task(request.id)) };
    },
    async cancelTask(request) {
      const id = required(request.id, 'id');
      const cancelled = await mutate(() => coordinator.cancelTask(id, request.reason || undefined));
      return { task: taskToWire(task(id)), cascadedIds: cancelled.filter((c) => c !== id) };
    },
    async retryTask(request) {
      const id = required(request.id, 'id');
      const restored = await mutate(() => coordinator.retryTask(id));
      return { task: taskToWire(task(id)), cascadedIds: restored.filter((r) => r !== id) };
    },
    async deleteTask(request) {
      const id = required(request.id, 'id');
      const deleted = await mutate(() => coordinator.deleteTask(id));
      return { task: taskToWire(deleted) };
    },
    async purgeTasks(request) {
      if (request.finishedBefore === undefined)
        throw invalidArgument('finishedBefore is required: purge tasks that settled before when?', {
          field: 'finishedBefore',
        });
      const finishedBefore = timestampMs(request.finishedBefore);
      // The core refuses a status that is not settled.
      const status = statusFilter(request.status) as SettledStatus[];
      return await mutate(() => coordinator.purgeTasks({ finishedBefore, status }));
    },
    getProgress() {
      return { progress: progressToWire(queue.getProgress()) };
    },
    getRateLimit() {
      return { rateLimit: rateLimitToWire(coordinator.rateLimiter.status()) };
    },
    getCosts() {
      return { costs: costsToWire(coordinator.costAggregator.status(), WARNING_THRESHOLD) };
    },
    async *watchEvents(request, context) {
      const kinds = new Set<CoordEventKind>();
      for (const k of request.kinds) {
        if (k === EventKind.UNSPECIFIED) continue; // in a filter, the same as leaving it out
        const name = eventKindName(k);
        if (name === undefined)
          throw new ConnectError(`kinds has an unknown event kind ${k}`, Code.InvalidArgument);
        kinds.add(name);
      }
      const events = hub.subscribe({
        kinds,
        taskId: request.taskId,
        ...(request.sinceSequence === undefined ? {} : { sinceSequence: Number(request.sinceSequence) }),
      });
      const stop = () => events.close();
      context.signal.addEventListener('abort', stop, { once: true });
      try {
        for await (const batch of events)
          yield create(WatchEventsResponseSchema, { events: batch.map(eventToWire) });
      } finally {
        context.signal.removeEventListener('abort', stop);
        events.close();
      }
    },
  };
}
