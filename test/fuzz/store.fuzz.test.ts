import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { assertOnLiveServers, fuzzTimeout } from './fuzz-property.js';
import { runCases } from './fuzz-run.js';
import { fuzzSettings } from './fuzz-settings.js';
import { sendJsonCase } from './http-send.js';
import { startLiveServer } from './live-server.js';
import { restCaseArb } from './rest-requests.js';

const settings = fuzzSettings(10);

describe('Fuzz: REST JSON on the SQLite store, then a restart', function () {
  fuzzTimeout(this, settings);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'baton-fuzz-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  let run = 0;
  it('stores exactly what the model predicts: a restart reads back every task and the lifecycle as they were', () =>
    assertOnLiveServers(
      settings,
      restCaseArb,
      async (live, cases) => {
        await runCases(live, cases, sendJsonCase);
        const last = await live.read();
        await live.server.committed();
        await live.close();
        const again = await startLiveServer(live.options);
        try {
          const restored = await again.read();
          expect(restored.state, 'lifecycle after a restart').to.equal(last.state);
          expect([...restored.tasks.values()], 'tasks after a restart').to.deep.equal([
            ...last.tasks.values(),
          ]);
        } finally {
          await again.close();
        }
      },
      () => ({ store: 'sqlite', dbPath: join(dir, `run-${++run}.db`) }),
    ));
});
