// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import { useMemo, useRef, useState } from 'preact/hooks';
import { collapse, countIds, type DrawNode, EXPAND_LIMIT, GROUPING_NAMES } from '../graph/collapse.js';
import { CELL, CELLS_PER_ROW, GROUP_SIZE, type Layout, layout } from '../graph/layout.js';
import type { Model } from '../model.js';
import { TaskStatus } from '../proto.js';
import { STATUS_COLOURS, statusName } from '../status.js';
import { useUi } from '../ui.js';

const ORDER = ['complete', 'running', 'assigned', 'ready', 'pending', 'failed', 'cancelled'];

function taskColour(model: Model, id: string): string {
  const task = model.tasks.get(id);
  if (task === undefined) return STATUS_COLOURS.pending!;
  if (
    task.status === TaskStatus.PENDING &&
    task.deps.every((d) => model.tasks.get(d)?.status === TaskStatus.COMPLETE)
  )
    return STATUS_COLOURS.ready!;
  return STATUS_COLOURS[statusName(task.status)]!;
}

/** An opened group's tasks, a cell each, coloured by status; a click opens its details. */
function Cells({ node }: { node: DrawNode }) {
  const { model, select } = useUi();
  return (
    <g transform={`translate(10 ${GROUP_SIZE.height - 4})`}>
      {node.ids.map((id, i) => (
        // biome-ignore lint/a11y/useSemanticElements: an SVG rect cannot be a <button>; it has role, tabindex and keys
        <rect
          key={id}
          data-node={id}
          role="button"
          tabindex={0}
          class="cell"
          x={(i % CELLS_PER_ROW) * CELL}
          y={Math.floor(i / CELLS_PER_ROW) * CELL}
          width={CELL - 3}
          height={CELL - 3}
          rx={2}
          fill={taskColour(model, id)}
          onClick={(e) => {
            e.stopPropagation();
            select(id);
          }}
          onKeyDown={(e) => e.key === 'Enter' && select(id)}
        >
          <title>{id}</title>
        </rect>
      ))}
    </g>
  );
}

function GroupBox({ node, width, height }: { node: DrawNode; width: number; height: number }) {
  const { model } = useUi();
  const counts = countIds(model.tasks, node.ids);
  const total = node.ids.length;
  let x = 0;
  const done = counts.complete ?? 0;
  return (
    <>
      <rect class="box" width={width} height={height} rx={8} />
      <text x={10} y={19} class="title">
        {node.label}
      </text>
      <text x={10} y={35} class="sub">
        {node.detail}
      </text>
      <text x={width - 10} y={19} class="sub" text-anchor="end">
        {done}/{total}
      </text>
      <g transform={`translate(10 ${GROUP_SIZE.height - 20})`}>
        <rect width={width - 20} height={10} rx={3} class="track" />
        {ORDER.map((name) => {
          const n = counts[name] ?? 0;
          if (n === 0) return null;
          const w = ((width - 20) * n) / total;
          const at = x;
          x += w;
          return (
            <rect key={name} x={at} width={w} height={10} fill={STATUS_COLOURS[name]}>
              <title>{`${name}: ${n}`}</title>
            </rect>
          );
        })}
      </g>
      {node.opened === true && <Cells node={node} />}
    </>
  );
}

/**
 * The task graph, deps on the left. Up to DRAW_LIMIT tasks are drawn one by one; beyond that the
 * page draws groups (by level and category, by level, or by bands of levels) with their progress,
 * and a group of up to EXPAND_LIMIT tasks opens in place on click. The layout is computed when
 * the graph's shape changes, not when a status does: colours follow events at no layout cost.
 */
