import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { BatonError } from '../../src/core/errors.js';
import {
  type MergeQueue,
  type MergeQueueEvent,
  type MergeQueueOptions,
  openMergeQueue,
} from '../../src/server/workspaces/merge-queue.js';
import { createTempRepo, memoryRecords, type TempRepo } from './temp-repo.js';

const waitUntil = async (what: string, probe: () => boolean, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('MergeQueue', () => {
  let repo: TempRepo;
  let records: ReturnType<typeof memoryRecords>;
  let events: MergeQueueEvent[];
  const open: MergeQueue[] = [];
  const queue = async (options: Partial<MergeQueueOptions> = {}): Promise<MergeQueue> => {
    const q = await openMergeQueue({
      repo: repo.path,
      check: 'true',
      records,
      now: Date.now,
      onEvent: (e) => events.push(e),
      ...options,
    });
    open.push(q);
    return q;
  };
  /** A branch off main's root adding one file. */
  const branchWith = async (name: string, files: Record<string, string | null>): Promise<string> => {
    const head = await repo.commit(repo.root, files, `${name} work`);
    await repo.branch(name, head);
    return head;
  };

  beforeEach(async () => {
    repo = await createTempRepo();
    records = memoryRecords();
    events = [];
  });
  afterEach(async () => {
    for (const q of open.splice(0)) await q.close();
    repo.remove();
  });

  it('lands a passing entry with one compare-and-swap, leaving the operator checkout alone', async () => {
    const q = await queue({ check: 'echo checking; test -f a.txt' });
    const head = await branchWith('baton/a', { 'a.txt': 'a\n' });
    const entry = await q.enqueue({ branch: 'baton/a', by: 'agent-a' });
    expect(entry).to.include({ id: '1', branch: 'baton/a', head, state: 'queued', by: 'agent-a' });
    await q.idle();

    const landed = q.get(entry.id);
    const main = await repo.head('main');
    expect(landed).to.include({ state: 'landed', landedAs: main });
    expect(await repo.git.line(['rev-parse', `${main}^1`, `${main}^2`])).to.equal(`${repo.root}\n${head}`);
    expect(q.output(entry.id)).to.include({ outcome: 'pass', commit: main, output: 'checking\n' });
    expect(events.map((e) => e.type)).to.deep.equal(['merge-queued', 'merged']);
    expect((await repo.git.run(['status', '--porcelain'])).stdout).to.equal('');
    expect(await repo.head('operator')).to.equal(repo.root);
    expect(records.restored('merge-entry').map((r) => (r.body as { state: string }).state)).to.deep.equal([
      'landed',
    ]);
  });

  it('rejects an entry whose check fails, with the exit code and the output tail, landing nothing', async () => {
    const q = await queue({ check: 'if [ -f bad.txt ]; then echo "bad.txt is here"; exit 7; fi' });
    await branchWith('baton/bad', { 'bad.txt': 'x' });
    const { id } = await q.enqueue({ branch: 'baton/bad', by: 'agent-b' });
    await q.idle();

    const rejected = q.get(id);
    expect(rejected?.state).to.equal('rejected');
    expect(rejected?.rejection).to.include({ reason: 'check-failed', exitCode: 7 });
    expect(rejected?.rejection?.message)
      .to.match(/exit code 7/)
      .and.to.contain('bad.txt is here');
    expect(q.output(id)?.output).to.equal('bad.txt is here\n');
    expect(await repo.head('main')).to.equal(repo.root);
    expect(events.map((e) => e.type)).to.deep.equal(['merge-queued', 'merge-rejected']);
  });

  it('rejects an entry that conflicts with the target, naming the paths, without running the check', async () => {
    const q = await queue({ check: 'echo ran >> ../check-ran' });
    const moved = await repo.commit(repo.root, { README: 'main says\n' });
    await repo.branch('main', moved);
    await branchWith('baton/c', { README: 'branch says\n', 'c.txt': 'c' });
    const { id } = await q.enqueue({ branch: 'baton/c', by: 'agent-c' });
    await q.idle();

    expect(q.get(id)?.rejection).to.deep.include({ reason: 'conflict', paths: ['README'] });
    expect(q.get(id)?.rejection?.message).to.contain('conflicts with main').and.to.contain('README');
    expect(await repo.head('main')).to.equal(moved);
    expect(q.output(id)).to.equal(undefined);
  });

  it('bisects a failing batch of 8 to its one culprit, lands the other 7, and does so deterministically', async () => {
    const log = join(repo.path, '.git', 'checks.log');
    const gate = join(repo.path, '.git', 'gate');
    // The check logs what the merged tree holds (what was checked together); the first entry's
    // check waits at a gate so that the next 8 queue up behind it and form one batch.
    const check = [
      `echo $(ls *.txt) >> ${log}`,
      `if [ -f hold.txt ]; then while [ ! -f ${gate} ]; do sleep 0.01; done; fi`,
      'test ! -f e5.txt',
    ].join('; ');
    const q = await queue({ check, maxBatch: 8 });
    const hold = await branchWith('baton/hold', { 'hold.txt': 'h' });
    await q.enqueue({ branch: 'baton/hold', by: 'agent-0' });
    const heads: string[] = [];
    const ids: string[] = [];
    for (let i = 1; i <= 8; i++) {
      heads.push(await branchWith(`baton/e${i}`, { [`e${i}.txt`]: `${i}` }));
      ids.push((await q.enqueue({ branch: `baton/e${i}`, by: `agent-${i}` })).id);
    }
    writeFileSync(gate, '');
    await q.idle();

    expect(ids.map((id) => q.get(id)?.state)).to.deep.equal([
      ...['landed', 'landed', 'landed', 'landed'],
      ...['rejected', 'landed', 'landed', 'landed'],
    ]);
    expect(q.get(ids[4] as string)?.rejection?.reason).to.equal('check-failed');
    const e = (...n: number[]) => [...n.map((i) => `e${i}`), 'hold'].map((f) => `${f}.txt`).join(' ');
    expect(readFileSync(log, 'utf8').trim().split('\n')).to.deep.equal([
      'hold.txt',
      e(1, 2, 3, 4, 5, 6, 7, 8),
      e(1, 2, 3, 4),
      // e5..e8 are known to fail on top of e1..e4 (the batch did): split without checking them again.
      e(1, 2, 3, 4, 5, 6),
      e(1, 2, 3, 4, 5),
      e(1, 2, 3, 4, 6),
      e(1, 2, 3, 4, 6, 7, 8),
    ]);
    // main moved only by landings of checked merges: each first-parent step merges one entry.
    const steps = (await repo.firstParents('main')).slice(0, -1);
    const merged = await Promise.all(steps.map((c) => repo.git.line(['rev-parse', `${c}^2`])));
    expect(merged).to.deep.equal([8, 7, 6, 4, 3, 2, 1].map((i) => heads[i - 1]).concat(hold));
    expect(events.filter((x) => x.type === 'merged')).to.have.length(8);
  });

  it('retries an entry that conflicts only with an entry ahead of it in its batch, after that one landed', async () => {
    const gate = join(repo.path, '.git', 'gate');
    const check = `if [ -f hold.txt ] && [ ! -f x1.txt ]; then while [ ! -f ${gate} ]; do sleep 0.01; done; fi`;
    const q = await queue({ check, maxBatch: 8 });
    await branchWith('baton/hold', { 'hold.txt': 'h' });
    await q.enqueue({ branch: 'baton/hold', by: 'agent-0' });
    await branchWith('baton/x1', { 'x1.txt': '1', 'shared.txt': 'one\n' });
    await branchWith('baton/x2', { 'x2.txt': '2', 'shared.txt': 'two\n' });
    await branchWith('baton/x3', { 'x3.txt': '3' });
    const ids: string[] = [];
    for (const b of ['x1', 'x2', 'x3']) ids.push((await q.enqueue({ branch: `baton/${b}`, by: b })).id);
    writeFileSync(gate, '');
    await q.idle();

    expect(ids.map((id) => q.get(id)?.state)).to.deep.equal(['landed', 'rejected', 'landed']);
    const x2 = q.get(ids[1] as string);
    expect(x2?.rejection).to.deep.include({ reason: 'conflict', paths: ['shared.txt'] });
    expect(x2?.history.map((h) => h.state)).to.deep.equal([
      'queued',
      'checking',
      'queued',
      'checking',
      'rejected',
    ]);
    expect(x2?.history[2]?.note).to.match(/conflicts with entries 2 ahead of it in shared.txt/);
  });

  it('merges and checks again when the target moves during the check, landing on the new head', async () => {
    const marker = join(repo.path, '.git', 'moved');
    const elsewhere = await repo.commit(repo.root, { 'other.txt': 'pushed meanwhile' });
    // The first check moves main itself, as a push by someone else would.
    const check = `if [ ! -f ${marker} ]; then touch ${marker}; git -C ${repo.path} update-ref refs/heads/main ${elsewhere}; fi`;
    const q = await queue({ check });
    const head = await branchWith('baton/m', { 'm.txt': 'm' });
    const { id } = await q.enqueue({ branch: 'baton/m', by: 'agent-m' });
    await q.idle();

    const main = await repo.head('main');
    expect(q.get(id)).to.include({ state: 'landed', landedAs: main });
    expect(await repo.git.line(['rev-parse', `${main}^1`, `${main}^2`])).to.equal(`${elsewhere}\n${head}`);
    expect(q.get(id)?.history.map((h) => h.note)).to.include('main moved during the check: merged again');
  });

  it('rejects an entry whose check outlives its timeout', async () => {
    const q = await queue({ check: 'echo started; sleep 30', checkTimeoutMs: 200 });
    await branchWith('baton/slow', { 's.txt': 's' });
    const { id } = await q.enqueue({ branch: 'baton/slow', by: 'agent-s' });
    await q.idle();

    expect(q.get(id)?.rejection).to.include({ reason: 'check-timeout' });
    expect(q.get(id)?.rejection?.message)
      .to.match(/timed out after \d+ ms/)
      .and.to.contain('started');
    expect(await repo.head('main')).to.equal(repo.root);
  });

  it('re-runs from scratch, after a restart, an entry that was being checked', async () => {
    const started = join(repo.path, '.git', 'started');
    const first = await queue({ check: `touch ${started}; sleep 30` });
    const head = await branchWith('baton/r', { 'r.txt': 'r' });
    const { id } = await first.enqueue({ branch: 'baton/r', by: 'agent-r' });
    await waitUntil('the check to start', () => existsSync(started));
    await first.close();
    expect(records.restored('merge-entry').map((r) => (r.body as { state: string }).state)).to.deep.equal([
      'checking',
    ]);
    expect(await repo.head('main')).to.equal(repo.root);

    const second = await queue({ check: 'true' });
    await second.idle();
    expect(second.get(id)).to.include({ state: 'landed', head });
    expect(second.get(id)?.history.map((h) => h.state)).to.deep.equal([
      'queued',
      'checking',
      'queued',
      'checking',
      'landed',
    ]);
    // Entry numbers go on from the restored ones.
    await branchWith('baton/r2', { 'r2.txt': 'r' });
    expect((await second.enqueue({ branch: 'baton/r2', by: 'agent-r' })).id).to.equal('2');
  });

  it('marks landed, without merging again, an entry whose landing was done but not stored', async () => {
    const first = await queue();
    await branchWith('baton/l', { 'l.txt': 'l' });
    const { id } = await first.enqueue({ branch: 'baton/l', by: 'agent-l' });
    await first.idle();
    await first.close();
    const main = await repo.head('main');
    // As if the process died between the compare-and-swap and storing 'landed'.
    const [stored] = records.restored('merge-entry');
    records.put('merge-entry', id, { ...(stored?.body as object), state: 'checking' });

    const second = await queue();
    await second.idle();
    expect(second.get(id)?.state).to.equal('landed');
    expect(second.get(id)?.history.at(-1)?.note).to.equal('its changes are on main already');
    expect(await repo.head('main')).to.equal(main);
  });

  it('makes its scratch worktree again when it was deleted behind its back', async () => {
    const q = await queue({ check: 'test -f README' });
    await branchWith('baton/s1', { 's1.txt': '1' });
    await q.enqueue({ branch: 'baton/s1', by: 'agent' });
    await q.idle();
    rmSync(q.scratchPath, { recursive: true, force: true });
    await branchWith('baton/s2', { 's2.txt': '2' });
    const { id } = await q.enqueue({ branch: 'baton/s2', by: 'agent' });
    await q.idle();
    expect(q.get(id)?.state).to.equal('landed');
    expect(existsSync(join(q.scratchPath, 's2.txt'))).to.equal(true);
  });

  it('refuses bad requests with a clear error, changing nothing', async () => {
    const q = await queue();
    const head = await branchWith('baton/ok', { 'ok.txt': 'ok' });
    const other = await branchWith('baton/other', { 'other.txt': 'o' });
    const orphan = await repo.git.line([
      'commit-tree',
      await repo.git.line(['rev-parse', `${repo.root}^{tree}`]),
      '-m',
      'orphan',
    ]);
    await repo.branch('baton/orphan', orphan);
    const refused = async (request: { branch: string; head?: string; by: string }) => {
      const error = await q.enqueue(request).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, JSON.stringify(request)).to.be.instanceOf(BatonError);
      return error as BatonError;
    };
    expect(await refused({ branch: 'baton/nope', by: 'a' })).to.include({
      code: 'not-found',
      field: 'branch',
    });
    expect(await refused({ branch: '-x; rm -rf /', by: 'a' })).to.include({ code: 'invalid-argument' });
    expect(await refused({ branch: 'a..b', by: 'a' })).to.include({ code: 'invalid-argument' });
    expect(await refused({ branch: 'main', by: 'a' })).to.include({ code: 'invalid-argument' });
    expect(await refused({ branch: 'baton/ok', by: ' ' })).to.include({ field: 'by' });
    expect(await refused({ branch: 'baton/ok', head: other, by: 'a' })).to.include({
      code: 'failed-precondition',
      field: 'head',
    });
    expect(await refused({ branch: 'baton/ok', head: 'HEAD~1', by: 'a' })).to.include({
      code: 'not-found',
      field: 'head',
    });
    expect(await refused({ branch: 'baton/orphan', by: 'a' })).to.include({ code: 'failed-precondition' });
    await repo.branch('baton/old', repo.root);
    expect((await refused({ branch: 'baton/old', by: 'a' })).message).to.contain('already on main');
    expect(records.all.size).to.equal(0);
    expect(events).to.deep.equal([]);
    expect(q.list()).to.deep.equal([]);
    expect((await q.enqueue({ branch: 'baton/ok', head: head.slice(0, 10), by: 'a' })).head).to.equal(head);
  });

  it('refuses to open on a directory that is not a repository, a missing target or an empty check', async () => {
    const fails = (options: Partial<MergeQueueOptions>) =>
      openMergeQueue({ repo: repo.path, check: 'true', records, now: Date.now, ...options }).then(
        () => expect.fail('opened'),
        (e: unknown) => e as BatonError,
      );
    const plain = mkdtempSync(join(tmpdir(), 'baton-not-a-repo-'));
    try {
      expect(await fails({ repo: plain })).to.include({ code: 'invalid-argument', field: 'repo' });
    } finally {
      rmSync(plain, { recursive: true });
    }
    expect(await fails({ target: 'nope' })).to.include({ code: 'failed-precondition', field: 'target' });
    expect(await fails({ check: '' })).to.include({ code: 'invalid-argument', field: 'check' });
    expect(await fails({ maxBatch: 0 })).to.include({ field: 'maxBatch' });
  });
});
