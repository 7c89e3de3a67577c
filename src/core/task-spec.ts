import { type BatonError, BatonError as Err, invalidArgument } from './errors.js';
import { DEFAULT_LIMITS, type InputLimits, overLimit } from './limits.js';
import { normalizeGlob } from './path-glob.js';
import { DEFAULT_RETRY_BACKOFF, normalizeBackoff, type RetryBackoff } from './retry-backoff.js';
import type { Metadata, TaskSpec } from './task.js';

/** A task spec after validation: every field present and sane. */
export interface NormalizedSpec {
  readonly id: string;
  readonly deps: readonly string[];
  readonly priority: number;
  readonly category: string;
  readonly metadata: Metadata;
  readonly maxAttempts: number;
  /** Normalized globs, no two equal; empty when the task claims no paths. */
  readonly paths: readonly string[];
  readonly land: boolean;
  readonly requireCapability: boolean;
  /** Absolute (`runAt`); null when not given. */
  readonly runAt: number | null;
  /** Relative to when the task is added (`delayMs`); null when not given. */
  readonly delayMs: number | null;
  readonly retryBackoff: RetryBackoff;
}

/** The latest time a Date can hold, in ms: a not-before time past it could never be shown. */
export const MAX_TIME = 8.64e15;

/** A task may claim this many globs: each is compared with the held ones at assignment. */
const MAX_PATHS = 256;

/** The limits a new spec's id and category are held to. */
export type SpecLengths = Pick<InputLimits, 'maxIdLength' | 'maxCategoryLength'>;

/** Priorities are integers in int32's range, so ordering never depends on float rounding. */
export const MIN_PRIORITY = -(2 ** 31);
export const MAX_PRIORITY = 2 ** 31 - 1;

/** The field name of the i-th spec of a batch request. */
export const batchField = (i: number): string => `tasks[${i}]`;

/** `name` inside `prefix`; a spec that is the whole request has the prefix ''. */
export const fieldPath = (prefix: string, name: string): string =>
  prefix === '' ? name : `${prefix}.${name}`;

/**
 * Text that did not decode: a lone surrogate (from a JSON `\ud800`), or U+FFFD, which decoders
 * put where bytes were not UTF-8. Accepting either would store a different id than the sender's.
 */
const UNDECODABLE = /[\uFFFD\p{Cs}]/u;
export const undecodable = (text: string): boolean => UNDECODABLE.test(text);

/** Control characters in an id or category would reach logs, URLs and terminals as they are. */
export const hasControl = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
};

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' &&
  value !== null &&
  !Array.isArray(value) &&
  (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null);

/**
 * A deep, frozen copy of a JSON value, or a message naming the first part that is not JSON.
 * Freezing lets snapshots share metadata and results without copying them again.
 */
