// codec/: wire <-> core translation: generated messages, JSON/protobuf conversions, error mapping.
// Imports src/core, src/gen and src/wire; runtime/ and workspaces/ for types only (test/architecture/walls.test.ts).
import type { JsonObject, JsonValue, MessageInitShape } from '@bufbuild/protobuf';
import {
  decodeOneofMessage,
  type ProtoReader,
  type ProtoWriter,
  readOneof,
  readRepeated,
  unsupported,
  WIRE_I64,
  WIRE_LEN,
  WIRE_VARINT,
  writeEnvelope,
} from '../../wire/protowire.js';
import type {
  CoordinatorMessageSchema,
  Failed,
  Report,
  Started,
  Complete as WireComplete,
  WorkerMessage,
} from './proto.js';

type CoordinatorMessageInit = MessageInitShape<typeof CoordinatorMessageSchema>;

/**
 * The server's half of the Session's hot messages, by hand (see wire/protowire.ts): decoding
 * the worker's reports, requests and heartbeats, encoding proceeds, waits and acks. Byte for byte what
 * protobuf-es reads and writes (test/server/session-codec.test.ts checks both ways); whatever is
 * rare or unusual (hello, cost, a result value, an error receipt, an unknown field) returns
 * undefined / is left to the caller's protobuf-es path.
 */
export function decodeWorkerMessage(bytes: Uint8Array): WorkerMessage | undefined {
  return decodeOneofMessage<WorkerMessage>(bytes, 'coord.v1.WorkerMessage', readWorkerKind);
}

function readWorkerKind(r: ProtoReader, field: number, end: number): WorkerMessage['kind'] {
  switch (field) {
    case 2: {
      let count = 0;
      while (r.pos < end) {
        if (r.uint32() !== ((1 << 3) | WIRE_VARINT)) throw unsupported;
        count = r.uint32();
      }
      return { case: 'request', value: { $typeName: 'coord.v1.Request', count } };
    }
    case 3:
      if (end !== r.pos) throw unsupported;
      return { case: 'heartbeat', value: { $typeName: 'coord.v1.Heartbeat' } };
    case 8: {
      const reports = readRepeated(r, end, readReport);
      return { case: 'reports', value: { $typeName: 'coord.v1.Reports', reports } };
    }
    default:
      return readReportKind(r, field - 3, end) as WorkerMessage['kind'];
  }
}

/** A report on its own (Report, fields 1–3) or in a WorkerMessage (fields 4–6): the same members. */
function readReportKind(r: ProtoReader, field: number, end: number): Report['kind'] {
  switch (field) {
    case 1:
      return { case: 'started', value: readStarted(r, end) };
    case 2:
      return { case: 'complete', value: readComplete(r, end) };
    case 3:
      return { case: 'failed', value: readFailed(r, end) };
    default:
      throw unsupported;
  }
}

function readReport(r: ProtoReader, end: number): Report {
  return {
    $typeName: 'coord.v1.Report',
    kind: readOneof<Report['kind']>(r, end, { case: undefined }, readReportKind),
  };
}

/** Fields 1–3 of Started, Complete and Failed; `more` reads the others or refuses them. */
function readTaskReport(r: ProtoReader, end: number, more: (field: number, wireType: number) => void) {
  let seq = 0;
  let taskId = '';
  let attempt = 0;
  while (r.pos < end) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wireType = tag & 7;
    if (field === 1 && wireType === WIRE_VARINT) seq = r.uint32();
    else if (field === 2 && wireType === WIRE_LEN) taskId = r.string();
    else if (field === 3 && wireType === WIRE_VARINT) attempt = r.uint32();
    else more(field, wireType);
  }
  return { seq, taskId, attempt };
}

const noMore = (): void => {
  throw unsupported;
};

function readStarted(r: ProtoReader, end: number): Started {
  return { $typeName: 'coord.v1.Started', ...readTaskReport(r, end, noMore) };
}

function readComplete(r: ProtoReader, end: number): WireComplete {
  // A result (field 4, a google.protobuf.Value) and a head commit (30) are left to protobuf-es.
  return {
    $typeName: 'coord.v1.Complete',
    ...readTaskReport(r, end, noMore),
    result: undefined,
    headCommit: '',
  };
}

function readFailed(r: ProtoReader, end: number): Failed {
  let error = '';
  let retryable = false;
  const base = readTaskReport(r, end, (field, wireType) => {
    if (field === 4 && wireType === WIRE_LEN) error = r.string();
    else if (field === 5 && wireType === WIRE_VARINT) retryable = r.uint32() !== 0;
    else throw unsupported;
  });
  return { $typeName: 'coord.v1.Failed', ...base, error, retryable };
}

