import * as fc from 'fast-check';
import type { ServerOptions } from '../../src/server/server.js';
import { seedGraphArb } from './coordinator-ops.js';
import { type FuzzSettings, propertyParameters } from './fuzz-settings.js';
import { type LiveServer, startLiveServer } from './live-server.js';

/**
 * The property every fuzz spec asserts: per run, a fresh server seeded with a small graph, then
 * the run's random cases, which `run` sends and holds to the oracle.
 */
export function assertOnLiveServers<C>(
  settings: FuzzSettings,
  caseArb: fc.Arbitrary<C>,
  run: (live: LiveServer, cases: readonly C[]) => Promise<void>,
  options: () => ServerOptions = () => ({}),
  token?: string,
): Promise<void> {
  return fc.assert(
    fc.asyncProperty(
      seedGraphArb,
      fc.array(caseArb, { minLength: 1, maxLength: settings.maxRequests }),
      async (seed, cases) => {
        const live = await startLiveServer(options(), token);
        try {
          await live.seed(seed);
          await run(live, cases);
        } finally {
          await live.close();
        }
      },
    ),
    propertyParameters(settings),
  );
}

/** A spec's timeout: a minute when bounded, none under `npm run fuzz`. */
export function fuzzTimeout(suite: Mocha.Suite, settings: FuzzSettings): void {
  suite.timeout(settings.long ? 0 : 60_000);
}
