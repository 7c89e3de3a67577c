import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import { createAdminClient, createWorker, type TaskContext, type Worker } from '../../src/client/index.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { commitWork } from '../workspaces/commit-work.js';
import { createTempRepo, type TempRepo } from '../workspaces/temp-repo.js';
import { launchOrSkip, screenshotPath } from './browser.js';

describe('The dashboard repository view, in headless Chromium', function () {
  this.timeout(60_000);
  let browser: Browser | undefined;
  let server: BatonServer | undefined;
  let repo: TempRepo | undefined;
  const workers: Worker[] = [];

  before(async function () {
    browser = await launchOrSkip(this);
  });
  afterEach(async () => {
    await Promise.all(
      workers.splice(0).map((w) => w.stop({ signal: AbortSignal.timeout(2000) }).catch(() => {})),
    );
    await server?.close();
    server = undefined;
    repo?.remove();
    repo = undefined;
  });
  after(async () => {
    await browser?.close();
  });

  it('is not offered when the server has no repository', async () => {
    server = await startServer({ port: 0, store: 'memory' });
    const page = await browser!.newPage();
    await page.goto(server.url);
    await page.waitForSelector('[data-testid="connection"][data-state="live"]');
    await page.waitForSelector('nav a[href="#/graph"]');
    expect(await page.locator('nav a[href="#/repo"]').count()).to.equal(0);
    await page.close();
  });

  it('shows the conflict matrix, the merge queue and the workspaces as workers commit and land', async () => {
    repo = await createTempRepo('baton-dash-repo-');
    server = await startServer({
      port: 0,
      store: 'memory',
      repo: { repo: repo.path, check: 'test -f README' },
    });
    const admin = createAdminClient({ url: server.url });
    const page = await browser!.newPage({ viewport: { width: 1440, height: 1000 } });
    await page.goto(`${server.url}/#/repo`);
    await page.waitForSelector('nav a[href="#/repo"]');

    // Two agents edit the same file on their own branches; a third lands its feature.
    const edit = (text: string) => async (_task: unknown, context: TaskContext) => {
      await commitWork(context, { 'shared.txt': `${text}\n` });
      return null;
    };
    const fleet: [string, (t: unknown, c: TaskContext) => Promise<null>][] = [
      ['alice', edit('alice')],
      ['bob', edit('bob')],
      [
        'lander',
        async (_task, context) => {
          await commitWork(context, { 'feature.txt': 'done\n' });
          return null;
        },
      ],
    ];
    for (const [id, handler] of fleet) {
      workers.push(
        createWorker({
          url: server.url,
          id,
          capabilities: [id],
          maxConcurrency: 1,
          workspace: true,
          handler,
        }),
      );
    }
    await Promise.all(workers.map((w) => w.start()));
    await admin.addTasks([
      { id: 'one', category: 'alice' },
      { id: 'two', category: 'bob' },
      { id: 'feature', category: 'lander', land: true },
    ]);

    await page.waitForSelector('td.conflict[data-pair="baton/alice|baton/bob"]', { timeout: 20_000 });
    await page.click('td.conflict[data-pair="baton/alice|baton/bob"] button');
    expect(await page.textContent('[data-testid="conflict-paths"] pre')).to.equal('shared.txt');
    await page.waitForSelector('[data-entry] .badge:text-is("landed")', { timeout: 20_000 });
    expect(await page.locator('tr[data-workspace]').count()).to.equal(3);
    await page.screenshot({ path: screenshotPath(repo.path, 'repo'), animations: 'disabled' });
    await page.close();
  });
});