/**
 * Appends `message` to `w` as a gRPC envelope, by hand when it is a proceed, a wait or an ack
 * without errors, with `fallback` (protobuf-es) otherwise.
 */
export function writeCoordinatorEnvelope(
  w: ProtoWriter,
  message: CoordinatorMessageInit,
  fallback: (message: CoordinatorMessageInit) => Uint8Array,
): void {
  writeEnvelope(w, message, writeCoordinatorMessage, fallback);
}

function writeCoordinatorMessage(w: ProtoWriter, message: CoordinatorMessageInit): void {
  const kind = message.kind;
  if (kind === undefined) throw unsupported;
  if (kind.case === 'proceed') {
    w.tag(2, WIRE_LEN);
    const proceed = w.fork();
    for (const a of kind.value.assignments ?? []) {
      w.tag(1, WIRE_LEN);
      const at = w.fork();
      w.stringField(1, a.taskId ?? '');
      w.uint32Field(2, a.attempt ?? 0);
      w.stringField(3, a.category ?? '');
      if (a.metadata !== undefined) {
        w.tag(4, WIRE_LEN);
        const struct = w.fork();
        writeStruct(w, a.metadata);
        w.join(struct);
      }
      const priority = a.priority ?? 0;
      // protobuf-es writes -0 (only +0 is the default).
      if (!Object.is(priority, 0)) {
        w.tag(5, WIRE_I64);
        w.double(priority);
      }
      const deadline = a.leaseDeadline;
      if (deadline !== undefined) {
        w.tag(6, WIRE_LEN);
        const ts = w.fork();
        const seconds = safeNumber(deadline.seconds ?? 0);
        if (seconds !== 0) {
          w.tag(1, WIRE_VARINT);
          w.uint53(seconds);
        }
        const nanos = deadline.nanos ?? 0;
        if (nanos < 0) throw unsupported;
        w.uint32Field(2, nanos);
        w.join(ts);
      }
      w.join(at);
    }
    w.join(proceed);
    return;
  }
  if (kind.case === 'wait') {
    w.tag(3, WIRE_LEN);
    const wait = w.fork();
    w.stringField(1, kind.value.reason ?? '');
    w.join(wait);
    return;
  }
  if (kind.case === 'ack') {
    w.tag(7, WIRE_LEN);
    const ack = w.fork();
    for (const receipt of kind.value.receipts ?? []) {
      if (receipt.error !== undefined) throw unsupported;
      w.tag(1, WIRE_LEN);
      const at = w.fork();
      w.uint32Field(1, receipt.seq ?? 0);
      w.boolField(2, receipt.ok);
      w.join(at);
    }
    w.join(ack);
    return;
  }
  throw unsupported;
}

/** A non-negative int64 that fits a number, as one; anything else is left to protobuf-es. */
export function safeNumber(value: bigint | number | string): number {
  const n = typeof value === 'number' ? value : typeof value === 'bigint' ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 0) throw unsupported;
  return n;
}

/** A JsonObject as google.protobuf.Struct, as protobuf-es writes it (keys in property order). */
export function writeStruct(w: ProtoWriter, object: JsonObject): void {
  for (const key of Object.keys(object)) {
    if (key === '__proto__') throw unsupported; // protobuf-es's own handling, whatever it is
    w.tag(1, WIRE_LEN);
    const entry = w.fork();
    w.tag(1, WIRE_LEN);
    w.string(key);
    w.tag(2, WIRE_LEN);
    const value = w.fork();
    writeValue(w, object[key]);
    w.join(value);
    w.join(entry);
  }
}

function writeValue(w: ProtoWriter, value: JsonValue | undefined): void {
  if (value === null) {
    w.tag(1, WIRE_VARINT);
    w.uint32(0);
  } else if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw unsupported;
    w.tag(2, WIRE_I64);
    w.double(value);
  } else if (typeof value === 'string') {
    w.tag(3, WIRE_LEN);
    w.string(value);
  } else if (typeof value === 'boolean') {
    w.tag(4, WIRE_VARINT);
    w.uint32(value ? 1 : 0);
  } else if (Array.isArray(value)) {
    w.tag(6, WIRE_LEN);
    const list = w.fork();
    for (const item of value) {
      w.tag(1, WIRE_LEN);
      const at = w.fork();
      writeValue(w, item);
      w.join(at);
    }
    w.join(list);
  } else if (typeof value === 'object') {
    w.tag(5, WIRE_LEN);
    const struct = w.fork();
    writeStruct(w, value);
    w.join(struct);
  } else {
    throw unsupported;
  }
}
