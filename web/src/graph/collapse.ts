// web/: the dashboard in the browser (preact, connect-web), bundled by web/build.mjs.
// Imports src/gen through proto.ts only, and nothing else of Baton's (test/architecture/walls.test.ts).
import { type Task, TaskStatus } from '../proto.js';
import { statusName } from '../status.js';
import { levels } from './levels.js';

/** More nodes than this and the graph is drawn by groups (a layout of it stays well under a second). */
export const DRAW_LIMIT = 250;
/** A group of at most this many tasks can be opened in place. */
export const EXPAND_LIMIT = 120;

/** At most this many columns of groups: more would read as one long chain. */
export const MAX_COLUMNS = 24;

export type Grouping = 'tasks' | 'level-category' | 'band-category' | 'band';

/** How a grouping reads in the page's summary. */
export const GROUPING_NAMES: Readonly<Record<Grouping, string>> = {
  tasks: 'every task',
  'level-category': 'grouped by level and category',
  'band-category': 'grouped by bands of levels and category',
  band: 'grouped by bands of levels',
};

/** One box of the drawing: a task, or a group of tasks with their counts by status. */
export interface DrawNode {
  readonly key: string;
  readonly kind: 'task' | 'group';
  readonly label: string;
  /** A group's second line: the levels it holds. */
  readonly detail?: string;
  /** The task ids it stands for (one for a task node). */
  readonly ids: readonly string[];
  /** A group's place in the grid: its column (level or band of levels) and row (category). */
  readonly column?: number;
  readonly row?: number;
  /** A group opened in place: drawn with a cell per task. */
  readonly opened?: boolean;
}

export interface Drawing {
  readonly grouping: Grouping;
  readonly nodes: readonly DrawNode[];
  /** [from, to]: `from` must complete first. */
  readonly edges: readonly (readonly [string, string])[];
  readonly levels: number;
  /** Rows of the grid (categories) when grouped; 0 when every task is drawn. */
  readonly rows: number;
}

/** Counts by status word of the tasks `ids` (plus `ready`: pending with every dep complete). */
export function countIds(tasks: ReadonlyMap<string, Task>, ids: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const id of ids) {
    const task = tasks.get(id);
    if (task === undefined) continue;
    const name =
      task.status === TaskStatus.PENDING &&
      task.deps.every((d) => tasks.get(d)?.status === TaskStatus.COMPLETE)
        ? 'ready'
        : statusName(task.status);
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

/** How many levels one column of groups holds: 1, or a band of them when levels are many. */
const bandOf = (grouping: Grouping, levelCount: number): number =>
  grouping === 'level-category' ? 1 : Math.max(1, Math.ceil(levelCount / MAX_COLUMNS));

/** A task's group: its key, the group's title (its category) and detail (its levels). */
type Keyer = (task: Task, level: number) => [key: string, title: string, detail: string];

function keyer(grouping: Grouping, band: number, levelCount: number): Keyer {
  const levelsName = (l: number): [string, string] => {
    const from = Math.floor(l / band) * band;
    const to = Math.min(levelCount - 1, from + band - 1);
    return [`B${from}`, to === from ? `level ${from}` : `levels ${from}–${to}`];
  };
  if (grouping === 'band') {
    return (_t, l) => {
      const [k, name] = levelsName(l);
      return [k, name, ''];
    };
  }
  return (t, l) => {
    const [k, name] = levelsName(l);
    return [`${k}|${t.category}`, t.category || 'any category', name];
  };
}

/**
 * What to draw: every task when they are few; otherwise groups by level and category, by bands of
 * levels and category, or by bands alone: the finest that stays under DRAW_LIMIT boxes and
 * MAX_COLUMNS columns, laid out as a grid (a column per level or band, a row per category).
 * Groups named in `open` (and small enough) show a cell per task.
 */
export function collapse(tasks: ReadonlyMap<string, Task>, open: ReadonlySet<string>): Drawing {
  const level = levels(tasks);
  let levelCount = 0;
  for (const l of level.values()) if (l + 1 > levelCount) levelCount = l + 1;
  if (tasks.size <= DRAW_LIMIT) {
    const nodes = [...tasks.values()].map((t) => ({
      key: t.id,
      kind: 'task' as const,
      label: t.id,
      ids: [t.id],
    }));
    const edges: [string, string][] = [];
    for (const t of tasks.values()) for (const d of t.deps) if (tasks.has(d)) edges.push([d, t.id]);
    return { grouping: 'tasks', nodes, edges, levels: levelCount, rows: 0 };
  }
  for (const grouping of ['level-category', 'band-category', 'band'] as const) {
    if (grouping === 'level-category' && levelCount > MAX_COLUMNS) continue;
    const band = bandOf(grouping, levelCount);
    const key = keyer(grouping, band, levelCount);
    const groups = new Map<string, { label: string; detail: string; ids: string[] }>();
    for (const t of tasks.values()) {
      const [k, label, detail] = key(t, level.get(t.id) ?? 0);
      const g = groups.get(k);
      if (g === undefined) groups.set(k, { label, detail, ids: [t.id] });
      else g.ids.push(t.id);
    }
    if (groups.size > DRAW_LIMIT && grouping !== 'band') continue;
    // A grid: a column per level (or band), a row per category.
    const rows = [...new Set([...groups.keys()].map((k) => k.split('|')[1] ?? ''))].sort();
    const column = (id: string) => Math.floor((level.get(id) ?? 0) / band);
    const nodes: DrawNode[] = [];
    const nodeOf = new Map<string, string>();
    for (const [k, g] of groups) {
      const row = rows.indexOf(k.split('|')[1] ?? '');
      const opened = open.has(k) && g.ids.length <= EXPAND_LIMIT;
      nodes.push({
        key: k,
        kind: 'group',
        label: g.label,
        detail: g.detail,
        ids: g.ids,
        column: column(g.ids[0]!),
        row,
        opened,
      });
      for (const id of g.ids) nodeOf.set(id, k);
    }
    // Every task has a dep one level up (that is what its level means), so the edges between
    // neighbouring columns carry the graph's shape; longer ones would only add crossings.
    const seen = new Set<string>();
    const edges: [string, string][] = [];
    for (const t of tasks.values()) {
      const to = nodeOf.get(t.id)!;
      for (const d of t.deps) {
        const from = nodeOf.get(d);
        if (from === undefined || from === to || column(t.id) - column(d) !== 1) continue;
        const e = `${from}\u0000${to}`;
        if (seen.has(e)) continue;
        seen.add(e);
        edges.push([from, to]);
      }
    }
    return { grouping, nodes, edges, levels: levelCount, rows: rows.length };
  }
  throw new Error('unreachable: bands of levels always fit');
}
