// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import { useMemo } from 'preact/hooks';
import { useNow } from '../hooks.js';
import { type Task, TaskStatus, type WorkerStatus } from '../proto.js';
import { statusName, workerStateName } from '../status.js';
import { clock, ms, relative } from '../time.js';
import { useUi } from '../ui.js';
import { Costs } from './costs.js';
import { RateLimit } from './rate-limit.js';

/** The tasks each worker holds now (assigned or running), by worker id. */
function heldBy(tasks: ReadonlyMap<string, Task>): Map<string, Task[]> {
  const held = new Map<string, Task[]>();
  for (const task of tasks.values()) {
    if (task.status !== TaskStatus.ASSIGNED && task.status !== TaskStatus.RUNNING) continue;
    const list = held.get(task.workerId);
    if (list === undefined) held.set(task.workerId, [task]);
    else list.push(task);
  }
  return held;
}

function WorkerRow({ worker, held, now }: { worker: WorkerStatus; held: readonly Task[]; now: number }) {
  const { model, select } = useUi();
  const lease = ms(worker.leaseExpiresAt);
  // The lease is renewed by every message: its deadline minus its length is when the worker last spoke.
  const heard = lease === 0 ? 0 : lease - (model.status?.leaseTtlMs ?? 0);
  const labels = Object.entries(worker.labels);
  return (
    <tr data-worker={worker.workerId}>
      <td class="id">{worker.workerId}</td>
      <td>
        <span class={`badge w-${workerStateName(worker.state)}`}>{workerStateName(worker.state)}</span>
      </td>
      <td>
        <span class="links">
          {worker.capabilities.length === 0 ? (
            <span class="muted">any</span>
          ) : (
            worker.capabilities.map((c) => (
              <span key={c} class="tag">
                {c}
              </span>
            ))
          )}
          {labels.map(([k, v]) => (
            <span key={k} class="tag label-tag">
              {k}={v}
            </span>
          ))}
        </span>
      </td>
      <td>
        <div class="cell-bar load">
          <span class="track">
            <span style={{ width: `${(100 * worker.running) / Math.max(1, worker.maxConcurrency)}%` }} />
          </span>
          <span class="count">
            {worker.running}/{worker.maxConcurrency}
          </span>
        </div>
      </td>
      <td>
        <span class="links">
          {held.slice(0, 8).map((t) => (
            <button
              type="button"
              key={t.id}
              class={`chip s-${statusName(t.status)}`}
              onClick={() => select(t.id)}
            >
              {t.id}
            </button>
          ))}
          {held.length > 8 && <span class="muted">+{held.length - 8}</span>}
        </span>
      </td>
      <td class="muted" title={clock(heard)}>
        {heard === 0 ? '—' : relative(heard, now)}
      </td>
      <td class="muted" title={clock(ms(worker.joinedAt))}>
        {relative(ms(worker.joinedAt), now)}
      </td>
    </tr>
  );
}

function FleetLog({ now }: { now: number }) {
  const { model } = useUi();
  if (model.fleetLog.length === 0) return null;
  return (
    <section class="card" aria-label="Joined and left">
      <header>
        <h2>Joined and left</h2>
      </header>
      <ul class="log">
        {model.fleetLog.slice(0, 12).map((e) => (
          <li key={`${e.at}-${e.workerId}-${e.joined}`}>
            <span class="muted">{relative(e.at, now)}</span>
            <span class={e.joined ? 'good' : 'warn'}>{e.joined ? 'joined' : 'left'}</span>
            <span class="id">{e.workerId}</span>
            <span class="muted">{e.detail}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** The fleet: every worker's capabilities, load and held tasks; the rate limiter; the budgets. */
export function Workers() {
  const { model } = useUi();
  useNow(1000);
  const now = Date.now();
  const held = useMemo(() => heldBy(model.tasks), [model.version]);
  const workers = model.status?.workers ?? [];
  return (
    <div class="workers">
      <section class="card" aria-label="Workers">
        <header>
          <h2>Workers</h2>
          <span class="muted">
            {workers.length} connected or holding tasks · lease {(model.status?.leaseTtlMs ?? 0) / 1000} s
          </span>
        </header>
        {workers.length === 0 ? (
          <p class="muted">No worker connected.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th>Worker</th>
                <th>State</th>
                <th>Capabilities and labels</th>
                <th>Load</th>
                <th>Holds</th>
                <th>Last heard</th>
                <th>Joined</th>
              </tr>
            </thead>
            <tbody>
              {workers.map((w) => (
                <WorkerRow key={w.workerId} worker={w} held={held.get(w.workerId) ?? []} now={now} />
              ))}
            </tbody>
          </table>
        )}
      </section>
      <div class="grid-2">
        <RateLimit />
        <Costs />
      </div>
      <FleetLog now={now} />
    </div>
  );
}
