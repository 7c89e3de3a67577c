import { expect } from 'chai';
import { BatonError } from '../../src/core/errors.js';
import { createEventBus } from '../../src/core/event-bus.js';
import type { CoordEvents } from '../../src/core/events.js';
import type { TaskSnapshot } from '../../src/core/task.js';
import { createTaskQueue } from '../../src/core/task-queue.js';
import { createEventHub, type LoggedEvent } from '../../src/server/runtime/event-hub.js';

describe('event hub: the replay window', () => {
  const setup = (firstSequence?: number) => {
    const events = createEventBus<CoordEvents>();
    let clock = 0;
    const released: (() => void)[] = [];
    const hub = createEventHub({
      events,
      now: () => ++clock,
      afterCommit: (deliver) => released.push(deliver),
      retain: 5,
      ...(firstSequence === undefined ? {} : { firstSequence }),
    });
    const emit = (n: number) => {
      for (let i = 0; i < n; i++) events.emit('coord:worker-left', { workerId: `w${i}`, reason: 'bye' });
    };
    return { hub, emit, released };
  };
  const firstBatch = async (queue: AsyncIterable<LoggedEvent[]>) => {
    for await (const batch of queue) return batch;
    return [];
  };

  it('keeps the last `retain` events and replays those after the sequence asked for, in order', async () => {
    const { hub, emit } = setup();
    emit(12);
    const all = await firstBatch(hub.subscribe({ sinceSequence: 0 }));
    expect(all.map((e) => e.sequence)).to.deep.equal([8, 9, 10, 11, 12]);
    expect(all.map((e) => e.at)).to.deep.equal([8, 9, 10, 11, 12]);
    expect(all[0]?.payload).to.deep.equal({ workerId: 'w7', reason: 'bye' });
    const after = await firstBatch(hub.subscribe({ sinceSequence: 10 }));
    expect(after.map((e) => e.sequence)).to.deep.equal([11, 12]);
    hub.close();
  });

  it('resumes after any sequence whose next event is still kept, up to the last one', async () => {
    const { hub, emit, released } = setup();
    emit(12);
    expect((await firstBatch(hub.subscribe({ sinceSequence: 7 }))).map((e) => e.sequence)).to.deep.equal([
      8, 9, 10, 11, 12,
    ]);
    const atLast = hub.subscribe({ sinceSequence: 12 });
    emit(1);
    for (const deliver of released) deliver();
    expect((await firstBatch(atLast)).map((e) => e.sequence)).to.deep.equal([13]);
    hub.close();
  });

  it('refuses a sequence older than the window as out-of-range, naming the limit and what was missed', () => {
    const { hub, emit } = setup();
    emit(12);
    const refusal = (() => {
      try {
        hub.subscribe({ sinceSequence: 5 });
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(refusal).to.be.instanceOf(BatonError);
    const error = refusal as BatonError;
    expect(error.code).to.equal('out-of-range');
    expect(error.field).to.equal('since_sequence');
    expect(error.message).to.equal(
      'since_sequence 5 is older than the events replay window (--events-replay 5; oldest kept is 8): ' +
        '2 event(s) after it are no longer kept; read the state again and watch from now',
    );
    expect(error.data).to.deep.equal({ limit: 'events-replay', value: 5, oldest: 8, last: 12, missed: 2 });
    hub.close();
  });

  it("refuses a sequence past the last one (a restarted server's numbering), and replays all kept for 0", async () => {
    const { hub, emit } = setup();
    emit(3);
    expect(() => hub.subscribe({ sinceSequence: 4 }))
      .to.throw(BatonError, /since_sequence 4 is past this server's last event \(3\)/)
      .with.property('code', 'out-of-range');
    emit(9);
    expect((await firstBatch(hub.subscribe({ sinceSequence: 0 }))).map((e) => e.sequence)).to.deep.equal([
      8, 9, 10, 11, 12,
    ]);
    hub.close();
  });

  it('an event not yet published reaches a new watcher once, with its batch', async () => {
    const { hub, emit, released } = setup();
    const first = hub.subscribe({});
    emit(2);
    const second = hub.subscribe({ sinceSequence: 0 });
    for (const deliver of released) deliver();
    expect((await firstBatch(first)).map((e) => e.sequence)).to.deep.equal([1, 2]);
    expect((await firstBatch(second)).map((e) => e.sequence)).to.deep.equal([1, 2]);
    const rest: number[] = [];
    second.close();
    for await (const batch of second) rest.push(...batch.map((e) => e.sequence));
    expect(rest).to.deep.equal([]);
    hub.close();
  });

  it('replays a task event with the snapshot as it was emitted, and its worker, cause or reason', async () => {
    const events = createEventBus<CoordEvents>();
    const hub = createEventHub({ events, now: () => 7, afterCommit: (deliver) => deliver() });
    const queue = createTaskQueue({ now: () => 1_000 });
    queue.add({ id: 'a', metadata: { k: [1] }, paths: ['src/**'], runAt: 5 });
    const added = queue.get('a') as TaskSnapshot;
    events.emit('coord:task-added', { task: added });
    queue.assign('a', 'w1');
    const assigned = queue.get('a') as TaskSnapshot;
    events.emit('coord:assigned', { task: assigned, workerId: 'w1' });
    queue.complete('a', { ok: true }, { workerId: 'w1', attempt: 1 });
    const cancelled = { ...(queue.get('a') as TaskSnapshot), status: 'cancelled' as const };
    events.emit('coord:task-cancelled', { task: cancelled, cause: 'b' });
    events.emit('coord:task-requeued', { task: assigned, reason: 'lease lapsed' });
    const replay = await firstBatch(hub.subscribe({ sinceSequence: 0 }));
    expect(replay.map((e) => e.payload)).to.deep.equal([
      { task: added },
      { task: assigned, workerId: 'w1' },
      { task: cancelled, cause: 'b' },
      { task: assigned, reason: 'lease lapsed' },
    ]);
    hub.close();
  });

  it("a replica's log numbers after its first sequence, and refuses a resume from an earlier leader's as out-of-range", async () => {
    const first = 2 ** 33;
    const { hub, emit } = setup(first);
    emit(3);
    expect(() => hub.subscribe({ sinceSequence: 2 }))
      .to.throw(BatonError, /since_sequence 2 was numbered by an earlier leader: this replica took over/)
      .with.property('code', 'out-of-range');
    expect(
      (await firstBatch(hub.subscribe({ sinceSequence: first + 1 }))).map((e) => e.sequence),
    ).to.deep.equal([first + 2, first + 3]);
    expect((await firstBatch(hub.subscribe({ sinceSequence: 0 }))).map((e) => e.sequence)).to.deep.equal([
      first + 1,
      first + 2,
      first + 3,
    ]);
    hub.close();
  });
});
