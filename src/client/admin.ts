import { type DescMethod, type JsonObject, type JsonValue, toJson } from '@bufbuild/protobuf';
import { timestampFromMs, ValueSchema } from '@bufbuild/protobuf/wkt';
import { type CallOptions, Code, ConnectError, createClient, type Transport } from '@connectrpc/connect';
import { type ConnectionOptions, connectTransport, grpcTransport } from './connection.js';
import {
  CoordinatorService,
  type CostStatus,
  type Event,
  EventKind,
  type GetStatusResponse,
  type LifecycleState,
  type Progress,
  type RateLimitStatus,
  type Task,
  TaskStatus,
} from './proto.js';
import { createReplicaTransport, declaredIdempotent } from './replica-transport.js';
import { required } from './required-field.js';
import { createWorkspaceAdmin, type WorkspaceAdmin } from './workspace-admin.js';

/** A task to add. Only `id` is required; the rest default as the coordinator documents. */
export interface NewTask {
  readonly id: string;
  /** Tasks that must complete first: existing ones or others in the same batch. */
  readonly deps?: readonly string[];
  /** Higher runs first among ready tasks. Default 0. */
  readonly priority?: number;
  /** Matched against worker capabilities. Empty: any worker. */
  readonly category?: string;
  /** Handed to the worker with the task. */
  readonly metadata?: JsonObject;
  /** Assignments allowed before the task fails for good. Unset: the coordinator's default. */
  readonly maxAttempts?: number;
  /**
   * Globs of the repository paths the task will touch (`src/**`, `docs/api.md`): it does not start
   * while a running task holds an overlapping one.
   */
  readonly paths?: readonly string[];
  /** Queue the worker's branch for landing when the task completes with a head commit. */
  readonly land?: boolean;
}

/** A task status by enum value or by the REST routes' lower-case word. */
export type TaskStatusName = 'pending' | 'assigned' | 'running' | 'complete' | 'failed' | 'cancelled';

/**
 * An event kind by enum value or by its `coord:*` name, the name the REST/SSE route and the seed
 * use, so filters read the same everywhere.
 */
export type EventKindName =
  | 'coord:started'
  | 'coord:stopped'
  | 'coord:draining'
  | 'coord:drained'
  | 'coord:reopened'
  | 'coord:assigned'
  | 'coord:task-complete'
  | 'coord:task-failed'
  | 'coord:all-complete'
  | 'coord:all-settled'
  | 'coord:budget-warning'
  | 'coord:budget-exceeded'
  | 'coord:worker-joined'
  | 'coord:worker-left'
  | 'coord:task-added'
  | 'coord:task-cancelled'
  | 'coord:task-retried'
  | 'coord:task-requeued'
  | 'coord:task-started'
  | 'coord:task-deleted'
  | 'coord:tasks-purged'
  | 'coord:conflict'
  | 'coord:conflict-cleared'
  | 'coord:merge-queued'
  | 'coord:merged'
  | 'coord:merge-rejected';

/** Which tasks listTasks returns. */
export interface TaskFilter {
  /** Only tasks in one of these statuses. Empty or unset: all. */
  readonly status?: TaskStatus | TaskStatusName | readonly (TaskStatus | TaskStatusName)[];
  /** Only tasks held (or last held) by this worker. */
  readonly workerId?: string;
  /** Page size; 0 or unset: the coordinator's default (100), at most 1000. */
  readonly limit?: number;
  /** `nextPageToken` of the previous page. */
  readonly pageToken?: string;
}

/** One page of tasks. */
export interface TaskPage {
  readonly tasks: Task[];
  /** Pass as `pageToken` for the next page; empty on the last page. */
  readonly nextPageToken: string;
  /** Tasks matching the filter over all pages. */
  readonly totalSize: number;
}

/** A cancel or retry, with the dependents its cascade touched. */
export interface CascadeResult {
  readonly task: Task;
  readonly cascadedIds: string[];
}

/** Which settled tasks purgeTasks deletes. */
export interface PurgeFilter {
  /** Required: only tasks that settled strictly before this time (a Date, or ms since the epoch). */
  readonly finishedBefore: Date | number;
  /** Only these settled statuses (complete, failed, cancelled). Empty or unset: all three. */
  readonly status?:
    | TaskStatus
    | 'complete'
    | 'failed'
    | 'cancelled'
    | readonly (TaskStatus | 'complete' | 'failed' | 'cancelled')[];
}