export function freezeJson(value: unknown, path: string): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalidArgument(`${path} must be a finite number`, { field: path });
    return value;
  }
  if (Array.isArray(value)) return Object.freeze(value.map((v, i) => freezeJson(v, `${path}[${i}]`)));
  if (isPlainObject(value)) {
    const copy: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      const frozen = freezeJson(v, `${path}.${k}`);
      if (k === '__proto__') {
        // JSON.parse makes `__proto__` an own key; assigning it would set the copy's prototype.
        Object.defineProperty(copy, k, {
          value: frozen,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else {
        copy[k] = frozen;
      }
    }
    return Object.freeze(copy);
  }
  throw invalidArgument(`${path} must be JSON (got ${typeof value})`, { field: path });
}

/**
 * Which rules a spec meets: a `new` one all of them; a `stored` one (restored from a store or an
 * image) only those that held when it was added, so data written before a rule was tightened
 * (a priority of 0.5, an id with U+FFFD) still loads rather than stopping the coordinator.
 */
export type SpecRules = 'new' | 'stored';

/** Checks one spec in isolation (deps are checked against the graph by the caller). */
export function normalizeSpec(
  spec: TaskSpec,
  field: string,
  defaultMaxAttempts: number,
  rules: SpecRules = 'new',
  defaultBackoff: RetryBackoff = DEFAULT_RETRY_BACKOFF,
  lengths: SpecLengths = DEFAULT_LIMITS,
): NormalizedSpec {
  const strict = rules === 'new';
  if (typeof spec !== 'object' || spec === null)
    throw invalidArgument(`${field === '' ? 'task' : field} must be an object`, { field });
  const { id } = spec;
  const idField = { field: fieldPath(field, 'id') };
  if (typeof id !== 'string' || id.length === 0) {
    throw invalidArgument(`${idField.field} must be a non-empty string`, idField);
  }
  // None of these errors echoes the id: it may be huge, or unprintable.
  if (strict && id.length > lengths.maxIdLength) {
    throw overLimit('maxIdLength', lengths, `${idField.field} is ${id.length} characters`, idField.field);
  }
  if (hasControl(id) || id.trim() === '') {
    throw invalidArgument(`${idField.field} must be printable and not blank`, idField);
  }
  if (strict && undecodable(id)) {
    throw invalidArgument(`${idField.field} must be valid UTF-8 (it has undecodable characters)`, idField);
  }
  const at = (name: string) => ({ field: fieldPath(field, name), taskId: id });

  const deps = spec.deps ?? [];
  if (!Array.isArray(deps))
    throw invalidArgument(`task ${id}: deps must be an array of task ids`, at('deps'));
  const seen = new Set<string>();
  for (const dep of deps) {
    if (typeof dep !== 'string' || dep.length === 0) {
      throw invalidArgument(`task ${id}: deps must contain only non-empty task ids`, at('deps'));
    }
    if (dep === id) throw invalidArgument(`task ${id} depends on itself`, at('deps'));
    if (seen.has(dep)) throw invalidArgument(`task ${id} lists dep ${dep} twice`, at('deps'));
    seen.add(dep);
  }

  const priority = spec.priority ?? 0;
  if (!strict && (typeof priority !== 'number' || !Number.isFinite(priority))) {
    throw invalidArgument(`task ${id}: priority must be a finite number`, at('priority'));
  }
  if (strict && (!Number.isInteger(priority) || priority < MIN_PRIORITY || priority > MAX_PRIORITY)) {
    throw invalidArgument(
      `task ${id}: priority must be an integer from ${MIN_PRIORITY} to ${MAX_PRIORITY}`,
      at('priority'),
    );
  }
  const category = spec.category ?? '';
  if (typeof category !== 'string')
    throw invalidArgument(`task ${id}: category must be a string`, at('category'));
  if (strict && category.length > lengths.maxCategoryLength) {
    const what = `task ${id}: category is ${category.length} characters`;
    throw overLimit('maxCategoryLength', lengths, what, at('category'));
  }
  if (hasControl(category) || (strict && undecodable(category))) {
    throw invalidArgument(`task ${id}: category must be printable UTF-8`, at('category'));
  }

  const metadata = spec.metadata ?? {};
  if (!isPlainObject(metadata))
    throw invalidArgument(`task ${id}: metadata must be a JSON object`, at('metadata'));

  const maxAttempts = spec.maxAttempts ?? defaultMaxAttempts;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw invalidArgument(`task ${id}: maxAttempts must be an integer ≥ 1`, at('maxAttempts'));
  }

  const { runAt, delayMs } = normalizeSchedule(spec, id, field);

  return {
    id,
    deps,
    priority,
    category,
    metadata: freezeJson(metadata, fieldPath(field, 'metadata')) as Metadata,
    maxAttempts,
    paths: normalizePaths(spec.paths, id, `${field}.paths`),
    land: normalizeFlag(spec.land, 'land', id, fieldPath(field, 'land')),
    requireCapability: normalizeFlag(
      spec.requireCapability,
      'requireCapability',
      id,
      fieldPath(field, 'requireCapability'),
    ),
    runAt,
    delayMs,
    retryBackoff: normalizeBackoff(spec.retryBackoff, defaultBackoff, fieldPath(field, 'retryBackoff'), id),
  };
}

/** A whole number of ms from 0 to MAX_TIME, or null when not given. */
function timeField(value: unknown, name: string, id: string, field: string): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_TIME) {
    throw invalidArgument(`task ${id}: ${name} must be a whole number of ms from 0 to ${MAX_TIME}`, {
      field: fieldPath(field, name),
      taskId: id,
    });
  }
  return value;
}

