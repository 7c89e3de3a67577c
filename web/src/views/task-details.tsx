// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import { toJson } from '@bufbuild/protobuf';
import { ValueSchema } from '@bufbuild/protobuf/wkt';
import type { ComponentChildren } from 'preact';
import { useNow } from '../hooks.js';
import type { Model } from '../model.js';
import { type Task, TaskStatus } from '../proto.js';
import { statusName } from '../status.js';
import { clock, duration, ms, relative } from '../time.js';
import { useUi } from '../ui.js';
import { StatusBadge, TaskActions } from './task-table.js';

function TaskLinks({ ids }: { ids: readonly string[] }) {
  const { model, select } = useUi();
  if (ids.length === 0) return <span class="muted">none</span>;
  return (
    <span class="links">
      {ids.slice(0, 50).map((id) => {
        const task = model.tasks.get(id);
        return (
          <button
            type="button"
            key={id}
            class={`chip s-${task ? statusName(task.status) : 'unknown'}`}
            onClick={() => select(id)}
          >
            {id}
          </button>
        );
      })}
      {ids.length > 50 && <span class="muted">and {ids.length - 50} more</span>}
    </span>
  );
}

const Row = ({ label, children }: { label: string; children: ComponentChildren }) => (
  <>
    <dt>{label}</dt>
    <dd>{children}</dd>
  </>
);

function leaseDeadline(model: Model, task: Task, now: number): string {
  if (task.status !== TaskStatus.ASSIGNED && task.status !== TaskStatus.RUNNING) return '—';
  const worker = model.status?.workers.find((w) => w.workerId === task.workerId);
  const at = ms(worker?.leaseExpiresAt);
  return at === 0 ? '—' : `${clock(at)} (${relative(at, now)})`;
}

/** Everything about one task: deps both ways, attempts, worker and lease, error, result, metadata. */
export function TaskDetails({ id }: { id: string }) {
  const { model, select } = useUi();
  const now = useNow(1000);
  const task = model.tasks.get(id);
  return (
    <aside class="drawer" aria-label={`Task ${id}`} data-testid="task-details">
      <header>
        <h2 class="id">{id}</h2>
        <button type="button" class="close" aria-label="Close" onClick={() => select(undefined)}>
          ×
        </button>
      </header>
      {task === undefined ? (
        <p class="muted">No such task (yet).</p>
      ) : (
        <>
          <p>
            <StatusBadge task={task} /> <TaskActions task={task} />
          </p>
          <dl class="facts wide">
            <Row label="Category">{task.category || <span class="muted">any worker</span>}</Row>
            <Row label="Priority">{task.priority}</Row>
            <Row label="Attempts">
              {task.attempt} of {task.maxAttempts}
            </Row>
            <Row label="Worker">{task.workerId || <span class="muted">never assigned</span>}</Row>
            <Row label="Lease deadline">{leaseDeadline(model, task, now)}</Row>
            <Row label="Added">{clock(ms(task.createdAt))}</Row>
            <Row label="Assigned">{clock(ms(task.assignedAt))}</Row>
            <Row label="Started">{clock(ms(task.startedAt))}</Row>
            <Row label="Finished">
              {clock(ms(task.finishedAt))}
              {task.startedAt !== undefined && task.finishedAt !== undefined && (
                <span class="muted"> (ran {duration(ms(task.startedAt), ms(task.finishedAt))})</span>
              )}
            </Row>
            {task.waitingFor !== '' && <Row label="Waiting for">{task.waitingFor}</Row>}
            {task.cancelledBy !== '' && (
              <Row label="Cancelled by">
                <TaskLinks ids={[task.cancelledBy]} />
              </Row>
            )}
            {task.paths.length > 0 && <Row label="Paths">{task.paths.join(', ')}</Row>}
            <Row label="Depends on">
              <TaskLinks ids={task.deps} />
            </Row>
            <Row label="Needed by">
              <TaskLinks ids={model.dependents(id)} />
            </Row>
          </dl>
          {task.error !== '' && (
            <>
              <h3>Error</h3>
              <pre class="error">{task.error}</pre>
            </>
          )}
          {task.result !== undefined && (
            <>
              <h3>Result</h3>
              <pre>{JSON.stringify(toJson(ValueSchema, task.result), null, 2)}</pre>
            </>
          )}
          <h3>Metadata</h3>
          <pre>{JSON.stringify(task.metadata ?? {}, null, 2)}</pre>
        </>
      )}
    </aside>
  );
}