/** What a purge did. */
export interface PurgeResult {
  /** Tasks deleted. */
  readonly purged: number;
  /** Tasks matched but kept, because tasks that stay depend on them. */
  readonly kept: number;
}

/** Which events watch() yields. */
export interface WatchOptions {
  /** Only these kinds. Empty or unset: all. */
  readonly kinds?: readonly (EventKind | EventKindName)[];
  /** Only events about this task. */
  readonly taskId?: string;
  /**
   * Replay retained events after this sequence first (resume after the last one seen; 0: all
   * that is kept). Unset: only events from now on. When the coordinator no longer has the events
   * after it (older than its `--events-replay` window, or it restarted and numbers from 1 again)
   * the iteration fails with `Code.OutOfRange` before any event, rather than skip them: read the
   * state again and watch from now (`batonErrorDetail(error).data` has `last` and `oldest`).
   */
  readonly sinceSequence?: bigint | number;
  /** Aborting ends the iteration (with a ConnectError of code Canceled). */
  readonly signal?: AbortSignal;
}

/** Options of {@link createAdminClient}; `token` and `ca` apply only when no transport is given. */
export interface AdminClientOptions extends ConnectionOptions {
  /** The coordinator's base URL, e.g. `http://127.0.0.1:7070`. Used only when no transport is given. */
  readonly url?: string;
  /**
   * Every replica's URL, when several `baton serve` share one PostgreSQL database (in place of
   * `url`, or with it first). Calls go to the leader and follow it across a failover: one a standby
   * refused goes to the leader it names, one that found no replica goes to the next URL, until one
   * leads. A call whose answer was lost goes again only if repeating it is harmless: reads, Start,
   * Drain and Stop, and addTask/addTasks, whose ids make a second copy impossible (a repeat that
   * the first attempt's commit refuses answers ALREADY_EXISTS, saying so). Others fail, saying
   * the call may have been applied.
   */
  readonly urls?: readonly string[];
  /** Overrides the transport entirely (tests use createRouterTransport). */
  readonly transport?: Transport;
  /**
   * `connect` (default): the Connect protocol over HTTP/1.1, which passes through any HTTP proxy or
   * load balancer. `grpc`: gRPC over HTTP/2, for networks that carry it end to end.
   */
  readonly protocol?: 'connect' | 'grpc';
  /** A timeout for every call that gives none. Unset: none (watch streams run indefinitely). */
  readonly defaultTimeoutMs?: number;
}

/**
 * The operators' client: typed calls for every CoordinatorService and WorkspaceService operation,
 * taking plain objects and returning the messages' useful part. A refused call rejects with a ConnectError whose code
 * is the coordinator's ErrorCode (`ConnectError.from(e).code`) and whose detail is the
 * structured Error (see batonErrorDetail).
 */
export interface AdminClient extends WorkspaceAdmin {
  /** Lifecycle, strategy, workers, progress, rate limit and costs at once. */
  status(options?: CallOptions): Promise<GetStatusResponse>;
  /** init → running. Idempotent while running. */
  start(options?: CallOptions): Promise<LifecycleState>;
  /** running → draining; `reason` is passed on to the workers. */
  drain(reason?: string, options?: CallOptions): Promise<LifecycleState>;
  /** Any state → stopped. Idempotent. */
  stop(reason?: string, options?: CallOptions): Promise<LifecycleState>;
  /** One page of tasks, in the order they were added. */
  listTasks(filter?: TaskFilter, options?: CallOptions): Promise<TaskPage>;
  /** Every matching task, fetching page after page as the iteration proceeds. */
  listAllTasks(filter?: Omit<TaskFilter, 'pageToken'>, options?: CallOptions): AsyncIterable<Task>;
  /** Adds one task; ALREADY_EXISTS if the id is taken, INVALID_ARGUMENT for an unknown dep. */
  addTask(task: NewTask, options?: CallOptions): Promise<Task>;
  /** Adds tasks atomically (all or none); deps may point anywhere in the batch. */
  addTasks(tasks: readonly NewTask[], options?: CallOptions): Promise<Task[]>;
  /** One task; NOT_FOUND if there is none. */
  getTask(id: string, options?: CallOptions): Promise<Task>;
  /** Cancels a task and, by cascade, its non-terminal dependents. */
  cancelTask(id: string, reason?: string, options?: CallOptions): Promise<CascadeResult>;
  /** Puts a failed or cancelled task (and its cascade) back to pending. */
  retryTask(id: string, options?: CallOptions): Promise<CascadeResult>;
  /**
   * Deletes a settled task for good (memory and store) and returns it as it was. NOT_FOUND for an
   * unknown id; FAILED_PRECONDITION while it is pending, assigned or running, or while any task
   * depends on it (the error's data names the dependents).
   */
  deleteTask(id: string, options?: CallOptions): Promise<Task>;
  /**
   * Deletes the settled tasks that finished before a time, keeping those that remaining tasks
   * depend on (counted in `kept`).
   */
  purgeTasks(filter: PurgeFilter, options?: CallOptions): Promise<PurgeResult>;
  /** Task counts per status. */
  progress(options?: CallOptions): Promise<Progress>;
  /** The shared rate limiter's state. */
  rateLimit(options?: CallOptions): Promise<RateLimitStatus>;
  /** Spend against the global and per-worker budgets. */
  costs(options?: CallOptions): Promise<CostStatus>;
  /** Coordination events as they happen, one at a time, in sequence order. */
  watch(options?: WatchOptions): AsyncIterable<Event>;
}

