import { loadavg } from 'node:os';
import { machineLine, runsArg } from './bench-machine.js';
import { measureConflictMatrix } from './conflict-matrix-update.js';
import { measureMergeQueue } from './merge-queue-throughput.js';

/**
 * `npm run bench:workspaces` (docs/benchmarks.md, "Workspaces"): the conflict matrix (cold, and
 * the refresh after one branch moves, against its ≤ 50 ms target) and the merge queue's
 * landings/s with a no-op check, one entry per check and in batches of 8. `--runs=N` sets the
 * cold matrices and the queue runs (default 3); `--moves=N` the one-branch moves (default 21).
 */
const loadBefore = loadavg()[0] ?? 0;
const runs = runsArg(3);
const moves = Number(process.argv.find((a) => a.startsWith('--moves='))?.slice(8) ?? 21);
const matrix = await measureConflictMatrix(runs, moves);
process.stdout.write([...matrix.lines, ''].join('\n'));
const queue = await measureMergeQueue(runs);
process.stdout.write([...queue.lines, machineLine(loadBefore), ''].join('\n'));
