import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import fc from 'fast-check';
import { commitOnto, fastImport } from '../../bench/workspaces-repo.js';
import { createConflictMatrix } from '../../src/server/workspaces/conflict-matrix.js';
import { createGit, type Git } from '../../src/server/workspaces/git.js';

/**
 * The conflict matrix against brute force: after every step of a random edit script over three
 * branches and the target (commits that edit, delete, rename and nest paths; the target landing a
 * branch; a branch merging the target in; a branch reset onto the target), the matrix's pairs are
 * exactly what `git merge-tree --write-tree` says of every pair and of each branch against the
 * target, and the conflict events it emitted add up to its conflicts.
 */
const BRANCHES = ['w0', 'w1', 'w2'];
const LINES = '1\n2\n3\n4\n5\n';
const BASE = new Map(['a', 'b', 'c/d', 'c/e'].map((path) => [path, LINES]));
// Paths of the base, new ones, and ones that nest under or over others (file/directory clashes).
// Few, so that branches meet often.
const PATHS = ['a', 'b', 'c/d', 'a2', 'n', 'n/x'];
// Variants of the base content (edits of different lines merge cleanly, of the same line
// conflict), and one unlike the rest, which makes and breaks renames.
const CONTENTS = [
  LINES,
  'one\n2\n3\n4\n5\n',
  'ONE\n2\n3\n4\n5\n',
  '1\n2\n3\n4\nfive\n',
  '1\n2\nthree\n4\n5\n',
  'unlike\nthe\nothers\n',
];
/** The merge configuration the matrix documents (conflict-git.ts, MATRIX_MERGE_CONFIG). */
const MERGE_CONFIG = ['-c', 'merge.directoryRenames=false'];

type Step =
  | { kind: 'commit'; who: number; edits: [string, string | null][] }
  | { kind: 'land' | 'sync' | 'reset'; who: number };

const content = fc.constantFrom(...CONTENTS);
const path = fc.constantFrom(...PATHS);
// Every content is similar to every other, so a deletion and an addition on one side are a
// rename to git: renames are as common as edits.
const edits = fc.oneof(
  fc.tuple(path, fc.option(content, { freq: 4 })).map((e): [string, string | null][] => [e]),
  fc.tuple(path, path, content).map(([from, to, c]): [string, string | null][] => [
    [from, null],
    [to, c],
  ]),
);
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('commit' as const),
      who: fc.nat(BRANCHES.length),
      edits: fc.array(edits, { minLength: 1, maxLength: 2 }).map((e) => e.flat()),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constantFrom('land' as const, 'sync' as const, 'reset' as const),
      who: fc.nat(BRANCHES.length - 1),
    }),
  },
);

/** What `git merge-tree` says of two commits, read without the matrix's code. */
async function bruteForce(git: Git, a: string, b: string): Promise<string[] | 'clean'> {
  const r = await git.run(
    [...MERGE_CONFIG, 'merge-tree', '--write-tree', '--name-only', '--no-messages', '-z', a, b],
    {
      okCodes: [1],
    },
  );
  if (r.exitCode === 0) return 'clean';
  const names = r.stdout
    .split('\0')
    .filter((s) => s !== '')
    .slice(1);
  // A file moved aside by a file/directory clash is named `path~<commit>`: the path is what clashed.
  return [...new Set(names.map((name) => name.replace(new RegExp(`~(${a}|${b})$`), '')))].sort();
}

/** A two-parent merge of `theirs` into `ours` when git merges them cleanly; undefined otherwise. */
async function mergeCommit(git: Git, ours: string, theirs: string): Promise<string | undefined> {
  const r = await git.run([...MERGE_CONFIG, 'merge-tree', '--write-tree', ours, theirs], { okCodes: [1] });
  if (r.exitCode !== 0) return undefined;
  const tree = r.stdout.split('\n')[0] as string;
  return git.line([
    '-c',
    'user.name=t',
    '-c',
    'user.email=t@t',
    'commit-tree',
    tree,
    '-p',
    ours,
    '-p',
    theirs,
    '-m',
    'merge',
  ]);
}

describe('ConflictMatrix against brute-force merge-tree', () => {
  it('matches git merge-tree on every pair and each branch against the target after random edit scripts', async function () {
    this.timeout(60_000);
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 6 }), async (steps) => {
        const dir = mkdtempSync(join(tmpdir(), 'baton-matrix-prop-'));
        try {
          const git = createGit(dir);
          await git.run(['init', '-q', '-b', 'main']);
          const [base] = (await fastImport(git, [{ parents: [], tree: BASE, ref: 'refs/heads/main' }])) as [
            string,
          ];
          const matrix = createConflictMatrix({ git, target: 'main' });
          const heads = new Map(BRANCHES.map((b) => [b, base]));
          let target = base;
          for (const b of BRANCHES) matrix.setHead(b, base);
          const events = new Map<string, readonly string[]>();

          for (const s of steps) {
            const branch = BRANCHES[s.who];
            const at = branch === undefined ? target : (heads.get(branch) as string);
            if (s.kind === 'commit') {
              const next = await commitOnto(git, at, new Map(s.edits));
              if (branch === undefined) target = next;
              else heads.set(branch, next);
            } else if (s.kind === 'reset') heads.set(branch as string, target);
            else if (s.kind === 'sync')
              heads.set(branch as string, (await mergeCommit(git, at, target)) ?? at);
            else target = (await mergeCommit(git, target, at)) ?? target;
            for (const [b, head] of heads) matrix.setHead(b, head);
            matrix.setTarget(target);

            const { changes, failures } = await matrix.refresh();
            expect(failures.map((f) => f.error.message)).to.deep.equal([]);
            for (const c of changes) {
              if (c.kind === 'conflict') events.set(`${c.a} ${c.b}`, c.paths);
              else events.delete(`${c.a} ${c.b}`);
            }
            const expected: { a: string; b: string; status: string; paths: readonly string[] }[] = [];
            for (const [i, a] of BRANCHES.entries()) {
              for (const b of [...BRANCHES.slice(i + 1), 'main']) {
                const outcome = await bruteForce(
                  git,
                  heads.get(a) as string,
                  b === 'main' ? target : (heads.get(b) as string),
                );
                expected.push({
                  a,
                  b,
                  status: outcome === 'clean' ? 'clean' : 'conflict',
                  paths: outcome === 'clean' ? [] : outcome,
                });
              }
            }
            const byPair = (x: { a: string; b: string }, y: { a: string; b: string }) =>
              `${x.a} ${x.b}` < `${y.a} ${y.b}` ? -1 : 1;
            expect(matrix.pairs()).to.deep.equal(expected.sort(byPair));
            const conflicts = new Map(matrix.conflicts().map((p) => [`${p.a} ${p.b}`, p.paths]));
            expect(events, 'the events add up to the conflicts').to.deep.equal(conflicts);
          }
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 10 },
    );
  });
});
