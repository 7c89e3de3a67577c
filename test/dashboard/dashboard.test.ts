import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import {
  type AdminClient,
  createAdminClient,
  createWorker,
  type NewTask,
  type TaskContext,
  TaskStatus,
  type Worker,
  type WorkerTask,
} from '../../src/client/index.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { makeFleet } from '../auth/support.js';
import { launchChromium, whyNoBrowser } from './browser.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
/**
 * Where the mid-run screenshot goes: `npm run screenshot` sets BATON_SCREENSHOT=docs/dashboard.png
 * (the README's picture); a plain test run writes it to the temporary folder, so that `npm test`
 * leaves the work tree as it found it.
 */
const screenshotPath = (dir: string, view = ''): string => {
  const path = process.env.BATON_SCREENSHOT;
  const name = path === undefined ? join(dir, 'dashboard.png') : join(REPO, path);
  return view === '' ? name : name.replace(/\.png$/, `-${view}.png`);
};

/** A release pipeline: plan, then build/test/docs per package, then a review (held) and a publish. */
function pipeline(): NewTask[] {
  const packages = ['core', 'server', 'client', 'cli', 'web', 'wire'];
  const tasks: NewTask[] = [{ id: 'plan', category: 'plan', metadata: { prompt: 'split the release' } }];
  for (const p of packages) {
    tasks.push({ id: `build-${p}`, deps: ['plan'], category: 'code', metadata: { package: p } });
    tasks.push({ id: `test-${p}`, deps: [`build-${p}`], category: 'test', metadata: { package: p } });
    tasks.push({ id: `docs-${p}`, deps: [`build-${p}`], category: 'docs', metadata: { package: p } });
  }
  tasks.push({ id: 'integrate', deps: packages.map((p) => `test-${p}`), category: 'test' });
  tasks.push({ id: 'review', deps: ['plan'], category: 'review', metadata: { prompt: 'wait for a human' } });
  tasks.push({ id: 'publish', deps: ['integrate', 'review'], category: 'release' });
  return tasks;
}

const statusOf = (page: Page, id: string) =>
  page.locator(`tr[data-task="${id}"] .badge`).textContent({ timeout: 10_000 });

async function waitForText(page: Page, selector: string, text: string, timeout = 15_000) {
  await page.waitForSelector(`${selector}:text-is(${JSON.stringify(text)})`, { timeout });
}

