import type { Code } from '@connectrpc/connect';
import { expect } from 'chai';
import { expectClientCode, expectHttpStatus, expectNoLeak } from './answer-checks.js';
import { assertOnLiveServers, fuzzTimeout } from './fuzz-property.js';
import { type Answer, runCases } from './fuzz-run.js';
import { fuzzSettings } from './fuzz-settings.js';
import { type GrpcCase, grpcCaseArb } from './grpc-requests.js';
import { connectH2, type H2Client } from './h2-send.js';
import type { Lifecycle } from './task-model.js';

const settings = fuzzSettings(25);

async function sendGrpc(h2: H2Client, c: GrpcCase, state: Lifecycle): Promise<Answer> {
  const reply = await h2.send(c.headers, c.body);
  const message = decodeURIComponent(reply.headers['grpc-message'] ?? '');
  const status = reply.headers['grpc-status'];
  const summary = `HTTP ${reply.status} grpc-status ${status} ${JSON.stringify(message)} ${reply.body.toString('utf8', 0, 200)}`;
  const what = `${c.label} → ${summary}`;
  expect(reply.reset, `${what}: the server answers`).to.equal(undefined);
  expectHttpStatus(reply.status, state, what);
  expectNoLeak(message, what);
  expectNoLeak(reply.body.toString('utf8'), what);
  if (status === undefined) {
    // Not gRPC at all (no route, no such content type): the HTTP answer says no.
    expect(reply.status, `${what}: an answer without grpc-status`).not.to.equal(200);
    return { accepted: false, summary };
  }
  const code = Number(status) as Code;
  if (code === (0 as Code)) return { accepted: true, summary };
  expectClientCode(code, state, what);
  expect(message, `${what}: a refusal says why`).not.to.equal('');
  return { accepted: false, summary };
}

describe('Fuzz: gRPC binary', function () {
  fuzzTimeout(this, settings);

  it('answers random, truncated and bit-flipped calls with a client code, never INTERNAL, and changes the state only as the model says', () =>
    assertOnLiveServers(settings, grpcCaseArb, async (live, cases) => {
      const h2 = connectH2(live.url);
      try {
        await runCases(live, cases, (_, c, state) => sendGrpc(h2, c, state));
      } finally {
        h2.close();
      }
    }));
});
