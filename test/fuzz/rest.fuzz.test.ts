import { assertOnLiveServers, fuzzTimeout } from './fuzz-property.js';
import { runCases } from './fuzz-run.js';
import { fuzzSettings } from './fuzz-settings.js';
import { sendJsonCase } from './http-send.js';
import { restCaseArb } from './rest-requests.js';

const settings = fuzzSettings(25);

describe('Fuzz: REST JSON', function () {
  fuzzTimeout(this, settings);

  it('answers random and mutated requests without a 5xx or a leak, and changes the state only as the model says', () =>
    assertOnLiveServers(settings, restCaseArb, (live, cases) => runCases(live, cases, sendJsonCase)));
});
