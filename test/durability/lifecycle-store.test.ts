import { expect } from 'chai';
import { eachStore, openOn as open } from './each-store.js';

/** Each lifecycle step is stored with the change that made it. */
eachStore('lifecycle state', (reopen) => {
  /** Applies `step` to the coordinator restored from the store and returns the state restored next. */
  const afterRestart = async (step: (c: ReturnType<typeof open>['coordinator']) => void) => {
    const before = open(await reopen());
    step(before.coordinator);
    await before.commit.committed();
    await before.commit.close();
    const after = open(await reopen());
    await after.commit.close();
    return after.coordinator.state;
  };

  it('keeps drained across a restart, then running after a start, stopped after a stop, init after a reopen', async () => {
    expect(await afterRestart((c) => c.start())).to.equal('running');
    expect(await afterRestart((c) => c.drain())).to.equal('drained');
    expect(await afterRestart((c) => c.start())).to.equal('running');
    expect(await afterRestart((c) => c.stop())).to.equal('stopped');
    expect(await afterRestart((c) => c.reopen())).to.equal('init');
  });
});
