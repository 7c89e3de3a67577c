import { expect } from 'chai';
import * as fc from 'fast-check';
import { expectHttpStatus, expectNoLeak } from './answer-checks.js';
import { seedGraphArb } from './coordinator-ops.js';
import { type Answer, runCases } from './fuzz-run.js';
import { fuzzSettings, propertyParameters } from './fuzz-settings.js';
import { sendHttp } from './http-send.js';
import type { LiveServer } from './live-server.js';
import { startLiveServer } from './live-server.js';
import { type HttpCase, restCaseArb } from './rest-requests.js';
import type { Lifecycle } from './task-model.js';

const settings = fuzzSettings(25);

async function sendRest(live: LiveServer, c: HttpCase, state: Lifecycle): Promise<Answer> {
  const reply = await sendHttp(live.url, c.request);
  const what = `${c.label}: ${c.request.method} ${c.request.path.slice(0, 80)}`;
  const summary = `${reply.status} ${reply.text.slice(0, 300)}`;
  expectHttpStatus(reply.status, state, `${what} → ${summary}`);
  expectNoLeak(reply.text, `${what} → ${summary}`);
  const accepted = reply.status >= 200 && reply.status < 300;
  if (!accepted && c.request.method !== 'HEAD') {
    const body = JSON.parse(reply.text) as { message?: unknown };
    expect(body.message, `${what} → ${summary}: a refusal says why`).to.be.a('string').and.not.equal('');
  }
  return { accepted, summary };
}

describe('Fuzz: REST JSON', function () {
  if (settings.long) this.timeout(0);
  else this.timeout(60_000);

  it('answers random and mutated requests without a 5xx or a leak, and changes the state only as the model says', async () => {
    await fc.assert(
      fc.asyncProperty(
        seedGraphArb,
        fc.array(restCaseArb, { minLength: 1, maxLength: settings.maxRequests }),
        async (seed, cases) => {
          const live = await startLiveServer();
          try {
            await live.seed(seed);
            await runCases(live, cases, sendRest);
          } finally {
            await live.close();
          }
        },
      ),
      propertyParameters(settings),
    );
  });
});
