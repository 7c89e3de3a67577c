import { create, type JsonObject, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs, ValueSchema } from '@bufbuild/protobuf/wkt';
import { expect } from 'chai';
import fc from 'fast-check';
import {
  AddTaskResponseSchema,
  BatchAddTasksResponseSchema,
  type Task,
  TaskSchema,
  TaskStatus,
} from '../../src/server/codec/proto.js';
import { taskEncoders } from '../../src/server/codec/task-codec.js';

/** The hand-written AddTask / BatchAddTasks answers against protobuf-es: the same bytes. */

const encodeBatch = taskEncoders.get(BatchAddTasksResponseSchema.typeName);
const encodeOne = taskEncoders.get(AddTaskResponseSchema.typeName);

const uint32 = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 0xffffffff }));
const timestamp = fc.option(
  fc.integer({ min: 0, max: 4_102_444_800_000 }).map((ms) => timestampFromMs(ms)),
  { nil: undefined },
);
const task = fc
  .record({
    id: fc.string(),
    deps: fc.array(fc.string(), { maxLength: 4 }),
    priority: fc.oneof(fc.constant(0), fc.constant(-0), fc.double({ noNaN: true })),
    category: fc.string(),
    metadata: fc.option(
      fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 3 })).map((o) => o as JsonObject),
      { nil: undefined },
    ),
    status: fc.constantFrom(...Object.values(TaskStatus).filter((v) => typeof v === 'number')),
    workerId: fc.string(),
    attempt: uint32,
    maxAttempts: uint32,
    error: fc.string(),
    cancelledBy: fc.string(),
    createdAt: timestamp,
    updatedAt: timestamp,
    assignedAt: timestamp,
    startedAt: timestamp,
    finishedAt: timestamp,
    requireCapability: fc.boolean(),
  })
  .map((t) => create(TaskSchema, t as never));

describe('server task codec', () => {
  it('writes BatchAddTasksResponse and AddTaskResponse byte for byte as protobuf-es', () => {
    fc.assert(
      fc.property(fc.array(task, { maxLength: 5 }), (tasks) => {
        const batch = create(BatchAddTasksResponseSchema, { tasks });
        const lean = encodeBatch?.(batch);
        // Leaving a message to protobuf-es is always allowed; writing other bytes never is.
        if (lean !== undefined) {
          expect(Buffer.from(lean)).to.deep.equal(Buffer.from(toBinary(BatchAddTasksResponseSchema, batch)));
        }
        const one = create(AddTaskResponseSchema, tasks[0] === undefined ? {} : { task: tasks[0] });
        const leanOne = encodeOne?.(one);
        if (leanOne !== undefined) {
          expect(Buffer.from(leanOne)).to.deep.equal(Buffer.from(toBinary(AddTaskResponseSchema, one)));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('writes the usual answer itself and leaves a task with a result to protobuf-es', () => {
    const plain: Task = create(TaskSchema, {
      id: 'a',
      deps: ['b'],
      category: 'llm',
      metadata: { repo: 'baton', n: 1 },
      status: TaskStatus.PENDING,
      maxAttempts: 3,
      createdAt: timestampFromMs(1_795_000_000_123),
      updatedAt: timestampFromMs(1_795_000_000_123),
    });
    expect(encodeBatch?.(create(BatchAddTasksResponseSchema, { tasks: [plain, plain] }))).to.not.equal(
      undefined,
    );
    const withResult = create(TaskSchema, {
      id: 'a',
      result: create(ValueSchema, { kind: { case: 'numberValue', value: 1 } }),
    });
    expect(encodeBatch?.(create(BatchAddTasksResponseSchema, { tasks: [plain, withResult] }))).to.equal(
      undefined,
    );
  });
});
