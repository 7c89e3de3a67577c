import { UsageError } from './usage-error.js';

/** What a numeric flag accepts, and how its error message says so. */
export interface NumberRule {
  readonly what: string;
  readonly ok: (n: number) => boolean;
}

export const PORT: NumberRule = {
  what: 'a port number from 0 to 65535',
  ok: (n) => Number.isInteger(n) && n >= 0 && n < 65536,
};
export const WHOLE: NumberRule = { what: 'a whole number above 0', ok: (n) => Number.isInteger(n) && n > 0 };
export const WHOLE_OR_ZERO: NumberRule = {
  what: 'a whole number, 0 or more',
  ok: (n) => Number.isInteger(n) && n >= 0,
};
export const INTEGER: NumberRule = { what: 'a whole number', ok: (n) => Number.isSafeInteger(n) };
export const POSITIVE: NumberRule = { what: 'a number above 0', ok: (n) => Number.isFinite(n) && n > 0 };

/** The flag's number, undefined when it was not given; a UsageError naming `--name` otherwise. */
export function numberFlag(name: string, raw: string | undefined, rule: NumberRule): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !rule.ok(n))
    throw new UsageError(`--${name} must be ${rule.what}, got ${JSON.stringify(raw)}`);
  return n;
}

/** The flag's value if it is one of `allowed`; a UsageError listing them otherwise. */
export function choiceFlag<T extends string>(name: string, raw: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(raw)) return raw as T;
  const list = allowed.length === 2 ? `${allowed[0]} or ${allowed[1]}` : `one of ${allowed.join(', ')}`;
  throw new UsageError(`--${name} must be ${list}`);
}

/** A repeatable flag whose every use may also list values with commas: `--dep a,b --dep c`. */
export const collect = (value: string, previous: readonly string[] = []): string[] => [
  ...previous,
  ...value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== ''),
];
