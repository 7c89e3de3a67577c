import type { JsonObject, JsonValue, MessageInitShape } from '@bufbuild/protobuf';
import type { Timestamp } from '@bufbuild/protobuf/wkt';
import {
  decodeOneofMessage,
  type ProtoReader,
  type ProtoWriter,
  readRepeated,
  unsupported,
  WIRE_I64,
  WIRE_LEN,
  WIRE_VARINT,
  writeEnvelope,
} from '../wire/protowire.js';
import type { Assignment, CoordinatorMessage, WorkerMessageSchema } from './proto.js';

type WorkerMessageInit = MessageInitShape<typeof WorkerMessageSchema>;
type Receipt = Extract<CoordinatorMessage['kind'], { case: 'ack' }>['value']['receipts'][number];

/**
 * The worker's half of the Session's hot messages, by hand (see wire/protowire.ts): encoding reports,
 * requests and heartbeats, decoding proceeds, acks and waits. Byte for byte what protobuf-es
 * writes and reads (test/server/session-codec.test.ts checks both ways); anything rarer (hello,
 * cost, a result value, an error receipt, welcome, cancel, an unknown field) is left to
 * protobuf-es by the caller.
 */
export function writeWorkerEnvelope(
  w: ProtoWriter,
  message: WorkerMessageInit,
  fallback: (message: WorkerMessageInit) => Uint8Array,
): void {
  writeEnvelope(w, message, writeWorkerMessage, fallback);
}

interface TaskReportInit {
  readonly seq?: number;
  readonly taskId?: string;
  readonly attempt?: number;
}

function writeTaskReport(w: ProtoWriter, field: number, r: TaskReportInit): number {
  w.tag(field, WIRE_LEN);
  const at = w.fork();
  w.uint32Field(1, r.seq ?? 0);
  w.stringField(2, r.taskId ?? '');
  w.uint32Field(3, r.attempt ?? 0);
  return at;
}

/** A started, complete (without a result) or failed report, as field `base + 0/1/2`. */
function writeReport(
  w: ProtoWriter,
  kind: { case?: string | undefined; value?: unknown } | undefined,
  base: number,
): void {
  switch (kind?.case) {
    case 'started':
      w.join(writeTaskReport(w, base, kind.value as TaskReportInit));
      return;
    case 'complete': {
      const value = kind.value as TaskReportInit & { result?: unknown; headCommit?: string };
      if (value.result !== undefined) throw unsupported;
      const at = writeTaskReport(w, base + 1, value);
      const head = value.headCommit ?? '';
      if (head !== '') {
        w.tag(30, WIRE_LEN);
        w.string(head);
      }
      w.join(at);
      return;
    }
    case 'failed': {
      const value = kind.value as TaskReportInit & { error?: string; retryable?: boolean };
      const at = writeTaskReport(w, base + 2, value);
      w.stringField(4, value.error ?? '');
      w.boolField(5, value.retryable);
      w.join(at);
      return;
    }
    default:
      throw unsupported;
  }
}

function writeWorkerMessage(w: ProtoWriter, message: WorkerMessageInit): void {
  const kind = message.kind;
  switch (kind?.case) {
    case 'request': {
      w.tag(2, WIRE_LEN);
      const at = w.fork();
      w.uint32Field(1, kind.value.count ?? 0);
      w.join(at);
      return;
    }
    case 'heartbeat':
      w.tag(3, WIRE_LEN);
      w.uint32(0);
      return;
    case 'started':
    case 'complete':
    case 'failed':
      writeReport(w, kind, 4);
      return;
    case 'reports': {
      w.tag(8, WIRE_LEN);
      const at = w.fork();
      for (const report of kind.value.reports ?? []) {
        w.tag(1, WIRE_LEN);
        const r = w.fork();
        writeReport(w, report.kind, 1);
        w.join(r);
      }
      w.join(at);
      return;
    }
    default:
      throw unsupported;
  }
}

/** A proceed, an ack without errors or a wait; undefined for anything else (protobuf-es decodes it). */
export function decodeCoordinatorMessage(bytes: Uint8Array): CoordinatorMessage | undefined {
  return decodeOneofMessage<CoordinatorMessage>(bytes, 'coord.v1.CoordinatorMessage', readCoordinatorKind);
}

function readCoordinatorKind(r: ProtoReader, field: number, end: number): CoordinatorMessage['kind'] {
  switch (field) {
    case 2: {
      const assignments = readRepeated(r, end, readAssignment);
      return { case: 'proceed', value: { $typeName: 'coord.v1.Proceed', assignments } };
    }
    case 3: {
      let reason = '';
      while (r.pos < end) {
        if (r.uint32() !== ((1 << 3) | WIRE_LEN)) throw unsupported;
        reason = r.string();
      }
      return { case: 'wait', value: { $typeName: 'coord.v1.Wait', reason } };
    }
    case 7: {
      const receipts = readRepeated(r, end, readReceipt);
      return { case: 'ack', value: { $typeName: 'coord.v1.Ack', receipts } };
    }
    default:
      throw unsupported;
  }
}

