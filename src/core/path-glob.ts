import { invalidArgument } from './errors.js';

/**
 * The paths a task says it will touch, as globs relative to the repository root: `*` and `?`
 * within one segment, `**` as a whole segment for any number of segments. A glob claims what it
 * matches and everything below it (`src` claims `src/**`), because editing a file conflicts with
 * a task that claims its directory.
 */
export const MAX_GLOB_LENGTH = 1024;

const isWild = (segment: string): boolean => segment.includes('*') || segment.includes('?');

/**
 * The canonical form of one glob (`./a/` becomes `a`; `a//b`, `..` and absolute paths are
 * refused), or an error naming `field` and the task.
 */
export function normalizeGlob(raw: unknown, field: string, taskId?: string): string {
  const bad = (why: string) =>
    invalidArgument(
      `${taskId === undefined ? '' : `task ${taskId}: `}${field} ${why}`,
      taskId === undefined ? { field } : { field, taskId },
    );
  if (typeof raw !== 'string' || raw.length === 0) throw bad('must be a non-empty string');
  if (raw.length > MAX_GLOB_LENGTH) throw bad(`must be at most ${MAX_GLOB_LENGTH} characters`);
  if (raw.includes('\\')) throw bad(`${JSON.stringify(raw)} uses \\: separate segments with /`);
  if (raw.startsWith('/'))
    throw bad(`${JSON.stringify(raw)} is absolute: give it relative to the repository root`);
  if (/[[\]{}\0]/.test(raw)) {
    throw bad(`${JSON.stringify(raw)} has a character class, a brace or NUL: only *, ? and ** are supported`);
  }
  let path = raw.startsWith('./') ? raw.slice(2) : raw;
  if (path.endsWith('/')) path = path.slice(0, -1);
  const segments = path.split('/');
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') {
      throw bad(`${JSON.stringify(raw)} has an empty, "." or ".." segment`);
    }
    if (segment.includes('**') && segment !== '**')
      throw bad(`${JSON.stringify(raw)}: ** must be a whole segment`);
  }
  return segments.join('/');
}

/** The segments of a normalized glob before its first wildcard: where it sits in a tree of paths. */
export function literalPrefix(glob: string): string[] {
  const prefix: string[] = [];
  for (const segment of glob.split('/')) {
    if (isWild(segment)) break;
    prefix.push(segment);
  }
  return prefix;
}

/**
 * Whether two sequences, in which `star` elements match any run of units and the others one unit
 * each, accept a common sequence: a search of the product of the two automata, O(n·m) states.
 */
function intersects<T>(
  a: readonly T[],
  b: readonly T[],
  star: (x: T) => boolean,
  meet: (x: T, y: T) => boolean,
): boolean {
  const width = b.length + 1;
  const seen = new Uint8Array((a.length + 1) * width);
  const stack = [0];
  seen[0] = 1;
  const visit = (i: number, j: number): void => {
    const k = i * width + j;
    if (seen[k] === 0) {
      seen[k] = 1;
      stack.push(k);
    }
  };
  while (stack.length > 0) {
    const k = stack.pop() as number;
    const i = Math.floor(k / width);
    const j = k % width;
    if (i === a.length && j === b.length) return true;
    const x = a[i];
    const y = b[j];
    const xStar = x !== undefined && star(x);
    const yStar = y !== undefined && star(y);
    // A star that matches nothing more, or that absorbs a unit the other side matches.
    if (xStar) visit(i + 1, j);
    if (yStar) visit(i, j + 1);
    if (xStar && y !== undefined && !yStar) visit(i, j + 1);
    if (yStar && x !== undefined && !xStar) visit(i + 1, j);
    if (x !== undefined && y !== undefined && !xStar && !yStar && meet(x, y)) visit(i + 1, j + 1);
  }
  return false;
}

const charStar = (c: string): boolean => c === '*';
const charMeet = (c: string, d: string): boolean => c === d || c === '?' || d === '?';

/** Whether some file name matches both segment patterns. */
const segmentsMeet = (s: string, t: string): boolean =>
  s === t || (isWild(s) || isWild(t) ? intersects([...s], [...t], charStar, charMeet) : false);

const segmentStar = (s: string): boolean => s === '**';

/** Whether two normalized globs claim a common path (each claiming its subtree too). */
export function globsOverlap(a: string, b: string): boolean {
  return intersects([...a.split('/'), '**'], [...b.split('/'), '**'], segmentStar, segmentsMeet);
}
