import { createInterface } from 'node:readline';

/**
 * Sums the young-generation pauses (scavenges) in `--trace-gc-nvp` output read from stdin, per
 * `--tasks=N` tasks the traced process handled, e.g. for the e2e server:
 *   E2E_SERVER_NODE_ARGS=--trace-gc-nvp node dist/bench/e2e.bench.js --only=dispatch … \
 *     | node dist/bench/gc-pauses.js --tasks=65000
 * Prints the scavenges' count, total, median and largest pause, the bytes that survived them
 * (new_space_survived: copied within the young generation) and were promoted, and the pause time
 * per 10,000 tasks. On a shared machine the largest pauses include time the process was not
 * running: the median is the steadier figure.
 */
const tasks = Number(process.argv.find((a) => a.startsWith('--tasks='))?.slice(8) ?? Number.NaN);
const field = (line: string, name: string): number => {
  const hit = new RegExp(`\\b${name}=([0-9.]+)`).exec(line);
  return hit === null ? 0 : Number(hit[1]);
};

const pauses: number[] = [];
let copied = 0;
let promoted = 0;
for await (const line of createInterface({ input: process.stdin })) {
  if (!/\bgc=s\b/.test(line)) continue;
  pauses.push(field(line, 'pause'));
  copied += field(line, 'new_space_survived');
  promoted += field(line, 'promoted');
}
const mb = (bytes: number): string => (bytes / 1e6).toFixed(1);
pauses.sort((a, b) => a - b);
const pauseMs = pauses.reduce((a, b) => a + b, 0);
console.log(
  `scavenges ${pauses.length}, pause total ${pauseMs.toFixed(1)} ms, ` +
    `median ${(pauses[pauses.length >> 1] ?? 0).toFixed(2)} ms, max ${(pauses.at(-1) ?? 0).toFixed(1)} ms; ` +
    `survived ${mb(copied)} MB, promoted ${mb(promoted)} MB` +
    (Number.isFinite(tasks)
      ? `; per 10,000 tasks: ${((pauseMs * 10_000) / tasks).toFixed(1)} ms pause, ` +
        `${mb((copied * 10_000) / tasks)} MB survived, ${mb((promoted * 10_000) / tasks)} MB promoted`
      : ''),
);
