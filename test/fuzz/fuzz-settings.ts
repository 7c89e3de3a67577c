import type * as fc from 'fast-check';

/**
 * How hard the fuzz specs push. `npm test` runs them small and seeded, so a failure is
 * reproducible; `npm run fuzz` sets FUZZ_RUNS (and a random seed unless FUZZ_SEED is given) to run
 * them for minutes. fast-check prints the seed and the shrunk path of any failure; rerun it with
 * `FUZZ_SEED=<seed> FUZZ_PATH=<path>`.
 */
export interface FuzzSettings {
  /** Runs of one property: FUZZ_RUNS, or the spec's bounded default. */
  readonly runs: number;
  readonly seed: number;
  /** Requests in one run: more when running long. */
  readonly maxRequests: number;
  /** True under `npm run fuzz`: the specs' own timeout is lifted. */
  readonly long: boolean;
}

const DEFAULT_SEED = 20261207;

const envNumber = (name: string): number | undefined => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be an integer (got ${raw})`);
  return n;
};

export function fuzzSettings(defaultRuns: number): FuzzSettings {
  const runs = envNumber('FUZZ_RUNS');
  const long = runs !== undefined;
  return {
    runs: runs ?? defaultRuns,
    seed: envNumber('FUZZ_SEED') ?? (long ? Date.now() % 2 ** 31 : DEFAULT_SEED),
    maxRequests: long ? 40 : 12,
    long,
  };
}

/** fast-check's parameters for one property under these settings (seed and path reported on failure). */
export function propertyParameters<T>(settings: FuzzSettings): fc.Parameters<T> {
  const path = process.env.FUZZ_PATH;
  return {
    numRuns: settings.runs,
    seed: settings.seed,
    ...(path === undefined || path === '' ? {} : { path }),
  };
}
