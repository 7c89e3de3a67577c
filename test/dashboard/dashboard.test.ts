import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
import { launchOrSkip, screenshotPath } from './browser.js';

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

  before(async function () {
    browser = await launchOrSkip(this);
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

    // The graph: every task drawn; a click on one opens its details with its deps both ways.
    await page.click('nav a[href="#/graph"]');
    await page.waitForSelector('[data-testid="dag-summary"][data-grouping="tasks"]');
    expect(await page.locator('g.node.task').count()).to.equal(pipeline().length);
    await page.click('g.node[data-node="build-core"]');
    await page.waitForSelector('[data-testid="task-details"] h2:text-is("build-core")');
    const details = (await page.textContent('[data-testid="task-details"]')) ?? '';
    expect(details).to.contain('plan').and.contain('test-core').and.contain('docs-core');
    expect(details).to.match(/Attempts\s*1 of 3/);
    await page.screenshot({ path: screenshotPath(dir, 'graph'), animations: 'disabled' });
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

  it('after a restart whose events it cannot resume (OUT_OF_RANGE), loads the page again and goes live from now', async () => {
    server = await startServer({ port: 0, store: 'memory' });
    const { port } = server;
    admin = createAdminClient({ url: server.url });
    await admin.addTasks(Array.from({ length: 20 }, (_, i) => ({ id: `old-${i}` })));
    const page = await browser!.newPage();
    await page.goto(server.url);
    await waitForText(page, '[data-testid="task-count"]', '20 of 20');

    // The new server numbers its events from 1 again, below the page's last sequence: it refuses
    // the resume, and the page must not retry it for ever.
    await server.close();
    await page.waitForSelector('[data-testid="connection"][data-state="reconnecting"]');
    server = await startServer({ port, store: 'memory' });
    admin = createAdminClient({ url: server.url });
    await admin.addTasks([{ id: 'new' }, { id: 'next', deps: ['new'] }]);
    await page.waitForSelector('[data-testid="connection"][data-state="live"]', { timeout: 20_000 });
    await waitForText(page, '[data-testid="task-count"]', '2 of 2');
    await admin.cancelTask('new');
    await waitForText(page, 'tr[data-task="next"] .badge', 'cancelled');
    await page.close();
  });

  it('drops a deleted task from the page, and the purged ones after a purge', async () => {
    server = await startServer({ port: 0, store: 'memory' });
    admin = createAdminClient({ url: server.url });
    await admin.addTasks([{ id: 'keep' }, { id: 'old-1' }, { id: 'old-2' }, { id: 'old-3' }]);
    const page = await browser!.newPage();
    await page.goto(server.url);
    await waitForText(page, '[data-testid="task-count"]', '4 of 4');
    for (const id of ['old-1', 'old-2', 'old-3']) await admin.cancelTask(id);
    await admin.deleteTask('old-1');
    await waitForText(page, '[data-testid="task-count"]', '3 of 3');
    await admin.purgeTasks({ finishedBefore: new Date(Date.now() + 60_000) });
    await waitForText(page, '[data-testid="task-count"]', '1 of 1');
    expect(await statusOf(page, 'keep')).to.equal('pending');
    expect(await page.getAttribute('[data-testid="connection"]', 'data-state')).to.equal('live');
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

  it('draws 10,000 tasks as groups by level and category, opens a group in place, and shows a task of it', async function () {
    this.timeout(120_000);
    server = await startServer({ port: 0, store: 'memory' });
    admin = createAdminClient({ url: server.url });
    const categories = ['plan', 'code', 'test', 'docs', 'review'];
    const tasks: NewTask[] = [];
    for (let i = 0; i < 10_000; i++) {
      // Each task depends on one to three of the 300 before it: about a hundred levels.
      const deps =
        i === 0 ? [] : [...new Set([1, 7, 300].map((back) => `t${Math.max(0, i - 1 - ((i * back) % 300))}`))];
      tasks.push({ id: `t${i}`, deps, category: categories[i % categories.length]! });
    }
    for (let i = 0; i < tasks.length; i += 1000) await admin.addTasks(tasks.slice(i, i + 1000));
    const page = await browser!.newPage({ viewport: { width: 1440, height: 1000 } });
    const began = Date.now();
    await page.goto(`${server.url}/#/graph`);
    await page.waitForSelector('[data-testid="dag-summary"]:text-matches("^10000 tasks")', {
      timeout: 60_000,
    });
    await page.waitForSelector('g.node.group');
    console.log(`      10,000 tasks: page loaded and graph drawn in ${Date.now() - began} ms`);
    const grouping = await page.getAttribute('[data-testid="dag-summary"]', 'data-grouping');
    expect(grouping).to.be.oneOf(['level-category', 'band-category', 'band']);
    const boxes = await page.locator('g.node.group').count();
    expect(boxes).to.be.within(2, 250);

    // A group small enough opens in place, a cell per task; a cell opens that task's details.
    const small = await page.$$eval('g.node.group', (nodes) =>
      nodes.map((n) => n.getAttribute('data-node')).find((key) => key?.startsWith('B0|')),
    );
    expect(small).to.be.a('string');
    await page.click(`g.node[data-node="${small}"]`);
    await page.waitForSelector(`g.node[data-node="${small}"] rect.cell`);
    await page.click(`g.node[data-node="${small}"] rect.cell >> nth=0`);
    await page.waitForSelector('[data-testid="task-details"]');
    expect(await page.textContent('[data-testid="task-details"] h2')).to.match(/^t\d+$/);
    await page.close();
  });
});
