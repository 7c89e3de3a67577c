import { expect } from 'chai';
import { createCoordinator } from '../../src/core/coordinator.js';
import { DEFAULT_LIMITS, type InputLimits } from '../../src/core/limits.js';
import { expectRefused } from './expect-baton-error.js';

const coordinatorWith = (limits: Partial<InputLimits>) => {
  const coordinator = createCoordinator({ options: { now: () => 0, limits } });
  coordinator.start();
  return coordinator;
};

const nested = (depth: number): unknown => (depth === 0 ? 1 : { a: nested(depth - 1) });

describe('Input limits', () => {
  it('default to a batch of 10,000, 2,000,000 tasks, 64 KiB and 32 levels of metadata, ids and categories of 256', () => {
    expect(DEFAULT_LIMITS).to.deep.equal({
      maxBatchTasks: 10_000,
      maxTasks: 2_000_000,
      maxMetadataBytes: 65_536,
      maxMetadataDepth: 32,
      maxIdLength: 256,
      maxCategoryLength: 256,
    });
  });

  it('refuse an id past --max-id-length or a category past --max-category-length, naming the field and the limit', () => {
    const c = coordinatorWith({ maxIdLength: 8, maxCategoryLength: 4 });
    const id = expectRefused(
      c.taskQueue.toJSON,
      () => c.addTasks([{ id: 'ok' }, { id: 'x'.repeat(9) }]),
      'invalid-argument',
      'tasks[1].id is 9 characters: over the limit --max-id-length (8)',
    );
    expect(id.field).to.equal('tasks[1].id');
    expect(id.data).to.deep.equal({ limit: 'max-id-length', value: 8 });
    const category = expectRefused(
      c.taskQueue.toJSON,
      () => c.addTask({ id: 'a', category: 'lengthy' }),
      'invalid-argument',
      'task a: category is 7 characters: over the limit --max-category-length (4)',
    );
    expect(category.field).to.equal('category');
    expect(category.data).to.deep.equal({ limit: 'max-category-length', value: 4 });
    c.addTasks([{ id: 'x'.repeat(8), category: 'four' }]);
    // Past the default of 256 when the limit allows it.
    const roomy = coordinatorWith({ maxIdLength: 1000 });
    expect(roomy.addTask({ id: 'y'.repeat(1000) }).id).to.have.length(1000);
  });

  it('hold stored tasks to no length limit: a lowered --max-id-length still loads them', () => {
    const before = coordinatorWith({});
    before.addTask({ id: 'x'.repeat(200), category: 'c'.repeat(200) });
    const after = coordinatorWith({ maxIdLength: 10, maxCategoryLength: 10 });
    after.taskQueue.fromJSON(before.taskQueue.toJSON());
    expect(after.taskQueue.size).to.equal(1);
  });

  it('refuse a batch larger than --max-batch-tasks, naming the limit, and add none of it', () => {
    const c = coordinatorWith({ maxBatchTasks: 3 });
    const batch = ['a', 'b', 'c', 'd'].map((id) => ({ id }));
    const error = expectRefused(
      c.taskQueue.toJSON,
      () => c.addTasks(batch),
      'invalid-argument',
      'a batch of 4 tasks: over the limit --max-batch-tasks (3)',
    );
    expect(error.field).to.equal('tasks');
    expect(error.data).to.deep.equal({ limit: 'max-batch-tasks', value: 3 });
    expect(c.addTasks(batch.slice(0, 3))).to.have.length(3);
  });

  it('refuse tasks past --max-tasks in the graph as RESOURCE_EXHAUSTED, one at a time or batched', () => {
    const c = coordinatorWith({ maxTasks: 2 });
    c.addTasks([{ id: 'a' }]);
    expectRefused(
      c.taskQueue.toJSON,
      () => c.addTasks([{ id: 'b' }, { id: 'c' }]),
      'resource-exhausted',
      'the graph would hold 3 tasks: over the limit --max-tasks (2)',
    );
    c.addTask({ id: 'b' });
    expectRefused(c.taskQueue.toJSON, () => c.addTask({ id: 'c' }), 'resource-exhausted', '--max-tasks (2)');
  });

  it('refuse metadata deeper than --max-metadata-depth or larger than --max-metadata-bytes, naming the field', () => {
    const c = coordinatorWith({ maxMetadataDepth: 4, maxMetadataBytes: 100 });
    c.addTasks([{ id: 'ok', metadata: nested(3) as Record<string, unknown> }]);
    const deep = expectRefused(
      c.taskQueue.toJSON,
      () => c.addTasks([{ id: 'x' }, { id: 'deep', metadata: nested(5) as Record<string, unknown> }]),
      'invalid-argument',
      'tasks[1].metadata nests more than 4 deep: over the limit --max-metadata-depth (4)',
    );
    expect(deep.field).to.equal('tasks[1].metadata');
    expectRefused(
      c.taskQueue.toJSON,
      () => c.addTask({ id: 'big', metadata: { text: 'é'.repeat(60) } }),
      'invalid-argument',
      'metadata is 131 bytes of JSON: over the limit --max-metadata-bytes (100)',
    );
  });

  it('refuse a limit that is not a positive integer, naming it', () => {
    expect(() => coordinatorWith({ maxTasks: 0 })).to.throw(/limits\.maxTasks must be a positive integer/);
  });
});