function readReceipt(r: ProtoReader, end: number): Receipt {
  let seq = 0;
  let ok = false;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === ((1 << 3) | WIRE_VARINT)) seq = r.uint32();
    else if (tag === ((2 << 3) | WIRE_VARINT)) ok = r.uint32() !== 0;
    else throw unsupported; // an error detail: protobuf-es
  }
  if (r.pos !== end) throw unsupported;
  return { $typeName: 'coord.v1.Receipt', seq, ok, error: undefined };
}

function readAssignment(r: ProtoReader, end: number): Assignment {
  let taskId = '';
  let attempt = 0;
  let category = '';
  let metadata: JsonObject | undefined;
  let priority = 0;
  let leaseDeadline: Timestamp | undefined;
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case (1 << 3) | WIRE_LEN:
        taskId = r.string();
        break;
      case (2 << 3) | WIRE_VARINT:
        attempt = r.uint32();
        break;
      case (3 << 3) | WIRE_LEN:
        category = r.string();
        break;
      case (4 << 3) | WIRE_LEN: {
        if (metadata !== undefined) throw unsupported; // a repeated message field merges: protobuf-es
        const at = r.delimited();
        metadata = readStruct(r, at);
        break;
      }
      case (5 << 3) | WIRE_I64:
        priority = r.double();
        break;
      case (6 << 3) | WIRE_LEN: {
        if (leaseDeadline !== undefined) throw unsupported;
        const at = r.delimited();
        leaseDeadline = readTimestamp(r, at);
        break;
      }
      default:
        throw unsupported;
    }
  }
  if (r.pos !== end) throw unsupported;
  return { $typeName: 'coord.v1.Assignment', taskId, attempt, category, metadata, priority, leaseDeadline };
}

function readTimestamp(r: ProtoReader, end: number): Timestamp {
  let seconds = 0;
  let nanos = 0;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === ((1 << 3) | WIRE_VARINT)) seconds = r.uint53();
    else if (tag === ((2 << 3) | WIRE_VARINT)) {
      nanos = r.uint32();
      if (nanos > 0x7fff_ffff) throw unsupported; // a negative int32
    } else throw unsupported;
  }
  if (r.pos !== end) throw unsupported;
  return { $typeName: 'google.protobuf.Timestamp', seconds: BigInt(seconds), nanos };
}

/** google.protobuf.Struct as the JsonObject protobuf-es gives for it. */
function readStruct(r: ProtoReader, end: number): JsonObject {
  const object: JsonObject = {};
  while (r.pos < end) {
    if (r.uint32() !== ((1 << 3) | WIRE_LEN)) throw unsupported;
    const entryEnd = r.delimited();
    let key = '';
    let value: JsonValue | undefined;
    while (r.pos < entryEnd) {
      const tag = r.uint32();
      if (tag === ((1 << 3) | WIRE_LEN)) key = r.string();
      else if (tag === ((2 << 3) | WIRE_LEN)) {
        const at = r.delimited();
        value = readValue(r, at);
      } else throw unsupported;
    }
    if (r.pos !== entryEnd || value === undefined || key === '__proto__') throw unsupported;
    object[key] = value;
  }
  if (r.pos !== end) throw unsupported;
  return object;
}

function readValue(r: ProtoReader, end: number): JsonValue {
  let value: JsonValue | undefined;
  while (r.pos < end) {
    if (value !== undefined) throw unsupported; // more than one kind: protobuf-es
    const tag = r.uint32();
    switch (tag) {
      case (1 << 3) | WIRE_VARINT:
        r.uint32();
        value = null;
        break;
      case (2 << 3) | WIRE_I64: {
        const n = r.double();
        if (!Number.isFinite(n)) throw unsupported;
        value = n;
        break;
      }
      case (3 << 3) | WIRE_LEN:
        value = r.string();
        break;
      case (4 << 3) | WIRE_VARINT:
        value = r.uint32() !== 0;
        break;
      case (5 << 3) | WIRE_LEN: {
        const at = r.delimited();
        value = readStruct(r, at);
        break;
      }
      case (6 << 3) | WIRE_LEN:
        value = readRepeated(r, r.delimited(), readValue);
        break;
      default:
        throw unsupported;
    }
  }
  if (r.pos !== end || value === undefined) throw unsupported;
  return value;
}
