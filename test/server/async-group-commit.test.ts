import { Code, ConnectError } from '@connectrpc/connect';
import { expect } from 'chai';
import { createMemoryStore } from '../../src/core/memory-store.js';
import type { Store, StoreChanges } from '../../src/core/store.js';
import { openCoordinator } from '../../src/server/runtime/open-coordinator.js';
import { systemScheduler } from '../../src/server/runtime/system-clock.js';

interface HeldCommit {
  readonly changes: StoreChanges;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * A memory store whose commits return promises the test settles by hand, as an asynchronous
 * store's (PostgreSQL's) settle when the database answers. A commit is applied to the inner store
 * only when it resolves.
 */
function heldStore(commitsInFlight = 1): Store & { readonly held: HeldCommit[]; readonly inner: Store } {
  const inner = createMemoryStore();
  const held: HeldCommit[] = [];
  return {
    kind: 'held',
    commitsInFlight,
    held,
    inner,
    load: () => inner.load(),
    commit(changes) {
      return new Promise<void>((resolve, reject) => {
        held.push({
          changes,
          resolve: () => {
            inner.commit(changes);
            resolve();
          },
          reject,
        });
      });
    },
    close: () => inner.close(),
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

const open = (store: Store) =>
  openCoordinator({ store, now: () => 1_000, scheduler: systemScheduler, send: () => {} });

describe('group commit on an asynchronous store', () => {
  it('releases an acknowledgement only once the commit holding its change has resolved', async () => {
    const store = heldStore();
    const { coordinator, commit } = open(store);
    coordinator.addTask({ id: 'a' });
    let acked = false;
    const ack = commit.committed().then(() => {
      acked = true;
    });
    await turn();
    expect(store.held).to.have.length(1);
    await turn();
    expect(acked, 'acknowledged before its commit resolved').to.equal(false);
    store.held[0]?.resolve();
    await ack;
    expect(store.inner.load()?.tasks.tasks.map((t) => t.id)).to.deep.equal(['a']);
    await commit.close();
  });

  it('runs one commit at a time and gathers the turns that pass meanwhile into the next one', async () => {
    const store = heldStore();
    const { coordinator, commit } = open(store);
    coordinator.addTask({ id: 'a' });
    const first = commit.committed();
    await turn();
    coordinator.addTask({ id: 'b' });
    const second = commit.committed();
    await turn();
    coordinator.addTask({ id: 'c' });
    await turn();
    expect(store.held, 'a second commit started before the first settled').to.have.length(1);
    store.held[0]?.resolve();
    await first;
    while (store.held.length < 2) await turn();
    expect(store.held[1]?.changes.upsertTasks.map((t) => t.id)).to.deep.equal(['b', 'c']);
    store.held[1]?.resolve();
    await second;
    expect(store.inner.load()?.tasks.tasks.map((t) => t.id)).to.deep.equal(['a', 'b', 'c']);
    await commit.close();
  });

  it('refuses the acknowledgements of a commit that failed with UNAVAILABLE and stores its changes on the retry', async () => {
    const store = heldStore();
    const { coordinator, commit } = open(store);
    coordinator.addTask({ id: 'a' });
    const refused = commit.committed().then(
      () => undefined,
      (error: unknown) => error,
    );
    await turn();
    coordinator.addTask({ id: 'b' });
    store.held[0]?.reject(new Error('connection lost'));
    const error = await refused;
    expect(error).to.be.instanceOf(ConnectError);
    expect((error as ConnectError).code).to.equal(Code.Unavailable);
    expect((error as ConnectError).rawMessage).to.contain('connection lost');
    expect(commit.degraded).to.equal(true);
    expect(() => commit.ensureWritable()).to.throw(ConnectError);
    // The retry (1 s later) writes the failed commit's task and the one added while it was under way.
    while (store.held.length < 2) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(store.held[1]?.changes.upsertTasks.map((t) => t.id).sort()).to.deep.equal(['a', 'b']);
    store.held[1]?.resolve();
    await commit.committed();
    expect(commit.degraded).to.equal(false);
    expect(store.inner.load()?.tasks.tasks.map((t) => t.id)).to.deep.equal(['a', 'b']);
    await commit.close();
  });

  it('closes after the commit under way and one last commit of what changed meanwhile', async () => {
    const store = heldStore();
    const { coordinator, commit } = open(store);
    coordinator.addTask({ id: 'a' });
    await turn();
    coordinator.addTask({ id: 'b' });
    let closed = false;
    const closing = commit.close().then(() => {
      closed = true;
    });
    store.held[0]?.resolve();
    while (store.held.length < 2) await turn();
    expect(closed).to.equal(false);
    store.held[1]?.resolve();
    await closing;
    expect(store.inner.load()?.tasks.tasks.map((t) => t.id)).to.deep.equal(['a', 'b']);
  });

  describe('with a store that takes two commits at once', () => {
    const settled = (promise: Promise<unknown>): { done: boolean } => {
      const state = { done: false };
      void promise.then(() => (state.done = true));
      return state;
    };

    it('starts the next commit while one is under way, and releases their acknowledgements in order', async () => {
      const store = heldStore(2);
      const { coordinator, commit } = open(store);
      coordinator.addTask({ id: 'a' });
      const first = settled(commit.committed());
      await turn();
      coordinator.addTask({ id: 'b' });
      const second = settled(commit.committed());
      await turn();
      coordinator.addTask({ id: 'c' });
      await turn();
      expect(store.held.map((h) => h.changes.upsertTasks.map((t) => t.id))).to.deep.equal([['a'], ['b']]);
      store.held[0]?.resolve();
      while (store.held.length < 3) await turn();
      expect([first.done, second.done]).to.deep.equal([true, false]);
      expect(store.held[2]?.changes.upsertTasks.map((t) => t.id)).to.deep.equal(['c']);
      store.held[1]?.resolve();
      store.held[2]?.resolve();
      await commit.committed();
      expect(second.done).to.equal(true);
      expect(store.inner.load()?.tasks.tasks.map((t) => t.id)).to.deep.equal(['a', 'b', 'c']);
      await commit.close();
    });

    it('keeps a waiter with nothing new to store waiting for the commit under way', async () => {
      const store = heldStore(2);
      const { coordinator, commit } = open(store);
      coordinator.addTask({ id: 'a' });
      await turn();
      const nothingNew = settled(commit.committed());
      for (let i = 0; i < 5; i++) await turn();
      expect(store.held).to.have.length(1);
      expect(nothingNew.done, 'released before the commit holding what it saw').to.equal(false);
      store.held[0]?.resolve();
      while (!nothingNew.done) await turn();
      await commit.close();
    });

    it('when the first of two fails, refuses both and stores the changes of both on the retry', async () => {
      const store = heldStore(2);
      const { coordinator, commit } = open(store);
      coordinator.addTask({ id: 'a' });
      const first = commit.committed().then(
        () => 'stored',
        () => 'refused',
      );
      await turn();
      coordinator.addTask({ id: 'b' });
      const second = commit.committed().then(
        () => 'stored',
        () => 'refused',
      );
      await turn();
      // The store refuses what was sent behind a failed commit.
      store.held[0]?.reject(new Error('disk full'));
      store.held[1]?.reject(new Error('not written: an earlier commit failed'));
      expect([await first, await second]).to.deep.equal(['refused', 'refused']);
      while (store.held.length < 3) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(store.held[2]?.changes.upsertTasks.map((t) => t.id).sort()).to.deep.equal(['a', 'b']);
      expect(store.held[2]?.changes.nextSeq).to.equal(2);
      store.held[2]?.resolve();
      await commit.committed();
      expect(store.inner.load()?.tasks.tasks.map((t) => t.id)).to.deep.equal(['a', 'b']);
      await commit.close();
    });
  });
});
