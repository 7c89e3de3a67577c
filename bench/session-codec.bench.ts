import { pathToFileURL } from 'node:url';
import { create, fromBinary, type MessageInitShape, toBinary } from '@bufbuild/protobuf';
import { decodeCoordinatorMessage, writeWorkerEnvelope } from '../src/client/session-codec.js';
import { CoordinatorMessageSchema, WorkerMessageSchema } from '../src/server/codec/proto.js';
import { decodeWorkerMessage, writeCoordinatorEnvelope } from '../src/server/codec/session-codec.js';
import { ProtoWriter } from '../src/wire/protowire.js';
import { fmt, median } from './stats.js';

/**
 * The Session's hot messages through the hand-written codecs, per message, in one process (no
 * network, no scheduling): what a change to client/session-codec.ts, server/codec/session-codec.ts
 * or wire/protowire.ts costs or buys, measured before and after in the same session. The same
 * messages through protobuf-es are the yardstick printed beside them.
 *
 * Run: `npm run build && node dist/bench/session-codec.bench.js [--rounds 5] [--ms 400]`.
 */

type WorkerInit = MessageInitShape<typeof WorkerMessageSchema>;
type CoordinatorInit = MessageInitShape<typeof CoordinatorMessageSchema>;

const report = (
  i: number,
): NonNullable<Extract<WorkerInit['kind'], { case: 'reports' }>['value']['reports']>[number] =>
  i % 3 === 0
    ? { kind: { case: 'started', value: { seq: 1000 + i, taskId: `task-${i}`, attempt: 1 } } }
    : i % 3 === 1
      ? { kind: { case: 'complete', value: { seq: 1000 + i, taskId: `task-${i}`, attempt: 1 } } }
      : {
          kind: {
            case: 'failed',
            value: { seq: 1000 + i, taskId: `task-${i}`, attempt: 2, error: 'rate limited', retryable: true },
          },
        };

/** A worker's batch of 8 reports, as the SDK sends them under load. */
const reports: WorkerInit = {
  kind: { case: 'reports', value: { reports: Array.from({ length: 8 }, (_, i) => report(i)) } },
};

/** Four assignments, each with a small metadata object and a lease deadline. */
const proceed: CoordinatorInit = {
  kind: {
    case: 'proceed',
    value: {
      assignments: Array.from({ length: 4 }, (_, i) => ({
        taskId: `task-${i}`,
        attempt: 1,
        category: 'code',
        metadata: { prompt: 'write the README', n: i },
        priority: i,
        leaseDeadline: { seconds: 1_765_000_000n + BigInt(i), nanos: 250_000_000 },
      })),
    },
  },
};

/** The acknowledgement of a batch of 8 reports. */
const ack: CoordinatorInit = {
  kind: {
    case: 'ack',
    value: { receipts: Array.from({ length: 8 }, (_, i) => ({ seq: 1000 + i, ok: true })) },
  },
};

const slowWorker = (m: WorkerInit) => toBinary(WorkerMessageSchema, create(WorkerMessageSchema, m));
const slowCoordinator = (m: CoordinatorInit) =>
  toBinary(CoordinatorMessageSchema, create(CoordinatorMessageSchema, m));

/**
 * CPU nanoseconds per call of `run`, over about `ms` milliseconds: CPU time, not wall time, so
 * that other processes on a shared machine count less.
 */
export function nsPerCall(run: () => void, ms: number): number {
  for (let i = 0; i < 2_000; i++) run();
  let calls = 0;
  const start = process.cpuUsage();
  const until = Date.now() + ms;
  while (Date.now() < until) {
    for (let i = 0; i < 1_000; i++) run();
    calls += 1_000;
  }
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / calls;
}

const envelope = (write: (w: ProtoWriter) => void): Buffer => {
  const w = new ProtoWriter(256);
  write(w);
  return w.finish();
};

const reportBytes = envelope((w) => writeWorkerEnvelope(w, reports, slowWorker)).subarray(5);
const proceedBytes = envelope((w) => writeCoordinatorEnvelope(w, proceed, slowCoordinator)).subarray(5);
const ackBytes = envelope((w) => writeCoordinatorEnvelope(w, ack, slowCoordinator)).subarray(5);

interface Case {
  readonly name: string;
  readonly fast: () => void;
  readonly library: () => void;
}

const writes = <M>(
  name: string,
  message: M,
  write: (w: ProtoWriter, m: M, fallback: (m: M) => Uint8Array) => void,
  slow: (m: M) => Uint8Array,
): Case => ({ name, fast: () => envelope((w) => write(w, message, slow)), library: () => slow(message) });

const reads = (
  name: string,
  bytes: Uint8Array,
  decode: (b: Uint8Array) => unknown,
  library: () => void,
): Case => ({
  name,
  fast: () => decode(bytes),
  library,
});

export const cases: readonly Case[] = [
  writes('worker writes 8 reports', reports, writeWorkerEnvelope, slowWorker),
  reads('server reads 8 reports', reportBytes, decodeWorkerMessage, () =>
    fromBinary(WorkerMessageSchema, reportBytes),
  ),
  writes('server writes a proceed of 4', proceed, writeCoordinatorEnvelope, slowCoordinator),
  reads('worker reads a proceed of 4', proceedBytes, decodeCoordinatorMessage, () =>
    fromBinary(CoordinatorMessageSchema, proceedBytes),
  ),
  writes('server writes an ack of 8', ack, writeCoordinatorEnvelope, slowCoordinator),
  reads('worker reads an ack of 8', ackBytes, decodeCoordinatorMessage, () =>
    fromBinary(CoordinatorMessageSchema, ackBytes),
  ),
];

export function benchSessionCodec(rounds: number, ms: number): void {
  const fast = cases.map(() => [] as number[]);
  const library = cases.map(() => [] as number[]);
  for (let round = 0; round < rounds; round++) {
    cases.forEach((c, i) => {
      fast[i]?.push(nsPerCall(c.fast, ms));
      library[i]?.push(nsPerCall(c.library, ms));
    });
  }
  console.log(
    `Session codecs, ns per message (median of ${rounds} rounds of ${ms} ms; Node ${process.versions.node})`,
  );
  cases.forEach((c, i) => {
    const f = median(fast[i] ?? []);
    const l = median(library[i] ?? []);
    console.log(
      `  ${c.name.padEnd(30)} hand ${fmt(f).padStart(6)}  protobuf-es ${fmt(l).padStart(6)}  = ${(l / f).toFixed(1)}x`,
    );
  });
}

const argValue = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  benchSessionCodec(argValue('rounds', 5), argValue('ms', 400));
}
