// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import { useMemo, useState } from 'preact/hooks';
import { cancelRequest, retryRequest } from '../actions.js';
import { useNow } from '../hooks.js';
import type { Task } from '../proto.js';
import { canCancel, canRetry, STATUSES, statusName } from '../status.js';
import { ms, relative } from '../time.js';
import { useUi } from '../ui.js';

const PAGE = 200;

export function StatusBadge({ task }: { task: Task }) {
  const name = statusName(task.status);
  return <span class={`badge s-${name}`}>{name}</span>;
}

/** Cancel and retry buttons for one task, each behind the confirmation dialog. */
export function TaskActions({ task }: { task: Task }) {
  const { api, model, confirm } = useUi();
  return (
    <span class="actions">
      {canCancel(task.status) && (
        <button
          type="button"
          class="small danger"
          data-action="cancel"
          onClick={(e) => {
            e.stopPropagation();
            confirm(cancelRequest(api, task.id, model.dependents(task.id).length));
          }}
        >
          Cancel
        </button>
      )}
      {canRetry(task.status) && (
        <button
          type="button"
          class="small"
          data-action="retry"
          onClick={(e) => {
            e.stopPropagation();
            confirm(retryRequest(api, task.id));
          }}
        >
          Retry
        </button>
      )}
    </span>
  );
}

function distinct(tasks: Iterable<Task>, key: (t: Task) => string): string[] {
  const values = new Set<string>();
  for (const t of tasks) {
    const v = key(t);
    if (v !== '') values.add(v);
  }
  return [...values].sort();
}

const STATUS_WORDS = STATUSES.map(statusName);

/** One filter: a select of the values seen, the empty value meaning any. */
function Filter(props: {
  label: string;
  all: string;
  value: string;
  set: (value: string) => void;
  options: readonly string[];
}) {
  return (
    <select aria-label={props.label} value={props.value} onChange={(e) => props.set(e.currentTarget.value)}>
      <option value="">{props.all}</option>
      {props.options.map((o) => (
        <option key={o} value={o}>
          {o}
        </option>
      ))}
    </select>
  );
}

/** Every task, filtered by status, category, worker and a free-text search; a page at a time. */
export function TaskTable() {
  const { model, select } = useUi();
  useNow(5000);
  const now = Date.now();
  const [status, setStatus] = useState('');
  const [category, setCategory] = useState('');
  const [worker, setWorker] = useState('');
  const [query, setQuery] = useState('');
  const [shown, setShown] = useState(PAGE);
  const categories = useMemo(() => distinct(model.tasks.values(), (t) => t.category), [model.shape]);
  const workers = useMemo(() => distinct(model.tasks.values(), (t) => t.workerId), [model.version]);
  const rows = useMemo(() => {
    const q = query.trim().toLowerCase();
    const out: Task[] = [];
    for (const task of model.tasks.values()) {
      if (status !== '' && statusName(task.status) !== status) continue;
      if (category !== '' && task.category !== category) continue;
      if (worker !== '' && task.workerId !== worker) continue;
      if (q !== '' && !model.searchText(task.id).includes(q)) continue;
      out.push(task);
    }
    return out;
  }, [model.version, status, category, worker, query]);

  return (
    <section class="card tasks" aria-label="Tasks">
      <header>
        <h2>Tasks</h2>
        <div class="filters">
          <input
            type="search"
            placeholder="Search id, error, metadata…"
            value={query}
            aria-label="Search tasks"
            onInput={(e) => setQuery(e.currentTarget.value)}
          />
          <Filter label="Status" all="all statuses" value={status} set={setStatus} options={STATUS_WORDS} />
          <Filter
            label="Category"
            all="all categories"
            value={category}
            set={setCategory}
            options={categories}
          />
          <Filter label="Worker" all="all workers" value={worker} set={setWorker} options={workers} />
          <span class="muted" data-testid="task-count">
            {rows.length} of {model.tasks.size}
          </span>
        </div>
      </header>
      {!model.loaded ? (
        <p class="muted">Loading tasks…</p>
      ) : rows.length === 0 ? (
        <p class="muted">{model.tasks.size === 0 ? 'No tasks yet.' : 'No task matches the filters.'}</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Task</th>
              <th>Status</th>
              <th>Category</th>
              <th>Worker</th>
              <th class="num">Attempt</th>
              <th class="num">Deps</th>
              <th>Updated</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {rows.slice(0, shown).map((task) => (
              <tr key={task.id} data-task={task.id} onClick={() => select(task.id)}>
                <td class="id">{task.id}</td>
                <td>
                  <StatusBadge task={task} />
                </td>
                <td>{task.category}</td>
                <td>{task.workerId}</td>
                <td class="num">
                  {task.attempt}/{task.maxAttempts}
                </td>
                <td class="num">{task.deps.length}</td>
                <td class="muted">{relative(ms(task.updatedAt), now)}</td>
                <td>
                  <TaskActions task={task} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {rows.length > shown && (
        <button type="button" class="more" onClick={() => setShown(shown + PAGE)}>
          Show {Math.min(PAGE, rows.length - shown)} more of {rows.length - shown}
        </button>
      )}
    </section>
  );
}
