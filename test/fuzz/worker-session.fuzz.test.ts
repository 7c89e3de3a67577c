import { makeFleet } from '../auth/support.js';
import { assertOnLiveServers, fuzzTimeout } from './fuzz-property.js';
import { fuzzSettings } from './fuzz-settings.js';
import { createWorkerFleet } from './worker-fleet.js';
import { stepArb, tokenStepArb } from './worker-steps.js';

const settings = fuzzSettings(20);

describe('Fuzz: the worker stream (WorkerService.Session)', function () {
  fuzzTimeout(this, settings);

  // grpc-timeout sends the session through connect-node's handler instead of the fast path.
  for (const [path, headers] of [
    ['the session fast path', {}],
    ['connect-node', { 'grpc-timeout': '600S' }],
  ] as const) {
    it(`over ${path}: out-of-order, forged and foreign reports are refused with a client code and change nothing; accepted ones do what they say`, () =>
      assertOnLiveServers(settings, stepArb, async (live, steps) => {
        const fleet = createWorkerFleet(live, { headers });
        try {
          await fleet.run(steps);
        } finally {
          fleet.close();
        }
      }));
  }

  it('with worker tokens: an impostor hello is PERMISSION_DENIED, and so is every report about the other worker’s tasks', () => {
    const tokens = makeFleet();
    return assertOnLiveServers(
      settings,
      tokenStepArb,
      async (live, steps) => {
        const fleet = createWorkerFleet(live, {
          workerIds: ['agent-1', 'agent-2'],
          tokens: [tokens.agent1, tokens.agent2],
        });
        try {
          await fleet.run(steps);
        } finally {
          fleet.close();
        }
      },
      () => ({ auth: { tokens: tokens.entries } }),
      tokens.admin,
    );
  });
});
