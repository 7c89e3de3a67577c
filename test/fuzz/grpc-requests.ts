import { create, toBinary } from '@bufbuild/protobuf';
import * as fc from 'fast-check';
import { CoordinatorService } from '../../src/server/codec/proto.js';
import { rpcRequest } from './connect-requests.js';
import { describeOp, opArb } from './coordinator-ops.js';
import { type Expectation, type FuzzCase, labelled } from './fuzz-run.js';

/** A unary gRPC call as raw HTTP/2: its headers and its length-prefixed body. */
export interface GrpcCase extends FuzzCase {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

const GRPC_HEADERS = { 'content-type': 'application/grpc', te: 'trailers' };

/** A gRPC envelope: flags, a 4-byte length (the true one unless told), the message. */
export function envelope(message: Uint8Array, flags = 0, length = message.length): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(length >>> 0, 1);
  return Buffer.concat([head, message]);
}

interface Mutation {
  readonly label: string;
  readonly expect: Expectation;
  readonly headers?: Readonly<Record<string, string>>;
  /** The message bytes after the change. */
  readonly message?: (bytes: Buffer) => Buffer;
  /** The whole body after the change (envelope included). */
  readonly body?: (bytes: Buffer) => Buffer;
}

/** Mutated bytes may still spell another valid request: `any`, held only to the checks on every answer. */
const byteMutationArb = (length: number): fc.Arbitrary<Mutation> =>
  fc.oneof(
    fc.integer({ min: 0, max: Math.max(0, length - 1) }).map((n) => ({
      label: `message cut to ${n} bytes`,
      expect: 'any' as const,
      message: (b: Buffer) => b.subarray(0, n),
    })),
    fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })).map(([at, bit]) => ({
      label: `bit ${bit} of byte ${length === 0 ? 0 : at % length} flipped`,
      expect: 'any' as const,
      message: (b: Buffer) => {
        if (b.length === 0) return b;
        const out = Buffer.from(b);
        const i = at % b.length;
        out[i] = (out[i] as number) ^ (1 << bit);
        return out;
      },
    })),
    fc.uint8Array({ minLength: 1, maxLength: 16 }).map((junk) => ({
      label: `${junk.length} random bytes appended`,
      expect: 'any' as const,
      message: (b: Buffer) => Buffer.concat([b, junk]),
    })),
    fc.constant({
      label: 'an unknown field (111) appended',
      expect: 'ignorable' as const,
      message: (b: Buffer) => Buffer.concat([b, Buffer.from([0xf8, 0x06, 0x01])]),
    }),
    fc.constant({
      label: 'a varint length of 2^63 in front of the message',
      expect: 'reject' as const,
      message: (b: Buffer) =>
        Buffer.concat([Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), b]),
    }),
  );

const envelopeMutationArb = (length: number): fc.Arbitrary<Mutation> =>
  fc.oneof(
    fc.integer({ min: 1, max: 2 ** 20 }).map((k) => ({
      label: `length prefix ${k} too long`,
      expect: 'reject' as const,
      body: (b: Buffer) => {
        const out = Buffer.from(b);
        out.writeUInt32BE(length + k, 1);
        return out;
      },
    })),
    fc.constant({
      label: 'length prefix 2^32-1',
      expect: 'reject' as const,
      body: (b: Buffer) => {
        const out = Buffer.from(b);
        out.writeUInt32BE(0xffffffff, 1);
        return out;
      },
    }),
    fc.constant({
      label: 'compressed flag without an encoding',
      expect: 'reject' as const,
      body: (b: Buffer) => Buffer.concat([Buffer.from([1]), b.subarray(1)]),
    }),
    fc.constantFrom(2, 0x80, 0xff).map((flags) => ({
      label: `flags byte ${flags}`,
      expect: 'any' as const,
      body: (b: Buffer) => Buffer.concat([Buffer.from([flags]), b.subarray(1)]),
    })),
    fc.constant({
      label: 'two messages',
      expect: 'reject' as const,
      body: (b: Buffer) => Buffer.concat([b, b]),
    }),
    fc.constant({ label: 'no message', expect: 'reject' as const, body: () => Buffer.alloc(0) }),
    fc.integer({ min: 1, max: 4 }).map((n) => ({
      label: `a ${n}-byte body`,
      expect: 'reject' as const,
      body: (b: Buffer) => b.subarray(0, n),
    })),
  );

const headerMutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc
    .constantFrom('text/plain', 'application/grpc+json', 'application/json', 'application/grpc+thrift')
    .map((type) => ({
      label: `content-type ${type}`,
      expect: 'reject' as const,
      headers: { 'content-type': type },
    })),
  // The flag byte, 0 here, says whether a message is compressed: the header only names how.
  fc.constantFrom('gzip', 'deflate', 'snappy').map((encoding) => ({
    label: `grpc-encoding ${encoding} on a plain message`,
    expect: 'ignorable' as const,
    headers: { 'grpc-encoding': encoding },
  })),
  fc.constantFrom('abc', '1', '99999999999S', '-5m').map((timeout) => ({
    label: `grpc-timeout ${timeout}`,
    expect: 'reject' as const,
    headers: { 'grpc-timeout': timeout },
  })),
  fc
    .constantFrom(
      '/coord.v1.CoordinatorService/Nope',
      '/coord.v1.Nope/AddTask',
      '/coord.v1.coordinatorservice/addtask',
      '/',
    )
    .map((path) => ({ label: `path ${path}`, expect: 'reject' as const, headers: { ':path': path } })),
  fc.constantFrom('GET', 'PUT').map((method) => ({
    label: `method ${method}`,
    expect: 'reject' as const,
    headers: { ':method': method },
  })),
);

/** A string that is not UTF-8 where the request has an id: refused, naming the field. */
const badUtf8Id = (id: string): Mutation => ({
  label: 'an id that is not UTF-8',
  expect: 'reject',
  message: () => {
    const bytes = Buffer.concat([Buffer.from(id), Buffer.from([0xff])]);
    return Buffer.concat([Buffer.from([0x0a, bytes.length]), bytes]);
  },
});

/** A gRPC case: an op as its RPC in binary protobuf, as is (most often) or mutated once. */
export const grpcCaseArb: fc.Arbitrary<GrpcCase> = opArb.chain((op) => {
  const { method: name, init } = rpcRequest(op);
  const method = CoordinatorService.methods.find((m) => m.name === name);
  if (method === undefined) throw new Error(`no RPC ${name}`);
  const message = Buffer.from(toBinary(method.input, create(method.input, init as never)));
  const mutations: { weight: number; arbitrary: fc.Arbitrary<Mutation> }[] = [
    { weight: 6, arbitrary: fc.constant({ label: '', expect: 'model' }) },
    { weight: 2, arbitrary: byteMutationArb(message.length) },
    { weight: 2, arbitrary: envelopeMutationArb(message.length) },
    { weight: 1, arbitrary: headerMutationArb },
  ];
  if ('id' in op && op.id.length < 100)
    mutations.push({ weight: 1, arbitrary: fc.constant(badUtf8Id(op.id)) });
  return fc.oneof(...mutations).map((m) => {
    const bytes = m.message?.(message) ?? message;
    const body = envelope(bytes);
    return labelled({
      op,
      expect: m.expect,
      label: `${describeOp(op)} (${name})${m.label === '' ? '' : `, ${m.label}`}`,
      headers: { ...GRPC_HEADERS, ':path': `/coord.v1.CoordinatorService/${name}`, ...m.headers },
      body: m.body?.(body) ?? body,
    });
  });
});
