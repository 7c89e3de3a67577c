// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import { type Event, EventKind, type GetStatusResponse, type Task, TaskStatus } from './proto.js';
import type { RepoState } from './repo-state.js';
import { ms } from './time.js';

/** How the page's event stream stands, shown in the header. */
export type Connection =
  | { readonly state: 'connecting' }
  | { readonly state: 'live'; readonly since: number; readonly reconnected: boolean }
  | {
      readonly state: 'reconnecting';
      readonly attempt: number;
      readonly retryAt: number;
      readonly error: string;
    }
  /** The server checks tokens and refused the page's (or its lack of one): nothing is retried. */
  | { readonly state: 'locked'; readonly error: string };

/** A worker joining or leaving, as the fleet log shows it. */
export interface FleetEntry {
  readonly at: number;
  readonly workerId: string;
  readonly joined: boolean;
  /** Why it left, or its capabilities when it joined. */
  readonly detail: string;
}

/** What the page knows of the coordinator, kept current by events. */
export interface Model {
  /** Bumped by every change: views memoise on it. */
  readonly version: number;
  /** Bumped when tasks are added or replaced (not when one changes status): the graph relays out on it. */
  readonly shape: number;
  /** Every task by id, in the order added. */
  readonly tasks: ReadonlyMap<string, Task>;
  /** The snapshot was loaded (before it, the task views say "loading"). */
  readonly loaded: boolean;
  readonly status: GetStatusResponse | undefined;
  /** The shared repository's views, when the server was started with --repo. */
  readonly repo: RepoState;
  readonly connection: Connection;
  /** The sequence of the last event applied (a restarted server counts again from 1). */
  readonly lastSequence: bigint;
  /** When tasks completed (ms, server clock), for the throughput chart; the last 15 minutes. */
  readonly completions: readonly number[];
  /** The last workers to join or leave, newest first (since the page opened, and replayed ones). */
  readonly fleetLog: readonly FleetEntry[];
  /** The lowercase text each task is searched by (id, category, worker, error, metadata). */
  searchText(id: string): string;
  /** The tasks that depend on `id`. */
  dependents(id: string): readonly string[];

  replaceTasks(tasks: readonly Task[]): void;
  /**
   * Applies events in sequence order; events about a task older than what is known are skipped,
   * a deleted task goes. (A purge names no ids: the live loop loads the list again on it.)
   */
  apply(events: readonly Event[]): void;
  setStatus(status: GetStatusResponse): void;
  setRepo(repo: RepoState): void;
  setConnection(connection: Connection): void;
  /** Calls `listener` (at most once a frame) after changes. */
  subscribe(listener: () => void): () => void;
}

const WINDOW_MS = 15 * 60_000;

export function createModel(): Model {
  let tasks = new Map<string, Task>();
  let search = new Map<string, string>();
  let dependents: Map<string, string[]> | undefined;
  let completions: number[] = [];
  let fleetLog: FleetEntry[] = [];
  const listeners = new Set<() => void>();
  let scheduled = false;

  const notify = (): void => {
    model.version++;
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      for (const listener of listeners) listener();
    });
  };

  const index = (task: Task): void => {
    const meta = task.metadata === undefined ? '' : JSON.stringify(task.metadata);
    search.set(
      task.id,
      `${task.id}\n${task.category}\n${task.workerId}\n${task.error}\n${meta}`.toLowerCase(),
    );
  };

  const trim = (now: number): void => {
    const from = now - WINDOW_MS;
    if (completions.length > 0 && completions[0]! < from) completions = completions.filter((t) => t >= from);
  };

  /** Upserts a task unless what is known is newer; returns whether it changed anything. */
  const upsert = (task: Task): boolean => {
    const known = tasks.get(task.id);
    if (known !== undefined && ms(known.updatedAt) > ms(task.updatedAt)) return false;
    if (known === undefined) {
      model.shape++;
      dependents = undefined;
    }
    tasks.set(task.id, task);
    index(task);
    return true;
  };

  const remove = (id: string): void => {
    if (!tasks.delete(id)) return;
    search.delete(id);
    dependents = undefined;
    model.shape++;
  };

  const model = {
    version: 0,
    shape: 0,
    get tasks() {
      return tasks;
    },
    loaded: false,
    status: undefined as GetStatusResponse | undefined,
    repo: { state: 'unknown' } as RepoState,
    connection: { state: 'connecting' } as Connection,
    lastSequence: 0n,
    get completions() {
      return completions;
    },
    get fleetLog() {
      return fleetLog;
    },
    searchText: (id: string) => search.get(id) ?? '',
    dependents(id: string) {
      if (dependents === undefined) {
        dependents = new Map();
        for (const task of tasks.values()) {
          for (const dep of task.deps) {
            const list = dependents.get(dep);
            if (list === undefined) dependents.set(dep, [task.id]);
            else list.push(task.id);
          }
        }
      }
      return dependents.get(id) ?? [];
    },
    replaceTasks(list: readonly Task[]) {
      tasks = new Map(list.map((t) => [t.id, t]));
      search = new Map();
      for (const task of list) index(task);
      dependents = undefined;
      completions = list
        .filter((t) => t.status === TaskStatus.COMPLETE && t.finishedAt !== undefined)
        .map((t) => ms(t.finishedAt))
        .sort((a, b) => a - b);
      trim(Date.now());
      model.loaded = true;
      model.shape++;
      notify();
    },
    apply(events: readonly Event[]) {
      for (const event of events) {
        model.lastSequence = event.sequence;
        const { payload } = event;
        if (payload.case === 'task' && event.kind === EventKind.TASK_DELETED) {
          remove(payload.value.id);
        } else if (payload.case === 'task') {
          if (upsert(payload.value) && event.kind === EventKind.TASK_COMPLETE) {
            completions.push(ms(event.time));
          }
        } else if (payload.case === 'lifecycle' && model.status !== undefined) {
          model.status.state = payload.value.state;
        } else if (payload.case === 'workerJoined' || payload.case === 'workerLeft') {
          // A reconnect resumes after the last sequence seen, so nothing here is repeated.
          const joined = payload.case === 'workerJoined';
          const detail = joined ? payload.value.capabilities.join(', ') : payload.value.reason;
          const entry = { at: ms(event.time), workerId: payload.value.workerId, joined, detail };
          fleetLog = [entry, ...fleetLog.slice(0, 49)];
        }
      }
      trim(Date.now());
      notify();
    },
    setStatus(status: GetStatusResponse) {
      model.status = status;
      notify();
    },
    setRepo(repo: RepoState) {
      // A read that failed keeps what was shown; only an answer changes it.
      if (repo.state === 'unknown') return;
      model.repo = repo;
      notify();
    },
    setConnection(connection: Connection) {
      model.connection = connection;
      notify();
    },
    subscribe(listener: () => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  return model;
}
