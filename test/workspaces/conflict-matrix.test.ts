import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { commitOnto, fastImport } from '../../bench/workspaces-repo.js';
import { BatonError } from '../../src/core/errors.js';
import { type ConflictMatrix, createConflictMatrix } from '../../src/server/workspaces/conflict-matrix.js';
import { createGit, type Git } from '../../src/server/workspaces/git.js';

const BASE = new Map([
  ['a', 'one\ntwo\nthree\n'],
  ['b', 'four\nfive\nsix\n'],
  ['c/d', 'seven\neight\n'],
  ['c/e', 'nine\nten\n'],
  ['f', 'eleven\n'],
]);

describe('ConflictMatrix', () => {
  let dir: string;
  let git: Git;
  let base: string;
  let matrix: ConflictMatrix;
  /** A commit on top of the base (or `parent`) changing `edits`. */
  const edit = (edits: Record<string, string | null>, parent = base): Promise<string> =>
    commitOnto(git, parent, new Map(Object.entries(edits)));
  const merges = (): number => matrix.gitRuns()['merge-tree'] ?? 0;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'baton-matrix-'));
    git = createGit(dir);
    await git.run(['init', '-q', '-b', 'main']);
    [base] = (await fastImport(git, [{ parents: [], tree: BASE, ref: 'refs/heads/main' }])) as [string];
    matrix = createConflictMatrix({ git, target: 'main' });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('finds two branches that edit different files clean, with each other and the target', async () => {
    matrix.setHead('w1', await edit({ a: 'one\nTWO\nthree\n' }));
    matrix.setHead('w2', await edit({ b: 'four\nFIVE\nsix\n' }));
    const { changes, failures } = await matrix.refresh();
    expect(changes).to.deep.equal([]);
    expect(failures).to.deep.equal([]);
    expect(matrix.targetHead()).to.equal(base);
    expect(matrix.pairs().map((p) => `${p.a}|${p.b}|${p.status}`)).to.deep.equal([
      'w1|main|clean',
      'w1|w2|clean',
      'w2|main|clean',
    ]);
    expect(merges()).to.equal(0);
  });

  it('reports a conflicting pair with the paths git names, to both branches', async () => {
    matrix.setHead('w1', await edit({ a: 'one\nTWO\nthree\n', b: 'four\nfive\nSIX\n' }));
    matrix.setHead('w2', await edit({ a: 'one\n2\nthree\n', b: 'four\nfive\n6\n', f: 'twelve\n' }));
    const { changes } = await matrix.refresh();
    expect(changes).to.deep.equal([{ kind: 'conflict', a: 'w1', b: 'w2', paths: ['a', 'b'] }]);
    expect(matrix.conflicts()).to.deep.equal([{ a: 'w1', b: 'w2', status: 'conflict', paths: ['a', 'b'] }]);
    expect(matrix.conflictsOf('w2')).to.deep.equal(matrix.conflictsOf('w1'));
    expect(matrix.conflictsOf('w1')).to.have.length(1);
  });

  it('finds a file where the other branch has a directory, and a modify/delete', async () => {
    matrix.setHead('file', await edit({ n: 'a file\n', 'c/d': null }));
    matrix.setHead('dir', await edit({ 'n/x': 'a file in a directory\n', 'c/d': 'seven\n8\n' }));
    const { changes } = await matrix.refresh();
    expect(changes).to.deep.equal([{ kind: 'conflict', a: 'dir', b: 'file', paths: ['c/d', 'n'] }]);
  });

  it('finds a branch in conflict with the target when the target moves, and clears it when the target takes the branch', async () => {
    const w1 = await edit({ a: 'one\nTWO\nthree\n' });
    matrix.setHead('w1', w1);
    await matrix.refresh();
    const landedOther = await edit({ a: 'one\nzwei\nthree\n' });
    matrix.setTarget(landedOther);
    expect((await matrix.refresh()).changes).to.deep.equal([
      { kind: 'conflict', a: 'w1', b: 'main', paths: ['a'] },
    ]);
    // The branch is reworked on top of the new target: nothing left to fight over.
    matrix.setHead('w1', await edit({ a: 'one\nTWO\nthree\n' }, landedOther));
    expect((await matrix.refresh()).changes).to.deep.equal([
      { kind: 'conflict-cleared', a: 'w1', b: 'main', paths: ['a'] },
    ]);
    matrix.setTarget(matrix.heads().get('w1') as string);
    expect((await matrix.refresh()).changes).to.deep.equal([]);
    expect(matrix.conflicts()).to.deep.equal([]);
  });

  it('clears a conflict when one branch takes back its edit, and when a branch is removed', async () => {
    const w1 = await edit({ a: 'one\nTWO\nthree\n' });
    matrix.setHead('w1', w1);
    matrix.setHead('w2', await edit({ a: 'one\n2\nthree\n' }));
    matrix.setHead('w3', await edit({ a: 'one\nII\nthree\n' }));
    expect((await matrix.refresh()).changes.map((c) => `${c.kind} ${c.a} ${c.b}`)).to.deep.equal([
      'conflict w1 w2',
      'conflict w1 w3',
      'conflict w2 w3',
    ]);
    matrix.setHead('w1', await edit({ a: 'one\ntwo\nthree\n' }, w1));
    expect((await matrix.refresh()).changes).to.deep.equal([
      { kind: 'conflict-cleared', a: 'w1', b: 'w2', paths: ['a'] },
      { kind: 'conflict-cleared', a: 'w1', b: 'w3', paths: ['a'] },
    ]);
    matrix.remove('w3');
    expect((await matrix.refresh()).changes).to.deep.equal([
      { kind: 'conflict-cleared', a: 'w2', b: 'w3', paths: ['a'] },
    ]);
    expect([...matrix.heads().keys()]).to.deep.equal(['w1', 'w2']);
    expect(matrix.pairs()).to.have.length(3);
  });

  it('recomputes only the moved branch: at most N merges among N branches, fewer with the prefilter', async () => {
    const n = 6;
    const heads: string[] = [];
    for (let i = 0; i < n; i++)
      heads.push(await edit({ [`g/${i}`]: `branch ${i}\n`, ...(i < 2 ? { a: `${i}\n` } : {}) }));
    const brute = createConflictMatrix({ git, target: 'main', prefilter: false });
    for (const m of [matrix, brute]) {
      heads.forEach((head, i) => {
        m.setHead(`w${i}`, head);
      });
      await m.refresh();
    }
    const before = [merges(), brute.gitRuns()['merge-tree'] ?? 0];
    const moved = await edit({ a: 'zero\n', b: 'moved\n' }, heads[0]);
    for (const m of [matrix, brute]) m.setHead('w0', moved);
    const [filtered, all] = await Promise.all([matrix.refresh(), brute.refresh()]);
    expect(filtered.changes).to.deep.equal(all.changes);
    expect(matrix.pairs()).to.deep.equal(brute.pairs());
    expect((brute.gitRuns()['merge-tree'] ?? 0) - (before[1] as number)).to.equal(n);
    // Only w1 also touches `a`; nobody else touches `a` or `b`, and the target did not move.
    expect(merges() - (before[0] as number)).to.equal(1);
    expect(matrix.gitRuns()['rev-list']).to.equal(n + 1);
  });

  it("reuses a pair's outcome after a move that only rewrote files neither side had touched", async () => {
    const w1 = await edit({ a: 'one\nTWO\nthree\n' });
    matrix.setHead('w1', w1);
    matrix.setHead('w2', await edit({ a: 'one\n2\nthree\n' }));
    await matrix.refresh();
    const before = merges();
    matrix.setHead('w1', await edit({ b: 'four\nFIVE\nsix\n' }, w1));
    expect((await matrix.refresh()).changes).to.deep.equal([]);
    expect(merges() - before).to.equal(0);
    expect(matrix.conflicts()).to.deep.equal([{ a: 'w1', b: 'w2', status: 'conflict', paths: ['a'] }]);
  });

  it('merges again after a move that rewrote a file the branch had added: git may no longer see the rename', async () => {
    // w1 renames a to a2 (and edits it); w2 edits a, so the rename carries w2's edit into a2.
    const w1 = await edit({ a: null, a2: 'ONE\ntwo\nthree\n' });
    matrix.setHead('w1', w1);
    matrix.setHead('w2', await edit({ a: 'uno\ntwo\nthree\n' }));
    expect((await matrix.refresh()).changes).to.deep.equal([
      { kind: 'conflict', a: 'w1', b: 'w2', paths: ['a2'] },
    ]);
    // a2 no longer looks like a: a deletion (of a file w2 edited) and an unrelated addition.
    matrix.setHead('w1', await edit({ a2: 'something\nelse\nentirely\n' }, w1));
    expect((await matrix.refresh()).changes).to.deep.equal([
      { kind: 'conflict', a: 'w1', b: 'w2', paths: ['a'] },
    ]);
  });

  it('merges again after a move that added a file: git may see a rename', async () => {
    const w1 = await edit({ a: null });
    matrix.setHead('w1', w1);
    matrix.setHead('w2', await edit({ a: 'uno\ntwo\nthree\n' }));
    expect((await matrix.refresh()).changes).to.deep.equal([
      { kind: 'conflict', a: 'w1', b: 'w2', paths: ['a'] },
    ]);
    // a2 is a copy of a: git now reads w1 as renaming a to a2, and w2's edit follows it.
    matrix.setHead('w1', await edit({ a2: 'one\ntwo\nthree\n' }, w1));
    expect((await matrix.refresh()).changes).to.deep.equal([
      { kind: 'conflict-cleared', a: 'w1', b: 'w2', paths: ['a'] },
    ]);
  });

  it('refuses a head that is not an object id or a branch named like the target, and changes nothing', async () => {
    expect(() => matrix.setHead('w1', 'main')).to.throw(BatonError, /head of w1 must be a full object id/);
    expect(() => matrix.setHead('main', base)).to.throw(BatonError, /branch main is the target/);
    expect(() => matrix.setHead('', base)).to.throw(BatonError, /non-empty/);
    matrix.setHead('w1', 'f'.repeat(40));
    const { changes, failures } = await matrix.refresh();
    expect(changes).to.deep.equal([]);
    expect(failures.map((f) => f.branches)).to.deep.equal([['w1']]);
    expect(failures[0]?.error.message).to.contain('rev-list');
    expect(matrix.heads().size).to.equal(0);
  });

  it('keeps the last head of a branch whose new head cannot be read', async () => {
    const w1 = await edit({ a: 'one\nTWO\nthree\n' });
    matrix.setHead('w1', w1);
    await matrix.refresh();
    matrix.setHead('w1', 'e'.repeat(40));
    matrix.setTarget('d'.repeat(40));
    const { failures } = await matrix.refresh();
    expect(failures.map((f) => f.branches).sort()).to.deep.equal([['main'], ['w1']]);
    expect(matrix.heads().get('w1')).to.equal(w1);
    expect(matrix.targetHead()).to.equal(base);
  });
});