function normalizeSchedule(
  spec: TaskSpec,
  id: string,
  field: string,
): { runAt: number | null; delayMs: number | null } {
  const runAt = timeField(spec.runAt, 'runAt', id, field);
  const delayMs = timeField(spec.delayMs, 'delayMs', id, field);
  if (runAt !== null && delayMs !== null) {
    throw invalidArgument(`task ${id}: give runAt or delayMs, not both`, {
      field: fieldPath(field, 'delayMs'),
      taskId: id,
    });
  }
  return { runAt, delayMs };
}

function normalizeFlag(value: unknown, name: string, id: string, field: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean')
    throw invalidArgument(`task ${id}: ${name} must be true or false`, { field, taskId: id });
  return value;
}

function normalizePaths(paths: unknown, id: string, field: string): readonly string[] {
  if (paths === undefined || paths === null) return [];
  if (!Array.isArray(paths))
    throw invalidArgument(`task ${id}: paths must be an array of globs`, { field, taskId: id });
  if (paths.length > MAX_PATHS) {
    throw invalidArgument(`task ${id}: at most ${MAX_PATHS} paths`, { field, taskId: id });
  }
  const out = new Set<string>();
  for (const [i, raw] of paths.entries()) out.add(normalizeGlob(raw, `${field}[${i}]`, id));
  return [...out];
}

/**
 * Kahn's algorithm over a batch whose deps may point anywhere inside it (edges to tasks outside
 * the batch are ignored: those exist already and cannot depend on new ones). Returns the batch in
 * an order where every dep comes first, or the exact cycle path.
 */
export function orderBatch(
  specs: readonly NormalizedSpec[],
): { order: NormalizedSpec[] } | { cycle: string[] } {
  const index = new Map<string, number>();
  for (const [i, s] of specs.entries()) index.set(s.id, i);
  const inDegree = new Int32Array(specs.length);
  const dependents: number[][] = specs.map(() => []);
  specs.forEach((s, i) => {
    for (const dep of s.deps) {
      const j = index.get(dep);
      if (j !== undefined) {
        inDegree[i] = (inDegree[i] as number) + 1;
        (dependents[j] as number[]).push(i);
      }
    }
  });
  const queue: number[] = [];
  inDegree.forEach((d, i) => {
    if (d === 0) queue.push(i);
  });
  for (let head = 0; head < queue.length; head++) {
    for (const k of dependents[queue[head] as number] as number[]) {
      inDegree[k] = (inDegree[k] as number) - 1;
      if (inDegree[k] === 0) queue.push(k);
    }
  }
  if (queue.length === specs.length) return { order: queue.map((i) => specs[i] as NormalizedSpec) };
  return { cycle: findCycle(specs, index, inDegree) };
}

/** Walks deps from a task left on a cycle until a task repeats: that stretch is the cycle. */
function findCycle(
  specs: readonly NormalizedSpec[],
  index: Map<string, number>,
  inDegree: Int32Array,
): string[] {
  let current = inDegree.findIndex((d) => d > 0);
  const seenAt = new Map<number, number>();
  const path: number[] = [];
  while (!seenAt.has(current)) {
    seenAt.set(current, path.length);
    path.push(current);
    const spec = specs[current] as NormalizedSpec;
    current = spec.deps
      .map((d) => index.get(d))
      .find((j) => j !== undefined && (inDegree[j] as number) > 0) as number;
  }
  // path follows dep edges (task → its dep); reverse so it reads in run order: a → b means b needs a.
  const ring = path.slice(seenAt.get(current)).reverse();
  // Start from the cycle's first task in the batch, so the same cycle is always reported the same way.
  let start = 0;
  for (let i = 1; i < ring.length; i++) if ((ring[i] as number) < (ring[start] as number)) start = i;
  const cycle = [...ring.slice(start), ...ring.slice(0, start)].map((i) => (specs[i] as NormalizedSpec).id);
  cycle.push(cycle[0] as string);
  return cycle;
}

export const cycleError = (cycle: readonly string[]): BatonError =>
  new Err('invalid-argument', `dependency cycle: ${cycle.join(' → ')}`, {
    field: 'deps',
    taskId: cycle[0] as string,
    data: { cycle },
  });
