import {
  create,
  type DescMessage,
  equals,
  fromBinary,
  type JsonObject,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { expect } from 'chai';
import fc from 'fast-check';
import { decodeCoordinatorMessage, writeWorkerEnvelope } from '../../src/client/session-codec.js';
import { CoordinatorMessageSchema, WorkerMessageSchema } from '../../src/server/codec/proto.js';
import { decodeWorkerMessage, writeCoordinatorEnvelope } from '../../src/server/codec/session-codec.js';
import { ProtoWriter } from '../../src/wire/protowire.js';
import type { CoordinatorMessageInit, WorkerMessageInit } from '../support/session-messages.js';

/**
 * The hand-written Session codecs against protobuf-es: the same bytes out, the same messages in,
 * and protobuf-es's own path for whatever they leave to it.
 */

const slowWorker = (m: WorkerMessageInit) => toBinary(WorkerMessageSchema, create(WorkerMessageSchema, m));
const slowCoordinator = (m: CoordinatorMessageInit) =>
  toBinary(CoordinatorMessageSchema, create(CoordinatorMessageSchema, m));

/** The message bytes of the one envelope `write` produced. */
function unwrap(write: (w: ProtoWriter) => void): Buffer {
  const w = new ProtoWriter(8);
  write(w);
  const frame = w.finish();
  expect(frame[0]).to.equal(0);
  expect(frame.readUInt32BE(1)).to.equal(frame.length - 5);
  return frame.subarray(5);
}

const uint32 = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 1, max: 300 }),
  fc.integer({ min: 0, max: 0xffff_ffff }),
);
const text = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.string({ unit: 'grapheme', maxLength: 60 }),
  fc.string({ minLength: 40, maxLength: 200 }),
);
const taskReport = fc.record({ seq: uint32, taskId: text, attempt: uint32 });
const report = fc.oneof(
  taskReport.map((value) => ({ case: 'started' as const, value })),
  taskReport.map((value) => ({ case: 'complete' as const, value })),
  fc
    .record({ seq: uint32, taskId: text, attempt: uint32, error: text, retryable: fc.boolean() })
    .map((value) => ({ case: 'failed' as const, value })),
);
const workerMessage: fc.Arbitrary<WorkerMessageInit> = fc.oneof(
  uint32.map((count) => ({ kind: { case: 'request' as const, value: { count } } })),
  fc.constant({ kind: { case: 'heartbeat' as const, value: {} } }),
  report.map((kind) => ({ kind })),
  fc.array(report, { maxLength: 40 }).map((kinds) => ({
    kind: { case: 'reports' as const, value: { reports: kinds.map((kind) => ({ kind })) } },
  })),
);

const metadata = fc.option(
  fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 3 })).map((o) => o as JsonObject),
  { nil: undefined },
);
const assignment = fc.record({
  taskId: text,
  attempt: uint32,
  category: fc.string({ maxLength: 6 }),
  metadata,
  priority: fc.oneof(fc.constant(0), fc.integer({ min: -5, max: 9 }), fc.double({ noNaN: true })),
  leaseDeadline: fc.option(
    fc.integer({ min: 0, max: 4_102_444_800_000 }).map((ms) => timestampFromMs(ms)),
    { nil: undefined },
  ),
});
const coordinatorMessage: fc.Arbitrary<CoordinatorMessageInit> = fc.oneof(
  fc
    .array(assignment, { maxLength: 20 })
    .map((assignments) => ({ kind: { case: 'proceed' as const, value: { assignments } } })),
  fc
    .array(fc.record({ seq: uint32, ok: fc.boolean() }), { maxLength: 40 })
    .map((receipts) => ({ kind: { case: 'ack' as const, value: { receipts } } })),
  text.map((reason) => ({ kind: { case: 'wait' as const, value: { reason } } })),
);

/**
 * One direction of the Session, over 2,000 generated messages: the hand encoder writes the bytes
 * protobuf-es writes, and the other side's hand decoder reads them as protobuf-es does (or leaves
 * them to it). Counts the messages the decoder read itself and those the encoder left to protobuf-es.
 */
