// codec/: wire <-> core translation: generated messages, JSON/protobuf conversions, error mapping.
// Imports src/core, src/gen and src/wire; runtime/ and workspaces/ for types only (test/architecture/walls.test.ts).
import type { Timestamp } from '@bufbuild/protobuf/wkt';
import {
  ProtoWriter,
  Unsupported,
  unsupported,
  WIRE_I64,
  WIRE_LEN,
  WIRE_VARINT,
} from '../../wire/protowire.js';
import {
  type AddTaskResponse,
  AddTaskResponseSchema,
  type BatchAddTasksResponse,
  BatchAddTasksResponseSchema,
  type Task,
} from './proto.js';
import { safeNumber, writeStruct } from './session-codec.js';

/**
 * The answers to AddTask and BatchAddTasks by hand (see wire/protowire.ts): the added tasks as
 * stored. protobuf-es's reflective writer spent more CPU on them than the coordinator spent adding
 * the tasks. Byte for byte what protobuf-es writes (test/server/task-codec.test.ts); a task with
 * something unusual (a result value, unknown fields) leaves the whole answer to protobuf-es.
 */
export const taskEncoders: ReadonlyMap<string, (message: unknown) => Uint8Array | undefined> = new Map([
  [BatchAddTasksResponseSchema.typeName, (m: unknown) => encodeTasks((m as BatchAddTasksResponse).tasks)],
  [
    AddTaskResponseSchema.typeName,
    (m: unknown) => {
      const task = (m as AddTaskResponse).task;
      // One task in field 1: the same bytes as a list of one.
      return encodeTasks(task === undefined ? [] : [task]);
    },
  ],
]);

function encodeTasks(tasks: readonly Task[]): Uint8Array | undefined {
  const w = new ProtoWriter(64 + 128 * tasks.length);
  try {
    for (const task of tasks) {
      w.tag(1, WIRE_LEN);
      const at = w.fork();
      writeTask(w, task);
      w.join(at);
    }
  } catch (error) {
    if (error instanceof Unsupported) return undefined;
    throw error;
  }
  return w.finish();
}

function writeTask(w: ProtoWriter, t: Task): void {
  if (t.result !== undefined || (t.$unknown?.length ?? 0) > 0) throw unsupported;
  w.stringField(1, t.id);
  for (const dep of t.deps) {
    w.tag(2, WIRE_LEN);
    w.string(dep);
  }
  // protobuf-es writes -0 (only +0 is the default).
  if (!Object.is(t.priority, 0)) {
    w.tag(3, WIRE_I64);
    w.double(t.priority);
  }
  w.stringField(4, t.category);
  if (t.metadata !== undefined) {
    w.tag(5, WIRE_LEN);
    const struct = w.fork();
    writeStruct(w, t.metadata);
    w.join(struct);
  }
  writeUint32(w, 6, t.status);
  w.stringField(7, t.workerId);
  writeUint32(w, 8, t.attempt);
  writeUint32(w, 9, t.maxAttempts);
  w.stringField(11, t.error);
  w.stringField(12, t.cancelledBy);
  writeTimestamp(w, 13, t.createdAt);
  writeTimestamp(w, 14, t.updatedAt);
  writeTimestamp(w, 15, t.assignedAt);
  writeTimestamp(w, 16, t.startedAt);
  writeTimestamp(w, 17, t.finishedAt);
  for (const path of t.paths) {
    w.tag(30, WIRE_LEN);
    w.string(path);
  }
  w.stringField(31, t.waitingFor);
  w.boolField(35, t.land);
  w.boolField(43, t.requireCapability);
}

function writeUint32(w: ProtoWriter, field: number, value: number): void {
  if (value === 0) return;
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw unsupported;
  w.tag(field, WIRE_VARINT);
  w.uint32(value);
}

function writeTimestamp(w: ProtoWriter, field: number, ts: Timestamp | undefined): void {
  if (ts === undefined) return;
  if ((ts.$unknown?.length ?? 0) > 0 || ts.nanos < 0) throw unsupported;
  w.tag(field, WIRE_LEN);
  const at = w.fork();
  const seconds = safeNumber(ts.seconds);
  if (seconds !== 0) {
    w.tag(1, WIRE_VARINT);
    w.uint53(seconds);
  }
  writeUint32(w, 2, ts.nanos);
  w.join(at);
}
