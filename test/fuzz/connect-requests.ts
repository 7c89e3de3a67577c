import * as fc from 'fast-check';
import { describeOp, opArb, specObject } from './coordinator-ops.js';
import { type Expectation, labelled } from './fuzz-run.js';
import type { HttpCase, HttpRequest } from './http-send.js';
import { jsonMutationArb, jsonText } from './json-mutations.js';
import type { Op, Status } from './task-model.js';

const SERVICE = '/coord.v1.CoordinatorService';
const statusName = (s: string): string => `TASK_STATUS_${s.toUpperCase()}`;

const STATUS_NUMBER: Readonly<Record<Status, number>> = {
  pending: 1,
  assigned: 2,
  running: 3,
  complete: 4,
  failed: 5,
  cancelled: 6,
};
const READS = {
  status: 'GetStatus',
  progress: 'GetProgress',
  costs: 'GetCosts',
  'rate-limit': 'GetRateLimit',
};
const ISO = { past: '1970-01-02T00:00:00Z', future: '2100-01-01T00:00:00Z' };
const SECONDS = { past: 86_400n, future: 4_102_444_800n };

/**
 * The RPC an op is, with its request twice: proto3 JSON as a Connect client writes it, and the
 * init shape protobuf-es encodes to binary (which, unlike JSON, carries a lone surrogate as it is
 * written: as U+FFFD).
 */
export function rpcRequest(op: Op): {
  method: string;
  json: Record<string, unknown>;
  init: Record<string, unknown>;
} {
  const same = (method: string, message: Record<string, unknown>) => ({
    method,
    json: message,
    init: message,
  });
  switch (op.kind) {
    case 'add':
      return same('AddTask', { task: specObject(op.spec) });
    case 'batch':
      return same('BatchAddTasks', { tasks: op.specs.map(specObject) });
    case 'cancel':
      return same('CancelTask', { id: op.id, reason: 'fuzz' });
    case 'retry':
      return same('RetryTask', { id: op.id });
    case 'delete':
      return same('DeleteTask', { id: op.id });
    case 'get':
      return same('GetTask', { id: op.id });
    case 'purge':
      return {
        method: 'PurgeTasks',
        json: { finishedBefore: ISO[op.before], status: op.statuses.map(statusName) },
        init: {
          finishedBefore: { seconds: SECONDS[op.before] },
          status: op.statuses.map((s) => STATUS_NUMBER[s]),
        },
      };
    case 'list':
      return {
        method: 'ListTasks',
        json: { status: op.statuses.map(statusName), limit: op.limit },
        init: { status: op.statuses.map((s) => STATUS_NUMBER[s]), limit: op.limit },
      };
    case 'read':
      return same(READS[op.what], {});
    case 'start':
      return same('Start', {});
    case 'drain':
      return same('Drain', { reason: 'fuzz' });
    case 'stop':
      return same('Stop', { reason: 'fuzz' });
  }
}

interface RequestMutation {
  readonly label: string;
  readonly expect: Expectation;
  readonly apply: (request: HttpRequest) => HttpRequest;
}

const headers =
  (change: Record<string, string>) =>
  (r: HttpRequest): HttpRequest => ({
    ...r,
    headers: { ...r.headers, ...change },
  });

/** What Connect's unary protocol can get wrong around the message. */
const envelopeMutationArb: fc.Arbitrary<RequestMutation> = fc.oneof(
  fc.constantFrom('text/plain', 'application/x-protobuf', 'application/xml').map((type) => ({
    label: `content-type ${type}`,
    expect: 'reject' as const,
    apply: headers({ 'content-type': type }),
  })),
  fc.constant({
    label: 'a JSON body sent as application/proto',
    expect: 'reject' as const,
    apply: headers({ 'content-type': 'application/proto' }),
  }),
  fc.constantFrom('application/json; charset=utf-8', 'application/json;charset=UTF-8').map((type) => ({
    label: `content-type ${type}`,
    expect: 'ignorable' as const,
    apply: headers({ 'content-type': type }),
  })),
  fc.constantFrom('2', 'one', '').map((version) => ({
    label: `connect-protocol-version ${JSON.stringify(version)}`,
    // connect-node takes any version (the protocol lets a server refuse unknown ones, not must).
    expect: 'ignorable' as const,
    apply: headers({ 'connect-protocol-version': version }),
  })),
  fc.constantFrom('gzip', 'br', 'zstd', 'bogus').map((encoding) => ({
    label: `content-encoding ${encoding} on a plain body`,
    expect: 'reject' as const,
    apply: headers({ 'content-encoding': encoding }),
  })),
  fc.constantFrom('abc', '-1', '99999999999999999999').map((timeout) => ({
    label: `connect-timeout-ms ${timeout}`,
    expect: 'reject' as const,
    apply: headers({ 'connect-timeout-ms': timeout }),
  })),
  fc.constantFrom('PUT', 'PATCH', 'DELETE').map((method) => ({
    label: `method ${method}`,
    expect: 'reject' as const,
    apply: (r: HttpRequest) => ({ ...r, method }),
  })),
  fc
    .constantFrom(
      (p: string) => p.toLowerCase(),
      (p: string) => p.replace(SERVICE, '/coord.v1.NoSuchService'),
      (p: string) => p.replace(/\/[A-Za-z]+$/, '/NoSuchMethod'),
      (p: string) => `${p}/extra`,
      (p: string) => `/prefix${p}`,
      (p: string) => p.replace('CoordinatorService', 'WorkerService'),
    )
    .map((change) => ({
      label: `path ${change(`${SERVICE}/AddTask`)}`,
      expect: 'reject' as const,
      apply: (r: HttpRequest) => ({ ...r, path: change(r.path) }),
    })),
);

/** A Connect JSON case: an op as its RPC, as is (most often) or mutated once. */
export const connectCaseArb: fc.Arbitrary<HttpCase> = opArb.chain((op) => {
  const { method, json: message } = rpcRequest(op);
  const request: HttpRequest = {
    method: 'POST',
    path: `${SERVICE}/${method}`,
    headers: { 'content-type': 'application/json' },
    body: jsonText(message),
  };
  const bodyMutation = jsonMutationArb(message).map(
    (m): RequestMutation => ({
      label: m.label,
      expect: m.expect,
      apply: (r) => {
        const text = jsonText(m.object?.(message) ?? message);
        return { ...r, body: m.text === undefined ? text : m.text(text) };
      },
    }),
  );
  return fc
    .oneof(
      { weight: 6, arbitrary: fc.constant<RequestMutation>({ label: '', expect: 'model', apply: (r) => r }) },
      { weight: 2, arbitrary: envelopeMutationArb },
      { weight: 3, arbitrary: bodyMutation },
    )
    .map((m) =>
      labelled({
        op,
        expect: m.expect,
        label: `${describeOp(op)} (${method})${m.label === '' ? '' : `, ${m.label}`}`,
        request: m.apply(request),
      }),
    );
});
