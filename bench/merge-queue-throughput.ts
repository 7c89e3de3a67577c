import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoreRecord } from '../src/core/store.js';
import { createGit } from '../src/server/workspaces/git.js';
import type { MergeRecords } from '../src/server/workspaces/merge-ledger.js';
import { openMergeQueue } from '../src/server/workspaces/merge-queue.js';
import { fmt, median } from './stats.js';
import { fastImport, generateWorkspaceRepo } from './workspaces-repo.js';

/**
 * Merge-queue throughput (docs/benchmarks.md, "Merge queue"): landings per second with a no-op
 * check, one entry per check against batches of 8, in a generated repository of 10,000 files with
 * 32 worker branches editing 20 files each (disjoint, so every entry lands). The queue is held on
 * a warm-up entry until all 32 are queued, so a run measures the queue, not the enqueues.
 */
const ENTRIES = 32;
const EDITS = 20;

const records = (): MergeRecords => {
  const all = new Map<string, StoreRecord>();
  return {
    restored: () => [],
    put: (kind, id, body) => all.set(`${kind}/${id}`, { kind, id, body }),
    remove: (kind, id) => all.delete(`${kind}/${id}`),
  };
};

async function setUp(dir: string) {
  const git = createGit(dir);
  const repo = await generateWorkspaceRepo(git, { files: 10_000, branches: 0 });
  const name = (i: number) => `baton/q${String(i).padStart(2, '0')}`;
  // Entry i edits files i, i + 33, i + 66...: no two branches touch one file.
  const specs = Array.from({ length: ENTRIES + 1 }, (_, i) => ({
    parents: [repo.base],
    edits: new Map(
      Array.from({ length: EDITS }, (_, k) => [
        repo.files[i + k * (ENTRIES + 1)] as string,
        `edited by ${name(i)}\n`,
      ]),
    ),
    ref: `refs/heads/${name(i)}`,
  }));
  await fastImport(git, specs);
  return { git, base: repo.base, name, files: repo.files };
}

/** One run: main back at the base, a fresh queue, 32 entries queued behind the warm-up, timed to the last landing. */
async function run(dir: string, setup: Awaited<ReturnType<typeof setUp>>, maxBatch: number) {
  const { git, base, name, files } = setup;
  await git.run(['update-ref', 'refs/heads/main', base]);
  const gate = join(dir, '.git', 'bench-gate');
  const waiting = join(dir, '.git', 'bench-waiting');
  rmSync(gate, { force: true });
  rmSync(waiting, { force: true });
  // `true` for every entry; the warm-up entry's check (the only tree without entry 1's edit)
  // says it is waiting and waits at the gate. It makes the scratch worktree (a 10,000-file
  // checkout), which a server does once per start: not part of the figure.
  const check = `if ! grep -q edited ${files[1]}; then touch ${waiting}; while [ ! -f ${gate} ]; do sleep 0.005; done; fi; true`;
  const queue = await openMergeQueue({ repo: dir, check, records: records(), now: Date.now, maxBatch });
  try {
    await queue.enqueue({ branch: name(0), by: 'bench' });
    while (!existsSync(waiting)) await new Promise((r) => setTimeout(r, 5));
    for (let i = 1; i <= ENTRIES; i++) await queue.enqueue({ branch: name(i), by: 'bench' });
    const started = performance.now();
    writeFileSync(gate, '');
    await queue.idle();
    const ms = performance.now() - started;
    const landed = queue.list().filter((e) => e.state === 'landed').length - 1;
    if (landed !== ENTRIES) throw new Error(`only ${landed} of ${ENTRIES} entries landed`);
    return { ms, perSecond: (ENTRIES * 1000) / ms };
  } finally {
    await queue.close();
    if (existsSync(queue.scratchPath)) rmSync(queue.scratchPath, { recursive: true, force: true });
  }
}

export interface MergeQueueFigures {
  /** Landings per second (medians): one entry per check, and batches of 8. */
  readonly single: number;
  readonly batched: number;
  /** The lines to print. */
  readonly lines: readonly string[];
}

/** Runs both settings `runs` times each, alternating, in a fresh generated repository. */
export async function measureMergeQueue(runs: number): Promise<MergeQueueFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-bench-mq-'));
  try {
    const setup = await setUp(dir);
    const results: Record<'single' | 'batched', number[]> = { single: [], batched: [] };
    for (let r = 0; r < runs; r++) {
      results.single.push((await run(dir, setup, 1)).perSecond);
      results.batched.push((await run(dir, setup, 8)).perSecond);
    }
    const single = median(results.single);
    const batched = median(results.batched);
    return {
      single,
      batched,
      lines: [
        `merge queue: ${ENTRIES} entries (${EDITS} files each) onto a 10,000-file repo, check \`true\`, ${runs} runs`,
        `one entry per check: ${fmt(single, 1)} landings/s (median; runs ${results.single.map((x) => fmt(x, 1)).join(', ')})`,
        `batches of 8:        ${fmt(batched, 1)} landings/s (median; runs ${results.batched.map((x) => fmt(x, 1)).join(', ')})`,
        `batching ratio: ${fmt(batched / single, 2)}x`,
      ],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
