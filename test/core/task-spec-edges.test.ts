import { expect } from 'chai';
import { createManualClock } from '../../src/core/clock.js';
import type { TaskSpec } from '../../src/core/task.js';
import { createTaskQueue } from '../../src/core/task-queue.js';
import { expectRefused } from './expect-baton-error.js';

const queue = () => createTaskQueue({ now: createManualClock(0).now });

describe('Task spec edges', () => {
  it('refuses an id with undecodable text (U+FFFD or a lone surrogate), naming the field', () => {
    for (const id of ['bad\uFFFDid', 'lone\uD800']) {
      const q = queue();
      const error = expectRefused(
        () => q.toJSON(),
        () => q.addMany([{ id }]),
        'invalid-argument',
        'UTF-8',
      );
      expect(error.field).to.equal('tasks[0].id');
    }
  });

  it('refuses a priority that is not an integer in int32 range', () => {
    for (const priority of ['7', 1e20, 0.5, 2 ** 31] as unknown[]) {
      const q = queue();
      const spec = { id: 'p', priority } as unknown as TaskSpec;
      const error = expectRefused(
        () => q.toJSON(),
        () => q.addMany([spec]),
        'invalid-argument',
        'integer',
      );
      expect(error.field).to.equal('tasks[0].priority');
    }
    expect(queue().add({ id: 'p', priority: -(2 ** 31) }).priority).to.equal(-(2 ** 31));
  });

  it('names the field of a single added task without a batch index', () => {
    const q = queue();
    const error = expectRefused(
      () => q.toJSON(),
      () => q.add({ id: 'a', deps: ['nope'] }),
      'invalid-argument',
    );
    expect(error.field).to.equal('deps');
    const idError = expectRefused(
      () => q.toJSON(),
      () => q.add({ id: '' }),
      'invalid-argument',
    );
    expect(idError.field).to.equal('id');
  });

  it('still restores tasks stored before these rules: a fractional priority, an id with U+FFFD', () => {
    const q = queue();
    q.add({ id: 'x' });
    const image = JSON.parse(JSON.stringify(q.toJSON()));
    Object.assign(image.tasks[0], { id: 'old\uFFFD', priority: 0.5 });
    const restored = queue();
    restored.fromJSON(image);
    expect(restored.get('old\uFFFD')?.priority).to.equal(0.5);
  });
});