/**
 * Creates an {@link AdminClient}. The default transport is Connect over HTTP/1.1 because operator
 * tools run from laptops and CI through proxies that do not carry HTTP/2 end to end.
 */
export function createAdminClient(options: AdminClientOptions): AdminClient {
  const transport = options.transport ?? replicasOf(options);
  const client = createClient(CoordinatorService, transport);

  const listTasks = async (filter: TaskFilter = {}, callOptions?: CallOptions): Promise<TaskPage> => {
    const res = await client.listTasks(
      {
        status: toStatuses(filter.status),
        workerId: filter.workerId ?? '',
        limit: filter.limit ?? 0,
        pageToken: filter.pageToken ?? '',
      },
      callOptions,
    );
    return { tasks: res.tasks, nextPageToken: res.nextPageToken, totalSize: res.totalSize };
  };

  return {
    ...createWorkspaceAdmin(transport),
    status: (callOptions) => client.getStatus({}, callOptions),
    start: async (callOptions) => (await client.start({}, callOptions)).state,
    drain: async (reason, callOptions) => (await client.drain({ reason: reason ?? '' }, callOptions)).state,
    stop: async (reason, callOptions) => (await client.stop({ reason: reason ?? '' }, callOptions)).state,
    listTasks,
    async *listAllTasks(filter = {}, callOptions) {
      let pageToken = '';
      do {
        const page = await listTasks({ ...filter, pageToken }, callOptions);
        yield* page.tasks;
        pageToken = page.nextPageToken;
      } while (pageToken !== '');
    },
    addTask: async (task, callOptions) =>
      required((await client.addTask({ task: toSpec(task) }, callOptions)).task, 'task'),
    addTasks: async (tasks, callOptions) =>
      (await client.batchAddTasks({ tasks: tasks.map(toSpec) }, callOptions)).tasks,
    getTask: async (id, callOptions) => required((await client.getTask({ id }, callOptions)).task, 'task'),
    cancelTask: async (id, reason, callOptions) => {
      const res = await client.cancelTask({ id, reason: reason ?? '' }, callOptions);
      return { task: required(res.task, 'task'), cascadedIds: res.cascadedIds };
    },
    retryTask: async (id, callOptions) => {
      const res = await client.retryTask({ id }, callOptions);
      return { task: required(res.task, 'task'), cascadedIds: res.cascadedIds };
    },
    deleteTask: async (id, callOptions) =>
      required((await client.deleteTask({ id }, callOptions)).task, 'task'),
    purgeTasks: async (filter, callOptions) => {
      const before = filter.finishedBefore;
      const ms = before instanceof Date ? before.getTime() : before;
      if (typeof ms !== 'number' || !Number.isFinite(ms))
        throw new ConnectError('finishedBefore must be a Date or a time in ms', Code.InvalidArgument);
      const res = await client.purgeTasks(
        { finishedBefore: timestampFromMs(ms), status: toStatuses(filter.status) },
        callOptions,
      );
      return { purged: res.purged, kept: res.kept };
    },
    progress: async (callOptions) =>
      required((await client.getProgress({}, callOptions)).progress, 'progress'),
    rateLimit: async (callOptions) =>
      required((await client.getRateLimit({}, callOptions)).rateLimit, 'rate_limit'),
    costs: async (callOptions) => required((await client.getCosts({}, callOptions)).costs, 'costs'),
    async *watch(watchOptions = {}) {
      const stream = client.watchEvents(
        {
          kinds: (watchOptions.kinds ?? []).map(toEventKind),
          taskId: watchOptions.taskId ?? '',
          ...(watchOptions.sinceSequence === undefined
            ? {}
            : { sinceSequence: BigInt(watchOptions.sinceSequence) }),
        },
        watchOptions.signal === undefined ? {} : { signal: watchOptions.signal },
      );
      for await (const res of stream) yield* res.events;
    },
  };
}

