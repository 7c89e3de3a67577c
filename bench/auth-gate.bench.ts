import { performance } from 'node:perf_hooks';
import { authLine, createToken, createVerifier, parseAuthFile } from '../src/server/auth/tokens.js';
import {
  CoordinatorService,
  RateLimitService,
  WorkerService,
  WorkspaceService,
} from '../src/server/codec/proto.js';
import { createRouteOf } from '../src/server/route-of.js';
import { createAuthGate } from '../src/server/transport/auth-gate.js';
import type { NodeHandler } from '../src/server/transport/one-port.js';
import { fmt, median } from './stats.js';

/**
 * What the auth gate costs per request, in process (docs/benchmarks.md, "Auth gate"): the gate of
 * `--auth-file` with 16 tokens, the server's real route table, requests it lets through. Judged:
 * a gRPC call on an open connection (what every client does) against a unary call's server CPU
 * on the fast path (bench:unary, ~70 µs): at most 5 % of it. Shown beside: the first call of a
 * connection (the token hashed and compared with all 16 hashes) and a REST path (URL parsing and
 * the REST route table, which the gateway does again).
 */
const TARGET_SHARE = 0.05;
const UNARY_CALL_US = 70;

type Request = Parameters<NodeHandler>[0];
type Response = Parameters<NodeHandler>[1];

const rounds = 7;
const perRound = 100_000;

const token = createToken();
const lines = [
  authLine(token, 'reader'),
  ...Array.from({ length: 15 }, () => authLine(createToken(), 'admin')),
];
const rpcPaths = new Set(
  [CoordinatorService, WorkspaceService, WorkerService, RateLimitService].flatMap((s) =>
    s.methods.map((m) => `/${s.typeName}/${m.name}`),
  ),
);
let passed = 0;
const { handle: gate } = createAuthGate({
  verify: createVerifier(parseAuthFile(lines.join('\n'), 'bench')),
  routeOf: createRouteOf(rpcPaths, [CoordinatorService, WorkspaceService]),
  // The bench's requests are unary calls: none is kept track of.
  streamingRoutes: new Set(),
  refused: () => {
    throw new Error('the bench request was refused');
  },
  next: () => {
    passed++;
  },
});

const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/grpc' };
const connection = { remoteAddress: '127.0.0.1' };
/** Requests on one long-lived connection, or (`fresh`) each on a new one. */
const requests = (method: string, url: string, fresh = false): (() => Request) => {
  const same = { method, url, headers, socket: connection } as unknown as Request;
  if (!fresh) return () => same;
  return () => ({ method, url, headers, socket: { remoteAddress: '127.0.0.1' } }) as unknown as Request;
};

const grpc = '/coord.v1.CoordinatorService/GetProgress';
const cases: readonly (readonly [string, () => Request, boolean])[] = [
  ['gRPC GetProgress on an open connection', requests('POST', grpc), true],
  ['gRPC GetProgress, first call of a connection', requests('POST', grpc, true), false],
  [
    'REST GET /api/coordination/tasks/{id} on an open connection',
    requests('GET', '/api/coordination/tasks/t-42'),
    false,
  ],
];

const response = {} as Response;
console.log(
  `Auth gate — 16 tokens, ${rounds} rounds of ${fmt(perRound)} requests (Node ${process.versions.node})`,
);
let judged = Number.NaN;
for (const [name, next, judge] of cases) {
  const perCallUs: number[] = [];
  for (let round = 0; round <= rounds; round++) {
    const start = performance.now();
    for (let i = 0; i < perRound; i++) gate(next(), response);
    const us = ((performance.now() - start) * 1000) / perRound;
    if (round > 0) perCallUs.push(us); // round 0 warms up
  }
  const m = median(perCallUs);
  if (judge) judged = m;
  console.log(
    `  ${name}: ${fmt(m, 2)} µs per request (rounds ${perCallUs.map((u) => fmt(u, 2)).join(' / ')})`,
  );
}
if (passed !== cases.length * (rounds + 1) * perRound) throw new Error('not every request went through');
const share = judged / UNARY_CALL_US;
console.log(
  `\nGate on an open connection ÷ a unary call's server CPU (${UNARY_CALL_US} µs): ${(share * 100).toFixed(1)} % ` +
    `(target ≤ ${TARGET_SHARE * 100} %: ${share <= TARGET_SHARE ? 'PASS' : 'FAIL'})`,
);
process.exitCode = share <= TARGET_SHARE ? 0 : 1;