describe('The dashboard, in headless Chromium', function () {
  this.timeout(60_000);
  let browser: Browser | undefined;
  let server: BatonServer | undefined;
  let admin: AdminClient;
  const workers: Worker[] = [];
  let dir: string;
  const skipWhy = whyNoBrowser();

  before(async function () {
    if (skipWhy !== undefined) {
      console.log(`      skipped: the dashboard browser tests need Chromium: ${skipWhy}`);
      this.skip();
    }
    browser = await launchChromium();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'baton-dash-'));
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop({ signal: AbortSignal.abort() })));
    await server?.close();
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });
  after(async () => {
    await browser?.close();
  });

  it('shows tasks move from pending to complete as SDK workers run a DAG, cancels one from the page, and takes a screenshot', async () => {
    server = await startServer({
      port: 0,
      store: 'memory',
      maxRequestsPerMinute: 600,
      maxTokensPerMinute: 120_000,
      globalBudgetUsd: 2,
      perWorkerBudgetUsd: 1,
    });
    admin = createAdminClient({ url: server.url });
    await admin.addTasks(pipeline());
    const page = await browser!.newPage({ viewport: { width: 1440, height: 1000 }, deviceScaleFactor: 1 });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    await waitForText(page, '[data-testid="connection"]', 'live');
    expect(await statusOf(page, 'build-core')).to.equal('pending');
    expect(await page.textContent('[data-testid="count-ready"]')).to.equal('1');
    expect(await page.textContent('[data-testid="lifecycle"]')).to.equal('running');

    // Workers: ordinary tasks take a moment; `review` waits for a human until cancelled.
    let releaseDocs!: () => void;
    const docsGate = new Promise<void>((resolve) => {
      releaseDocs = resolve;
    });
    // Each task asks the shared rate limiter for tokens and reports its cost: docs cost the most.
    const handlerOf = (self: () => Worker) => async (task: WorkerTask, ctx: TaskContext) => {
      if (task.id === 'review') {
        await new Promise((_, reject) =>
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
        );
      }
      if (task.category === 'docs') await docsGate;
      const reservation = await self().acquire(2000);
      await new Promise((r) => setTimeout(r, 40 + (task.id.length % 5) * 30));
      await reservation.settle(1500);
      await ctx.reportCost({
        totalUsd: task.category === 'docs' ? 0.15 : 0.04,
        inputTokens: 1200,
        outputTokens: 300,
      });
      return { ok: true, by: task.id };
    };
    const fleet: [string, string[], number][] = [
      ['agent-1', ['plan', 'code', 'test'], 2],
      ['agent-2', ['code', 'test', 'release'], 2],
      ['agent-3', ['docs'], 2],
      ['reviewer', ['review'], 1],
    ];
    for (const [id, capabilities, maxConcurrency] of fleet) {
      const w: Worker = createWorker({
        url: server.url,
        id,
        capabilities,
        maxConcurrency,
        handler: handlerOf(() => w),
      });
      workers.push(w);
    }
    await Promise.all(workers.map((w) => w.start()));

    // The page follows the run from events alone.
    await waitForText(page, 'tr[data-task="integrate"] .badge', 'complete');
    expect(await statusOf(page, 'build-core')).to.equal('complete');
    await waitForText(page, 'tr[data-task="review"] .badge', 'running');

    // A screenshot mid-run: docs held, review running, the rest complete.
    const shot = await page.screenshot({ path: screenshotPath(dir), animations: 'disabled' });
    expect(shot.length).to.be.greaterThan(10_000);

    // Cancel `review` from the page: its confirmation, then the cascade to `publish`.
    await page.click('tr[data-task="review"] button[data-action="cancel"]');
    await page.click('.dialog button[data-confirm]');
    await waitForText(page, 'tr[data-task="review"] .badge', 'cancelled');
    await waitForText(page, 'tr[data-task="publish"] .badge', 'cancelled');
    expect((await admin.getTask('review')).status).to.equal(TaskStatus.CANCELLED);

    releaseDocs();
    await waitForText(page, 'tr[data-task="docs-wire"] .badge', 'complete');
    await waitForText(page, '[data-testid="count-complete"]', String(pipeline().length - 2));

    // The workers view: load, the rate limiter's per-worker usage, and budgets with the 80 % line.
    await page.click('nav a[href="#/workers"]');
    await page.waitForSelector('tr[data-worker="agent-3"]');
    expect(await page.locator('tr[data-worker]').count()).to.equal(4);
    await waitForText(page, '[data-budget="agent-3"] .flag', 'warning');
    expect(await page.textContent('[data-budget="agent-1"] .flag')).to.equal('');
    expect(await page.locator('.rate tbody tr').count()).to.equal(3);
    expect(await page.locator('[data-budget] .mark').count()).to.be.greaterThan(0);
    await page.screenshot({ path: screenshotPath(dir, 'workers'), animations: 'disabled' });
    expect(errors).to.deep.equal([]);
    await page.close();
  });

  it('says so when the connection drops, reconnects, and catches up on what it missed', async () => {
    const dbPath = join(dir, 'baton.db');
    server = await startServer({ port: 0, store: 'sqlite', dbPath });
    const { port } = server;
    admin = createAdminClient({ url: server.url });
    await admin.addTasks([{ id: 'a' }, { id: 'b', deps: ['a'] }]);
    const page = await browser!.newPage();
    await page.goto(server.url);
    await waitForText(page, '[data-testid="connection"]', 'live');
    expect(await statusOf(page, 'a')).to.equal('pending');

    await server.close();
    await page.waitForSelector('[data-testid="connection"][data-state="reconnecting"]');
    expect(await page.textContent('[data-testid="connection"]')).to.match(/connection lost/);

    server = await startServer({ port, store: 'sqlite', dbPath });
    admin = createAdminClient({ url: server.url });
    await admin.cancelTask('a');
    await page.waitForSelector('[data-testid="connection"][data-state="live"]', { timeout: 20_000 });
    await waitForText(page, 'tr[data-task="a"] .badge', 'cancelled');
    await waitForText(page, 'tr[data-task="b"] .badge', 'cancelled');
    await page.close();
  });

  it('asks for a token when the server checks them, then shows what a reader may see and says what it may not do', async () => {
    const tokens = makeFleet();
    server = await startServer({ port: 0, store: 'memory', auth: { tokens: tokens.entries } });
    admin = createAdminClient({ url: server.url, token: tokens.admin });
    await admin.addTasks([{ id: 'a' }]);
    const page = await browser!.newPage();
    await page.goto(server.url);
    await page.waitForSelector('[data-testid="connection"][data-state="locked"]');
    expect(await page.textContent('.sign-in')).to.match(/needs a token/);

    await page.fill('.sign-in input', tokens.reader);
    await page.click('.sign-in button[type="submit"]');
    await waitForText(page, '[data-testid="connection"]', 'live');
    expect(await statusOf(page, 'a')).to.equal('pending');

    await page.click('tr[data-task="a"] button[data-action="cancel"]');
    await page.click('.dialog button[data-confirm]');
    await page.waitForSelector('.notice.error');
    expect(await page.textContent('.notice.error')).to.match(/role reader may not call/);
    expect((await admin.getTask('a')).status).to.equal(TaskStatus.PENDING);
    await page.close();
  });
});
