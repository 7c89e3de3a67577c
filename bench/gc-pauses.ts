import { createInterface } from 'node:readline';

/**
 * Sums the young-generation pauses (scavenges) in `--trace-gc-nvp` output read from stdin, per
 * `--tasks=N` tasks the traced process handled, e.g. for the e2e server:
 *   E2E_SERVER_NODE_ARGS=--trace-gc-nvp node dist/bench/e2e.bench.js --only=dispatch … \
 *     | node dist/bench/gc-pauses.js --tasks=65000
 * Prints the scavenges' count, total and largest pause, the bytes they copied (semi_space_copied
 * and promoted), and the pause time per 10,000 tasks.
 */
const tasks = Number(process.argv.find((a) => a.startsWith('--tasks='))?.slice(8) ?? Number.NaN);
const field = (line: string, name: string): number => {
  const hit = new RegExp(`\\b${name}=([0-9.]+)`).exec(line);
  return hit === null ? 0 : Number(hit[1]);
};

let count = 0;
let pauseMs = 0;
let maxMs = 0;
let copied = 0;
let promoted = 0;
for await (const line of createInterface({ input: process.stdin })) {
  if (!/\bgc=s\b/.test(line)) continue;
  const pause = field(line, 'pause');
  count++;
  pauseMs += pause;
  maxMs = Math.max(maxMs, pause);
  copied += field(line, 'semi_space_copied');
  promoted += field(line, 'promoted');
}
const mb = (bytes: number): string => (bytes / 1e6).toFixed(1);
console.log(
  `scavenges ${count}, pause total ${pauseMs.toFixed(1)} ms, max ${maxMs.toFixed(1)} ms, ` +
    `mean ${(pauseMs / Math.max(count, 1)).toFixed(2)} ms; copied ${mb(copied)} MB, promoted ${mb(promoted)} MB` +
    (Number.isFinite(tasks)
      ? `; per 10,000 tasks: ${((pauseMs * 10_000) / tasks).toFixed(1)} ms pause, ` +
        `${mb((copied * 10_000) / tasks)} MB copied, ${mb((promoted * 10_000) / tasks)} MB promoted`
      : ''),
);