function roundTrips<S extends DescMessage>(
  schema: S,
  messages: fc.Arbitrary<MessageInitShape<S>>,
  write: (w: ProtoWriter, m: MessageInitShape<S>, fallback: (m: MessageInitShape<S>) => Uint8Array) => void,
  decode: (bytes: Uint8Array) => MessageShape<S> | undefined,
): { fast: number; slowWrites: number } {
  const slow = (m: MessageInitShape<S>) => toBinary(schema, create(schema, m));
  let fast = 0;
  let slowWrites = 0;
  const countedSlow = (m: MessageInitShape<S>) => {
    slowWrites++;
    return slow(m);
  };
  fc.assert(
    fc.property(messages, (message) => {
      const bytes = unwrap((w) => write(w, message, countedSlow));
      expect(Buffer.from(slow(message)).equals(bytes)).to.equal(true);
      const expected = fromBinary(schema, bytes);
      const decoded = decode(bytes);
      if (decoded !== undefined) {
        fast++;
        expect(equals(schema, create(schema, decoded as MessageInitShape<S>), expected)).to.equal(true);
      }
    }),
    { numRuns: 2000 },
  );
  return { fast, slowWrites };
}

describe('session codecs', () => {
  it('the worker side writes the bytes protobuf-es writes; the server reads what protobuf-es reads', () => {
    const { fast, slowWrites } = roundTrips(
      WorkerMessageSchema,
      workerMessage,
      writeWorkerEnvelope,
      decodeWorkerMessage,
    );
    expect(fast).to.be.greaterThan(1900);
    expect(slowWrites).to.equal(0);
  });

  it('the server side writes the bytes protobuf-es writes; the worker reads what protobuf-es reads', () => {
    const { fast, slowWrites } = roundTrips(
      CoordinatorMessageSchema,
      coordinatorMessage,
      writeCoordinatorEnvelope,
      decodeCoordinatorMessage,
    );
    expect(fast).to.be.greaterThan(1500);
    expect(slowWrites).to.be.lessThan(20); // only objects with an own __proto__ key
  });

  it('leaves the rare messages to protobuf-es, in the same envelope', () => {
    const workerRare: WorkerMessageInit[] = [
      { kind: { case: 'hello', value: { workerId: 'w1', capabilities: ['a'], labels: { h: 'x' } } } },
      { kind: { case: 'cost', value: { seq: 3, totalUsd: 0.5, inputTokens: 10n, reportId: 'r-1' } } },
      {
        kind: {
          case: 'complete',
          value: { seq: 1, taskId: 't', attempt: 1, result: { kind: { case: 'stringValue', value: 'ok' } } },
        },
      },
    ];
    for (const message of workerRare) {
      const bytes = unwrap((w) => writeWorkerEnvelope(w, message, slowWorker));
      expect(Buffer.from(slowWorker(message)).equals(bytes)).to.equal(true);
      expect(decodeWorkerMessage(bytes)).to.equal(undefined);
    }
    const coordinatorRare: CoordinatorMessageInit[] = [
      { kind: { case: 'welcome', value: { workerId: 'w1', leaseTtlMs: 30_000 } } },
      { kind: { case: 'cancel', value: { taskId: 't', attempt: 2, reason: 'no' } } },
      {
        kind: {
          case: 'ack',
          value: { receipts: [{ seq: 1, ok: false, error: { code: 5, message: 'stale' } }] },
        },
      },
      {
        kind: {
          case: 'proceed',
          value: { assignments: [{ taskId: 't', metadata: { x: Number.POSITIVE_INFINITY } as JsonObject }] },
        },
      },
    ];
    for (const message of coordinatorRare) {
      let bytes: Buffer;
      try {
        bytes = unwrap((w) => writeCoordinatorEnvelope(w, message, slowCoordinator));
      } catch {
        continue; // protobuf-es itself refuses it (a non-finite number in a Struct)
      }
      expect(Buffer.from(slowCoordinator(message)).equals(bytes)).to.equal(true);
      expect(decodeCoordinatorMessage(bytes)).to.equal(undefined);
    }
  });

  it('gives up on unknown fields rather than dropping them', () => {
    // A Started report with an extra field 9.
    const bytes = Uint8Array.from([0x22, 0x04, 0x08, 0x01, 0x48, 0x07]);
    expect(decodeWorkerMessage(bytes)).to.equal(undefined);
    expect(decodeCoordinatorMessage(Uint8Array.from([0x12, 0x02, 0x50, 0x01]))).to.equal(undefined);
  });
});
