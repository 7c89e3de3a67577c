import { invalidArgument } from './errors.js';

/**
 * How long a task waits after a retryable failure before it may run again: exponential with
 * jitter. After the n-th failed attempt the ceiling is `min(maxMs, initialMs × multiplier^(n-1))`
 * and the wait is drawn from [ceiling / 2, ceiling) ("equal jitter": never less than half, so a
 * burst of failures cannot retry at once, and spread so that tasks that failed together do not
 * all come back together).
 */
export interface RetryBackoff {
  /** The ceiling after the first failure, in ms. 0: retry at once (no backoff). */
  readonly initialMs: number;
  /** The ceiling never grows past this, in ms; at least `initialMs`. */
  readonly maxMs: number;
  /** How much the ceiling grows per failed attempt; at least 1 (1: constant). */
  readonly multiplier: number;
}

/** What a caller may give: any field left out takes the coordinator's default. */
export type RetryBackoffSpec = { readonly [K in keyof RetryBackoff]?: number | undefined };

/** The coordinator's default unless `baton serve --retry-*` says otherwise: 1 s, 2 s, 4 s ... 60 s. */
export const DEFAULT_RETRY_BACKOFF: RetryBackoff = Object.freeze({
  initialMs: 1_000,
  maxMs: 60_000,
  multiplier: 2,
});

/** Node's timers and int32 both stop here (about 24.8 days): a longer backoff is not useful. */
export const MAX_BACKOFF_MS = 2 ** 31 - 1;
const MAX_MULTIPLIER = 1_000;

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * `spec` over `defaults`, checked: integers from 0 to MAX_BACKOFF_MS, a multiplier from 1 to
 * 1000, and `maxMs` at least `initialMs`. Errors name `field.initialMs` and so on. A spec equal to
 * the defaults returns the defaults object itself, so a million tasks share one.
 */
export function normalizeBackoff(
  spec: unknown,
  defaults: RetryBackoff,
  field: string,
  taskId?: string,
): RetryBackoff {
  if (spec === undefined || spec === null) return defaults;
  const task = taskId === undefined ? {} : { taskId };
  const at = (name: string) => ({ field: `${field}.${name}`, ...task });
  const prefix = taskId === undefined ? '' : `task ${taskId}: `;
  if (!isPlainObject(spec)) throw invalidArgument(`${prefix}${field} must be an object`, { field, ...task });
  const ms = (name: 'initialMs' | 'maxMs'): number => {
    const value = spec[name] ?? defaults[name];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_BACKOFF_MS) {
      throw invalidArgument(
        `${prefix}${field}.${name} must be an integer number of ms from 0 to ${MAX_BACKOFF_MS}`,
        at(name),
      );
    }
    return value;
  };
  const initialMs = ms('initialMs');
  const maxMs = ms('maxMs');
  const multiplier = spec.multiplier ?? defaults.multiplier;
  if (
    typeof multiplier !== 'number' ||
    !Number.isFinite(multiplier) ||
    multiplier < 1 ||
    multiplier > MAX_MULTIPLIER
  ) {
    throw invalidArgument(
      `${prefix}${field}.multiplier must be a number from 1 to ${MAX_MULTIPLIER}`,
      at('multiplier'),
    );
  }
  if (maxMs < initialMs) {
    const given = spec.maxMs === undefined ? ', the default' : '';
    throw invalidArgument(
      `${prefix}${field}.maxMs (${maxMs}${given}) must be at least initialMs (${initialMs})`,
      at(spec.maxMs === undefined ? 'initialMs' : 'maxMs'),
    );
  }
  if (initialMs === defaults.initialMs && maxMs === defaults.maxMs && multiplier === defaults.multiplier) {
    return defaults;
  }
  return Object.freeze({ initialMs, maxMs, multiplier });
}

/** FNV-1a over the id and the attempt, as a fraction in [0, 1): the same task and attempt, the same jitter. */
function jitterOf(taskId: string, attempt: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < taskId.length; i++) {
    hash ^= taskId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= attempt;
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  hash ^= hash >>> 16;
  return (hash >>> 0) / 2 ** 32;
}

/**
 * The wait, in whole ms, after `failures` failed attempts (1 for the first). Deterministic (the
 * jitter is a hash of the task id and the attempt, not a random draw), so the core stays
 * reproducible and a replayed run waits exactly as the first did.
 */
export function backoffDelay(
  backoff: RetryBackoff,
  failures: number,
  taskId: string,
  attempt: number,
): number {
  if (backoff.initialMs === 0) return 0;
  const ceiling = Math.min(
    backoff.maxMs,
    backoff.initialMs * backoff.multiplier ** Math.max(0, failures - 1),
  );
  return Math.floor(ceiling / 2 + (jitterOf(taskId, attempt) * ceiling) / 2);
}