export function Dag() {
  const { model, select } = useUi();
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set());
  const [zoom, setZoom] = useState(1);
  const [picked, setPicked] = useState<DrawNode | undefined>();
  const scroller = useRef<HTMLDivElement>(null);
  const drawing = useMemo(() => collapse(model.tasks, open), [model.shape, open]);
  const placed: Layout = useMemo(() => layout(drawing), [drawing]);
  const byKey = useMemo(() => new Map(drawing.nodes.map((n) => [n.key, n])), [drawing]);

  const click = (node: DrawNode) => {
    if (node.kind === 'task') select(node.key);
    else if (node.opened === true) {
      const next = new Set(open);
      next.delete(node.key);
      setOpen(next);
    } else if (node.ids.length <= EXPAND_LIMIT) setOpen(new Set([...open, node.key]));
    else setPicked(node);
  };
  const grouped = drawing.grouping !== 'tasks';
  return (
    <section class="card dag" aria-label="Task graph">
      <header>
        <h2>Task graph</h2>
        <span class="muted" data-testid="dag-summary" data-grouping={drawing.grouping}>
          {model.tasks.size} tasks · {drawing.levels} levels ·{' '}
          {grouped ? `${drawing.nodes.length} boxes, ` : ''}
          {GROUPING_NAMES[drawing.grouping]}
        </span>
        <div class="filters">
          {open.size > 0 && (
            <button type="button" onClick={() => setOpen(new Set())}>
              Close opened groups
            </button>
          )}
          <button type="button" aria-label="Zoom out" onClick={() => setZoom(Math.max(0.2, zoom / 1.25))}>
            −
          </button>
          <button type="button" onClick={() => setZoom(fitZoom(placed, scroller.current))}>
            Fit
          </button>
          <button type="button" aria-label="Zoom in" onClick={() => setZoom(Math.min(3, zoom * 1.25))}>
            +
          </button>
        </div>
      </header>
      <ul class="legend">
        {ORDER.map((name) => (
          <li key={name}>
            <i class="dot" style={{ background: STATUS_COLOURS[name] }} />
            {name === 'pending' ? 'waiting' : name}
          </li>
        ))}
        {grouped && (
          <li class="muted">
            edges between neighbouring columns only · click a group to open it (up to {EXPAND_LIMIT} tasks) or
            list it
          </li>
        )}
      </ul>
      {model.tasks.size === 0 ? (
        <p class="muted">{model.loaded ? 'No tasks yet.' : 'Loading tasks…'}</p>
      ) : (
        <div class="scroller" ref={scroller}>
          <svg
            width={placed.width * zoom}
            height={placed.height * zoom}
            viewBox={`0 0 ${placed.width} ${placed.height}`}
            role="img"
            aria-label="task graph"
          >
            <defs>
              <marker
                id="arrow"
                viewBox="0 0 8 8"
                refX="7"
                refY="4"
                markerWidth="7"
                markerHeight="7"
                orient="auto"
              >
                <path d="M0,0 L8,4 L0,8 z" class="arrowhead" />
              </marker>
            </defs>
            {placed.edges.map((e) => (
              <path key={`${e.from}>${e.to}`} d={e.points} class="edge" marker-end="url(#arrow)" />
            ))}
            {drawing.nodes.map((node) => {
              const p = placed.nodes.get(node.key);
              if (p === undefined) return null;
              return (
                // biome-ignore lint/a11y/useSemanticElements: an SVG group cannot be a <button>; it has role, tabindex and keys
                <g
                  key={node.key}
                  transform={`translate(${p.x - p.width / 2} ${p.y - p.height / 2})`}
                  class={`node ${node.kind}`}
                  data-node={node.key}
                  role="button"
                  tabindex={0}
                  onClick={() => click(node)}
                  onKeyDown={(e) => (e.key === 'Enter' || e.key === ' ') && click(node)}
                >
                  {node.kind === 'task' ? (
                    <>
                      <rect class="box" width={p.width} height={p.height} rx={6} />
                      <rect width={6} height={p.height} rx={3} fill={taskColour(model, node.key)} />
                      <text x={14} y={p.height / 2 + 4} class="title">
                        {node.label.length > 19 ? `${node.label.slice(0, 18)}…` : node.label}
                      </text>
                      <title>{`${node.label}: ${statusName(model.tasks.get(node.key)?.status ?? TaskStatus.UNSPECIFIED)}`}</title>
                    </>
                  ) : (
                    <GroupBox node={node} width={p.width} height={p.height} />
                  )}
                </g>
              );
            })}
          </svg>
        </div>
      )}
      {picked !== undefined && byKey.has(picked.key) && (
        <GroupList node={picked} onClose={() => setPicked(undefined)} />
      )}
    </section>
  );
}

function fitZoom(placed: Layout, box: HTMLDivElement | null): number {
  if (box === null || placed.width === 0) return 1;
  return Math.max(
    0.2,
    Math.min(1.5, (box.clientWidth - 8) / placed.width, (box.clientHeight - 8) / placed.height),
  );
}

/** A group too large to open in place: its tasks as a list (a page of them), each opening its details. */
function GroupList({ node, onClose }: { node: DrawNode; onClose: () => void }) {
  const { model, select } = useUi();
  const [status, setStatus] = useState('');
  const ids = node.ids.filter(
    (id) => status === '' || statusName(model.tasks.get(id)?.status ?? 0) === status,
  );
  const counts = countIds(model.tasks, node.ids);
  return (
    <div class="group-list" data-testid="group-list">
      <header>
        <h3>
          {node.label} {node.detail === undefined || node.detail === '' ? '' : `· ${node.detail}`} ·{' '}
          {node.ids.length} tasks
        </h3>
        <button type="button" class="close" aria-label="Close" onClick={onClose}>
          ×
        </button>
      </header>
      <p class="links">
        <button type="button" class={`chip ${status === '' ? 'on' : ''}`} onClick={() => setStatus('')}>
          all
        </button>
        {ORDER.filter(
          (s) => s !== 'ready' && (counts[s] ?? 0) + (s === 'pending' ? (counts.ready ?? 0) : 0) > 0,
        ).map((s) => (
          <button
            type="button"
            key={s}
            class={`chip s-${s} ${status === s ? 'on' : ''}`}
            onClick={() => setStatus(s)}
          >
            {s} {(counts[s] ?? 0) + (s === 'pending' ? (counts.ready ?? 0) : 0)}
          </button>
        ))}
      </p>
      <p class="links">
        {ids.slice(0, 300).map((id) => (
          <button
            type="button"
            key={id}
            class={`chip s-${statusName(model.tasks.get(id)?.status ?? 0)}`}
            onClick={() => select(id)}
          >
            {id}
          </button>
        ))}
        {ids.length > 300 && (
          <span class="muted">and {ids.length - 300} more (the task table filters them all)</span>
        )}
      </p>
    </div>
  );
}
