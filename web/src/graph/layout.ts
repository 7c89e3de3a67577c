// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import dagre from '@dagrejs/dagre';
import type { Drawing, DrawNode } from './collapse.js';

export interface Placed {
  readonly key: string;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface Layout {
  readonly nodes: ReadonlyMap<string, Placed>;
  /** Each edge as an SVG path (`d`). */
  readonly edges: readonly { readonly from: string; readonly to: string; readonly points: string }[];
  readonly width: number;
  readonly height: number;
}

export const TASK_SIZE = { width: 150, height: 34 };
export const GROUP_SIZE = { width: 190, height: 62 };

/** An opened group's task cells: this many per row, this big. */
export const CELLS_PER_ROW = 12;
export const CELL = 14;

const groupHeight = (n: DrawNode): number =>
  n.opened === true
    ? GROUP_SIZE.height + Math.ceil(n.ids.length / CELLS_PER_ROW) * CELL + 6
    : GROUP_SIZE.height;

/** Where collapse() put each group: a grid, rows as tall as their tallest (opened) group. */
function grid(drawing: Drawing): Layout {
  const gapX = 56;
  const gapY = 14;
  const margin = 16;
  const rowHeight = new Array<number>(drawing.rows).fill(GROUP_SIZE.height);
  let columns = 0;
  for (const n of drawing.nodes) {
    rowHeight[n.row!] = Math.max(rowHeight[n.row!]!, groupHeight(n));
    columns = Math.max(columns, n.column! + 1);
  }
  const top: number[] = [];
  let y = margin;
  for (const h of rowHeight) {
    top.push(y);
    y += h + gapY;
  }
  const nodes = new Map<string, Placed>();
  for (const n of drawing.nodes) {
    const height = groupHeight(n);
    const x = margin + n.column! * (GROUP_SIZE.width + gapX) + GROUP_SIZE.width / 2;
    nodes.set(n.key, { key: n.key, x, y: top[n.row!]! + height / 2, width: GROUP_SIZE.width, height });
  }
  const edges = drawing.edges.map(([from, to]) => {
    const a = nodes.get(from)!;
    const b = nodes.get(to)!;
    const x1 = a.x + a.width / 2;
    const y1 = a.y - a.height / 2 + GROUP_SIZE.height / 2;
    const x2 = b.x - b.width / 2;
    const y2 = b.y - b.height / 2 + GROUP_SIZE.height / 2;
    const mid = (x1 + x2) / 2;
    return { from, to, points: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}` };
  });
  return {
    nodes,
    edges,
    width: margin * 2 + columns * (GROUP_SIZE.width + gapX) - gapX,
    height: y - gapY + margin,
  };
}

/**
 * Where each box goes: dagre's layered layout, left to right (deps on the left), when every task
 * is drawn; the grid of groups otherwise.
 */
export function layout(drawing: Drawing): Layout {
  if (drawing.grouping !== 'tasks') return grid(drawing);
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 14, ranksep: 56, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of drawing.nodes) g.setNode(n.key, { ...(n.kind === 'task' ? TASK_SIZE : GROUP_SIZE) });
  for (const [from, to] of drawing.edges) g.setEdge(from, to);
  dagre.layout(g);
  const nodes = new Map<string, Placed>();
  for (const key of g.nodes()) {
    const n = g.node(key) as { x: number; y: number; width: number; height: number };
    nodes.set(key, { key, x: n.x, y: n.y, width: n.width, height: n.height });
  }
  const edges = g.edges().map((e: { v: string; w: string }) => {
    const at = ((g.edge(e) as { points?: { x: number; y: number }[] }).points ?? []).map(
      (p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`,
    );
    const points = at.length === 0 ? '' : `M${at.join(' L')}`;
    return { from: e.v, to: e.w, points };
  });
  const label = g.graph() as { width?: number; height?: number };
  return { nodes, edges, width: label.width ?? 0, height: label.height ?? 0 };
}
