import { getEventListeners } from 'node:events';
import { expect } from 'chai';
import { onAbort } from '../../src/client/abort-listeners.js';
import { createWorker } from '../../src/client/index.js';

describe('client abort listeners', () => {
  it('puts one listener on a signal however many callbacks wait on it, and runs each once', () => {
    const controller = new AbortController();
    const calls: number[] = [];
    for (let i = 0; i < 50; i++) onAbort(controller.signal, () => calls.push(i));
    const forgotten = onAbort(controller.signal, () => calls.push(-1));
    forgotten();
    expect(getEventListeners(controller.signal, 'abort')).to.have.length(1);
    controller.abort();
    controller.abort();
    expect(calls).to.deep.equal(Array.from({ length: 50 }, (_, i) => i));
  });

  it('lets a fleet of workers share one stop signal without piling listeners on it', async () => {
    const force = new AbortController();
    const workers = Array.from({ length: 20 }, (_, i) =>
      createWorker({
        url: 'http://127.0.0.1:1',
        id: `w${i}`,
        capabilities: [],
        maxConcurrency: 1,
        handler() {},
      }),
    );
    // Never welcomed (nothing listens there): each stop waits until the shared signal forces it.
    for (const w of workers) void w.start().catch(() => {});
    const stopped = Promise.all(workers.map((w) => w.stop({ signal: force.signal })));
    expect(getEventListeners(force.signal, 'abort')).to.have.length(1);
    force.abort();
    await stopped;
    expect(workers.map((w) => w.state)).to.deep.equal(workers.map(() => 'stopped'));
  });
});
