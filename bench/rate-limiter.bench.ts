import { pathToFileURL } from 'node:url';
import { createRateLimiter } from '../src/core/rate-limiter.js';

/** What the hot path is judged by: tryAcquire decisions per second. */
export const TARGET_DECISIONS_PER_SECOND = 2_000_000;

export interface RateLimiterBenchResult {
  /** Median over the runs. */
  readonly decisionsPerSecond: number;
  readonly runs: readonly number[];
  /** Share of decisions that were grants (the rest were denials). */
  readonly grantRatio: number;
  readonly targetRatio: number;
}

export interface RateLimiterBenchOptions {
  readonly runMs?: number;
  readonly repeats?: number;
}

const WORKERS = ['w-0', 'w-1', 'w-2', 'w-3', 'w-4', 'w-5', 'w-6', 'w-7'];
const SIZES = [0, 10, 50, 100, 150, 200, 20, 70];

/**
 * Eight workers asking for 0–200 tokens while a simulated clock advances 1 ms every 8 calls: the
 * buckets (4 requests and 400 tokens per ms) then grant about half the calls, so both the grant
 * path (reservation, expiry queue) and the denial path (exact wait) are measured. Simulated time
 * keeps the mix independent of how fast the machine is.
 */
export function benchRateLimiter(options: RateLimiterBenchOptions = {}): RateLimiterBenchResult {
  const runMs = options.runMs ?? 1000;
  const repeats = options.repeats ?? 5;
  let t = 0;
  const limiter = createRateLimiter({
    maxRequestsPerMinute: 240_000,
    maxTokensPerMinute: 24_000_000,
    reservationTtlMs: 1000,
    now: () => t,
  });
  let granted = 0;
  let decided = 0;

  const loop = (ms: number): number => {
    let calls = 0;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < ms) {
      for (let i = 0; i < 4096; i++) {
        const n = calls + i;
        if ((n & 7) === 0) t++;
        if (limiter.tryAcquire(WORKERS[n & 7] as string, SIZES[(n >> 3) & 7] as number).granted) granted++;
      }
      calls += 4096;
      elapsed = performance.now() - start;
    }
    decided += calls;
    return (calls / elapsed) * 1000;
  };

  loop(Math.min(300, runMs));
  granted = 0;
  decided = 0;
  const runs: number[] = [];
  for (let r = 0; r < repeats; r++) runs.push(loop(runMs));
  const sorted = [...runs].sort((a, b) => a - b);
  const decisionsPerSecond = sorted[Math.floor(sorted.length / 2)] as number;
  return {
    decisionsPerSecond,
    runs,
    grantRatio: granted / decided,
    targetRatio: decisionsPerSecond / TARGET_DECISIONS_PER_SECOND,
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = benchRateLimiter();
  const format = (n: number): string => Math.round(n).toLocaleString('en-US');
  console.log(
    `rate limiter tryAcquire: ${format(result.decisionsPerSecond)} decisions/s (median of ${result.runs.length}, ` +
      `${Math.round(result.grantRatio * 100)}% grants) = ${result.targetRatio.toFixed(2)}x the ` +
      `${format(TARGET_DECISIONS_PER_SECOND)}/s target`,
  );
  console.log(`runs: ${result.runs.map(format).join(', ')}`);
}