/**
 * Whether a call whose answer was lost may be sent again: the idempotent ones, and the adds, since
 * adding a task twice is refused by its id.
 */
export const repeatableCall = (method: DescMethod): boolean =>
  declaredIdempotent(method) ||
  method === CoordinatorService.method.addTask ||
  method === CoordinatorService.method.batchAddTasks;

/** The transport to the coordinator's replicas (one URL or several), in the protocol asked for. */
function replicasOf(options: AdminClientOptions): Transport {
  const urls = options.urls ?? (options.url === undefined ? [] : [options.url]);
  if (urls.length === 0) throw new TypeError('give the coordinator in url or urls (or a transport)');
  return createReplicaTransport({
    urls,
    transportAt: (url) =>
      options.protocol === 'grpc'
        ? grpcTransport(url, options, options.defaultTimeoutMs)
        : connectTransport(url, options, options.defaultTimeoutMs),
    repeatable: repeatableCall,
    ...(options.defaultTimeoutMs === undefined ? {} : { defaultTimeoutMs: options.defaultTimeoutMs }),
  });
}

/** The `coord:*` name of an event kind (`coord:task-complete`), as the REST/SSE route shows it. */
export function eventKindName(kind: EventKind): string {
  const name = EventKind[kind];
  return name === undefined ? `coord:unknown-${kind}` : `coord:${name.toLowerCase().replaceAll('_', '-')}`;
}

/** A task's result as plain JSON (it travels as a google.protobuf.Value); undefined when unset. */
export function resultOf(task: Pick<Task, 'result'>): JsonValue | undefined {
  return task.result === undefined ? undefined : toJson(ValueSchema, task.result);
}

/** The REST routes' lower-case word for a task status (`pending`, ...). */
export function taskStatusName(status: TaskStatus): string {
  return TaskStatus[status]?.toLowerCase() ?? `unknown-${status}`;
}

function toEventKind(kind: EventKind | EventKindName): EventKind {
  if (typeof kind === 'number') return kind;
  const value = (EventKind as unknown as Record<string, EventKind | undefined>)[
    kind
      .replace(/^coord:/, '')
      .replaceAll('-', '_')
      .toUpperCase()
  ];
  if (value === undefined) throw new ConnectError(`unknown event kind ${kind}`, Code.InvalidArgument);
  return value;
}

function toStatuses(status: TaskFilter['status']): TaskStatus[] {
  if (status === undefined) return [];
  const list: readonly (TaskStatus | TaskStatusName)[] = Array.isArray(status)
    ? status
    : [status as TaskStatus | TaskStatusName];
  return list.map((s) => {
    if (typeof s === 'number') return s;
    const value = (TaskStatus as unknown as Record<string, TaskStatus | undefined>)[s.toUpperCase()];
    if (value === undefined) throw new ConnectError(`unknown task status ${s}`, Code.InvalidArgument);
    return value;
  });
}

function toSpec(task: NewTask) {
  return {
    id: task.id,
    deps: [...(task.deps ?? [])],
    priority: task.priority ?? 0,
    category: task.category ?? '',
    ...(task.metadata === undefined ? {} : { metadata: task.metadata }),
    ...(task.maxAttempts === undefined ? {} : { maxAttempts: task.maxAttempts }),
    paths: [...(task.paths ?? [])],
    land: task.land ?? false,
  };
}
