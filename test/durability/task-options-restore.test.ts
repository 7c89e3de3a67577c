import { expect } from 'chai';
import { eachStore, openOn as open } from './each-store.js';

/** What a task was added with, beyond the seed's fields, is there after a restart. */
eachStore('task options across a restart', (reopen) => {
  it('keeps requireCapability: a strict task is still strict, a loose one still loose', async () => {
    const first = open(await reopen());
    first.coordinator.addTasks([
      { id: 'strict', category: 'flaky', requireCapability: true },
      { id: 'loose', category: 'flaky' },
    ]);
    await first.commit.committed();
    await first.commit.close();

    const second = open(await reopen());
    expect(second.coordinator.taskQueue.get('strict')?.requireCapability).to.equal(true);
    expect(second.coordinator.taskQueue.get('loose')?.requireCapability).to.equal(false);
    await second.commit.close();
  });
});
