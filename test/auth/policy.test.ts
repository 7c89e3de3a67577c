import { expect } from 'chai';
import {
  boundWorkerId,
  decide,
  type Principal,
  ROLES,
  ROUTE_ROLES,
  rolesOf,
} from '../../src/server/auth/policy.js';
import {
  authLine,
  bearerToken,
  createToken,
  createVerifier,
  parseAuthFile,
} from '../../src/server/auth/tokens.js';
import {
  CoordinatorService,
  RateLimitService,
  WorkerService,
  WorkspaceService,
} from '../../src/server/codec/proto.js';
import { Health } from '../../src/server/services/health-service.js';
import { ServerReflectionV1, ServerReflectionV1alpha } from '../../src/server/services/reflection-service.js';

const who = (role: Principal['role'], workerId?: string): Principal => ({
  name: workerId ?? role,
  role,
  ...(workerId === undefined ? {} : { workerId }),
});

describe('Auth policy (roles x routes)', () => {
  it('names every method the server serves, so no new RPC is admin-only by accident', () => {
    const services = [
      CoordinatorService,
      WorkspaceService,
      WorkerService,
      RateLimitService,
      Health,
      ServerReflectionV1,
      ServerReflectionV1alpha,
    ];
    const missing = services
      .flatMap((s) => s.methods.map((m) => `${s.typeName}/${m.name}`))
      .filter((route) => ROUTE_ROLES[route] === undefined);
    expect(
      missing,
      `add these to ROUTE_ROLES in src/server/auth/policy.ts: ${missing.join(', ')}`,
    ).to.deep.equal([]);
  });

  it('gives each role exactly its rows of the table', () => {
    const allowed = (role: Principal['role']) =>
      Object.keys(ROUTE_ROLES).filter((route) => decide(route, who(role, 'w')).allowed);
    const stop = 'coord.v1.CoordinatorService/Stop';
    const add = 'coord.v1.CoordinatorService/AddTask';
    const status = 'coord.v1.CoordinatorService/GetStatus';
    const session = 'coord.v1.WorkerService/Session';
    const rate = 'coord.v1.RateLimitService/Acquire';
    expect(allowed('admin')).to.have.length(Object.keys(ROUTE_ROLES).length);
    expect(allowed('operator')).to.include.members([add, status]).and.not.include.members([stop, session]);
    expect(allowed('reader')).to.include(status).and.not.include.members([add, stop, session]);
    // A worker token: the worker and rate-limit streams, its own branch's merge, and the public probes.
    expect(allowed('worker').filter((r) => rolesOf(r) !== 'public')).to.deep.equal([
      'coord.v1.WorkspaceService/EnqueueMerge',
      session,
      rate,
    ]);
    expect(ROLES).to.deep.equal(['admin', 'operator', 'reader', 'worker']);
  });

  it('refuses an unknown route to everyone but admin, and lets anyone reach the probes', () => {
    expect(decide('POST /somewhere', who('operator')).allowed).to.equal(false);
    expect(decide('POST /somewhere', who('admin')).allowed).to.equal(true);
    expect(decide('GET /healthz', undefined).allowed).to.equal(true);
    expect(decide('grpc.health.v1.Health/Check', undefined).allowed).to.equal(true);
  });

  it('says unauthenticated without a principal and permission-denied for the wrong role, naming the route', () => {
    expect(decide('coord.v1.CoordinatorService/Stop', undefined, 'unknown bearer token')).to.deep.include({
      allowed: false,
      code: 'unauthenticated',
    });
    const denied = decide('coord.v1.CoordinatorService/Stop', who('operator'));
    expect(denied).to.deep.include({ allowed: false, code: 'permission-denied' });
    expect(denied.allowed === false && denied.message).to.match(
      /operator may not call coord\.v1\.CoordinatorService\/Stop/,
    );
  });

  it('binds only worker tokens to a worker id', () => {
    expect(boundWorkerId(who('worker', 'agent-1'))).to.equal('agent-1');
    expect(boundWorkerId(who('admin'))).to.equal(undefined);
    expect(boundWorkerId(undefined)).to.equal(undefined);
  });
});

describe('Auth tokens', () => {
  it('are 256 random bits, stored as a sha256 line the verifier recognises', () => {
    const token = createToken();
    expect(token).to.match(/^baton_[A-Za-z0-9_-]{43}$/);
    expect(createToken()).to.not.equal(token);
    const line = authLine(token, 'worker', 'agent-1');
    expect(line).to.match(/^worker sha256:[0-9a-f]{64} agent-1$/);
    expect(line).to.not.include(token);
    const verify = createVerifier(
      parseAuthFile(`# fleet\n${line}\n${authLine(createToken(), 'admin')}\n`, 'auth'),
    );
    expect(verify(token)).to.deep.equal({ name: 'agent-1', role: 'worker', workerId: 'agent-1' });
    expect(verify(`${token}x`)).to.equal(undefined);
    expect(verify('')).to.equal(undefined);
  });

  it('refuse a bad auth file line, naming the file and line', () => {
    expect(() => parseAuthFile('admin sha256:00\n', 'tokens.txt')).to.throw(/tokens\.txt:1: expected sha256/);
    expect(() => parseAuthFile(`\nboss sha256:${'0'.repeat(64)}`, 'f')).to.throw(/f:2: role "boss"/);
    expect(() => parseAuthFile(`worker sha256:${'0'.repeat(64)}`, 'f')).to.throw(
      /f:1: a worker token needs a worker id/,
    );
    expect(() => parseAuthFile(`admin sha256:${'0'.repeat(64)} agent-1`, 'f')).to.throw(/only worker tokens/);
    expect(() => authLine(createToken(), 'worker')).to.throw(/--worker/);
    expect(() => authLine(createToken(), 'reader', 'x')).to.throw(/only for worker tokens/);
  });

  it('are read from a Bearer authorization header only', () => {
    expect(bearerToken('Bearer abc')).to.equal('abc');
    expect(bearerToken('bearer abc')).to.equal('abc');
    expect(bearerToken('Basic abc')).to.equal(undefined);
    expect(bearerToken('Bearer')).to.equal(undefined);
    expect(bearerToken(undefined)).to.equal(undefined);
  });
});
