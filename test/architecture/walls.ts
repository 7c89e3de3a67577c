/**
 * The import walls of the source tree, as data, and a checker for one file's imports.
 * A room is a folder under src (or under src/server, or web/ for the dashboard); each names the rooms it may import from,
 * and the rooms it may reach for types only (`import type`, which leaves no runtime edge).
 */
export interface Room {
  readonly may: readonly string[];
  readonly typesOnly?: readonly string[];
  /** Bare module specifiers (npm packages, node: builtins) this room must not use. */
  readonly forbidPackages?: RegExp;
}

export const ROOMS: Readonly<Record<string, Room>> = {
  'src/core': { may: [], forbidPackages: /^(node:|@connectrpc|@bufbuild|better-sqlite3)/ },
  'src/wire': { may: [] },
  'src/client': { may: ['src/wire', 'src/gen', 'src/core'] },
  'src/server/store': { may: ['src/core'] },
  'src/server/workspaces': { may: ['src/core'] },
  'src/server/dashboard': { may: [] },
  'src/server/codec': {
    may: ['src/core', 'src/gen', 'src/wire'],
    typesOnly: ['src/server/runtime', 'src/server/workspaces'],
  },
  'src/server/auth': { may: [] },
  'src/server/rest': { may: ['src/core', 'src/gen', 'src/server/codec'] },
  'src/server/runtime': { may: ['src/core', 'src/wire', 'src/server/codec', 'src/server/workspaces'] },
  'src/server/services': {
    may: ['src/core', 'src/gen', 'src/wire', 'src/server/codec', 'src/server/runtime', 'src/server/auth'],
  },
  'src/server/observability': {
    may: ['src/core'],
    typesOnly: ['src/server/runtime', 'src/server/transport'],
  },
  'src/server/transport': {
    may: ['src/wire', 'src/server/codec', 'src/server/auth'],
    typesOnly: ['src/server/services', 'src/server/runtime'],
  },
  'src/server': {
    may: ['src/core', 'src/gen', 'src/wire', 'src/server/*'],
  },
  /** The dashboard's browser code talks only the protocol: generated messages, nothing of the server. */
  web: { may: ['src/gen'] },
  'src/cli': { may: ['src/core', 'src/server', 'src/server/*', 'src/client', 'src/wire', 'src/gen'] },
};

/** The room a path belongs to: the longest room name that is a folder prefix of it. */
export function roomOf(path: string): string | undefined {
  let best: string | undefined;
  for (const room of Object.keys(ROOMS)) {
    if (path.startsWith(`${room}/`) && (best === undefined || room.length > best.length)) best = room;
  }
  if (best === undefined && path.startsWith('src/gen/')) return 'src/gen';
  return best;
}

function allows(list: readonly string[] | undefined, room: string): boolean {
  return (list ?? []).some((r) => r === room || (r.endsWith('/*') && room.startsWith(r.slice(0, -1))));
}

const IMPORT = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?'([^']+)'/gm;

/** Every import of `source` (a file at `path`, posix, relative to the repo) that crosses a wall. */
export function wallViolations(path: string, source: string): string[] {
  const from = roomOf(path);
  if (from === undefined) return [];
  const rules = ROOMS[from]!;
  const dir = path.slice(0, path.lastIndexOf('/'));
  const found: string[] = [];
  for (const m of source.matchAll(IMPORT)) {
    const typeOnly = m[2] !== undefined;
    const spec = m[3]!;
    if (!spec.startsWith('.')) {
      if (rules.forbidPackages?.test(spec)) found.push(`${path} imports ${spec}`);
      continue;
    }
    const target = normalize(`${dir}/${spec}`);
    const to = roomOf(target);
    if (to === undefined || to === from) continue;
    if (allows(rules.may, to) || (typeOnly && allows(rules.typesOnly, to))) continue;
    found.push(`${path} imports ${target} (${from} may not import ${to})`);
  }
  return found;
}

/**
 * The files `source` (at `path`) loads when it is loaded: its relative imports that are not
 * `import type`, as repo paths of their .ts sources. A dynamic `import()` is not among them.
 */
export function staticImports(path: string, source: string): string[] {
  const dir = path.slice(0, path.lastIndexOf('/'));
  return [...source.matchAll(IMPORT)]
    .filter((m) => m[2] === undefined && m[3]!.startsWith('.'))
    .map((m) => normalize(`${dir}/${m[3]!}`).replace(/\.js$/, '.ts'));
}

function normalize(path: string): string {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '..') out.pop();
    else if (part !== '.' && part !== '') out.push(part);
  }
  return out.join('/');
}
