import { expect } from 'chai';
import { eachStore, openOn as open } from './each-store.js';

/** A record written through the group commit is there after a restart. */
eachStore('durable records', (reopen) => {
  it('restores records put before a commit, by kind, with their bodies as written', async () => {
    const first = open(await reopen());
    first.records.put('workspace', 'agent-1', {
      branch: 'baton/agent-1',
      head: 'abc',
      nested: [1, { a: null }],
    });
    first.records.put('merge', '1', { state: 'queued' });
    await first.commit.committed();
    await first.commit.close();

    const second = open(await reopen());
    expect(second.restored).to.equal(true);
    expect(second.records.restored('workspace')).to.deep.equal([
      {
        kind: 'workspace',
        id: 'agent-1',
        body: { branch: 'baton/agent-1', head: 'abc', nested: [1, { a: null }] },
      },
    ]);
    expect(second.records.restored('merge').map((r) => r.body)).to.deep.equal([{ state: 'queued' }]);
    await second.commit.close();
  });

  it('keeps the last write of a record in a turn, and forgets a removed one', async () => {
    const first = open(await reopen());
    first.records.put('workspace', 'a', { v: 1 });
    first.records.put('workspace', 'a', { v: 2 });
    first.records.put('workspace', 'b', { v: 1 });
    await first.commit.committed();
    first.records.remove('workspace', 'b');
    await first.commit.committed();
    await first.commit.close();

    const second = open(await reopen());
    expect(second.records.restored('workspace')).to.deep.equal([
      { kind: 'workspace', id: 'a', body: { v: 2 } },
    ]);
    await second.commit.close();
  });
});
