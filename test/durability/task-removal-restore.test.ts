import { expect } from 'chai';
import { eachStore, openOn as open } from './each-store.js';

/** A deleted or purged task is gone for good: every store deletes its row in the same commit. */
eachStore('deleted and purged tasks across a restart', (reopen) => {
  it('stay gone, while a dep that a remaining task needs is kept and the graph restores whole', async () => {
    const first = open(await reopen());
    const c = first.coordinator;
    c.start();
    c.workerJoined({ id: 'w1', maxConcurrency: 1 });
    c.addTasks([{ id: 'a' }, { id: 'b', deps: ['a'] }, { id: 'c', deps: ['a'] }, { id: 'd' }, { id: 'e' }]);
    c.complete('w1', 'a', 1);
    c.cancelTask('d');
    c.cancelTask('e');
    // a is complete but b and c, still to run, depend on it: the purge keeps it.
    expect(c.deleteTask('d').id).to.equal('d');
    expect(c.purgeTasks({ finishedBefore: 1_001 })).to.deep.equal({ purged: 1, kept: 1 });
    await first.commit.committed();
    await first.commit.close();

    const second = open(await reopen());
    const queue = second.coordinator.taskQueue;
    expect(queue.getAll().map((t) => t.id)).to.deep.equal(['a', 'b', 'c']);
    expect(queue.getProgress()).to.include({ total: 3, complete: 1, cancelled: 0 });
    expect(queue.get('c')).to.deep.include({ deps: ['a'], status: 'pending' });
    expect(queue.getReady().map((t) => t.id)).to.include('c');
    // A gone id can be added again, and it is stored like any new task.
    second.coordinator.addTask({ id: 'e' });
    await second.commit.committed();
    await second.commit.close();

    const third = open(await reopen());
    expect(third.coordinator.taskQueue.getAll().map((t) => t.id)).to.deep.equal(['a', 'b', 'c', 'e']);
    await third.commit.close();
  });
});
