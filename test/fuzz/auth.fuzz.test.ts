import { expect } from 'chai';
import * as fc from 'fast-check';
import { makeFleet } from '../auth/support.js';
import { assertOnLiveServers, fuzzTimeout } from './fuzz-property.js';
import { type FuzzCase, labelled, runCases } from './fuzz-run.js';
import { fuzzSettings } from './fuzz-settings.js';
import { type HttpCase, sendJsonCase } from './http-send.js';
import { restCaseArb } from './rest-requests.js';
import type { Op } from './task-model.js';

const settings = fuzzSettings(15);

type Caller = 'admin' | 'operator' | 'reader' | 'agent1' | 'no token' | 'a forged token';

/**
 * Who may make each call, from the roles table of docs/security.md (written out again here, not
 * read from src/server/auth/policy.ts, so that the spec checks the table rather than repeats it).
 */
const MAY: Readonly<Record<Op['kind'], readonly Caller[]>> = {
  get: ['admin', 'operator', 'reader'],
  list: ['admin', 'operator', 'reader'],
  read: ['admin', 'operator', 'reader'],
  add: ['admin', 'operator'],
  batch: ['admin', 'operator'],
  cancel: ['admin', 'operator'],
  retry: ['admin', 'operator'],
  delete: ['admin', 'operator'],
  purge: ['admin'],
  start: ['admin'],
  drain: ['admin'],
  stop: ['admin'],
};

interface AuthCase extends HttpCase {
  readonly caller: Caller;
}

const callerArb = fc.constantFrom<Caller>(
  'admin',
  'operator',
  'reader',
  'agent1',
  'no token',
  'a forged token',
);

const authCaseArb: fc.Arbitrary<AuthCase> = fc.tuple(restCaseArb, callerArb).map(([c, caller]) =>
  labelled({
    ...c,
    caller,
    forbidden: !MAY[c.op.kind].includes(caller),
    label: `${c.label}, as ${caller}`,
  }),
);

describe('Fuzz: REST JSON with tokens and roles', function () {
  fuzzTimeout(this, settings);
  const fleet = makeFleet();
  const tokenOf = (caller: Caller): string | undefined =>
    caller === 'no token' ? undefined : caller === 'a forged token' ? 'baton_forged' : fleet[caller];

  it('refuses every call a role may not make with 401 or 403 and changes nothing; what a role may do is held to the model', () =>
    assertOnLiveServers(
      settings,
      authCaseArb,
      (live, cases) =>
        runCases(live, cases, async (l, c: AuthCase & FuzzCase, state) => {
          const token = tokenOf(c.caller);
          const request = {
            ...c.request,
            headers: {
              ...c.request.headers,
              ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
            },
          };
          const answer = await sendJsonCase(l, { ...c, request }, state);
          if (c.forbidden === true && c.expect === 'model') {
            const status = Number(answer.summary.split(' ')[0]);
            const want = c.caller === 'no token' || c.caller === 'a forged token' ? 401 : 403;
            expect(status, `${c.label}: ${answer.summary}`).to.equal(want);
          }
          return answer;
        }),
      () => ({ auth: { tokens: fleet.entries } }),
      fleet.admin,
    ));
});
