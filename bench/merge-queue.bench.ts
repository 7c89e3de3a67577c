import { loadavg } from 'node:os';
import { machineLine, runsArg } from './bench-machine.js';
import { measureMergeQueue } from './merge-queue-throughput.js';

/** `npm run bench:merge-queue`: the merge-queue part of bench:workspaces alone (docs/benchmarks.md, "Merge queue"). */
const loadBefore = loadavg()[0] ?? 0;
const { lines } = await measureMergeQueue(runsArg(3));
process.stdout.write([...lines, machineLine(loadBefore), ''].join('\n'));
