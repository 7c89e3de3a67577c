import { assertOnLiveServers, fuzzTimeout } from './fuzz-property.js';
import { fuzzSettings } from './fuzz-settings.js';
import { createWorkerFleet } from './worker-fleet.js';
import { stepArb } from './worker-steps.js';

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
        const fleet = createWorkerFleet(live, headers);
        try {
          await fleet.run(steps);
        } finally {
          fleet.close();
        }
      }));
  }
});
