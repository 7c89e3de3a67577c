import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { fmt } from './stats.js';

/**
 * The line a git benchmark prints about where it ran: the git version (its merge-tree and
 * checkout dominate the figures), Node, the cores, and the load before and after (the machine is
 * shared, so a figure is read with the load it was taken under).
 */
export function machineLine(loadBefore: number): string {
  const gitVersion = execFileSync('git', ['--version'], { encoding: 'utf8' }).trim();
  const model = cpus()[0]?.model ?? 'unknown CPU';
  return `${gitVersion}; Node ${process.versions.node}, ${availableParallelism()} × ${model}; load ${fmt(loadBefore, 2)} before, ${fmt(loadavg()[0] ?? 0, 2)} after`;
}

/** `--runs=N` from the command line, or `fallback`. */
export function runsArg(fallback: number): number {
  return Number(process.argv.find((a) => a.startsWith('--runs='))?.slice(7) ?? fallback);
}
