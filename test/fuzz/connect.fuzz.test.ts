import { connectCaseArb } from './connect-requests.js';
import { assertOnLiveServers, fuzzTimeout } from './fuzz-property.js';
import { runCases } from './fuzz-run.js';
import { fuzzSettings } from './fuzz-settings.js';
import { sendJsonCase } from './http-send.js';

const settings = fuzzSettings(25);

describe('Fuzz: Connect JSON', function () {
  fuzzTimeout(this, settings);

  it('answers random and mutated unary calls without a 5xx, an internal code or a leak, and changes the state only as the model says', () =>
    assertOnLiveServers(settings, connectCaseArb, (live, cases) => runCases(live, cases, sendJsonCase)));
});
