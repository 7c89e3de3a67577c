import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { createDashboard, type Handler } from '../../src/server/dashboard/static-files.js';
import { startServer } from '../../src/server/server.js';

async function serve(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((done) => server.close(() => done())) };
}

describe('The dashboard files', () => {
  let dir: string;
  const next: Handler = (_req, res) => {
    res.writeHead(418);
    res.end('next');
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'baton-dashboard-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('serve the page at / and its files under /dashboard/, same-origin only, with an ETag that answers 304', async () => {
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Baton</title>');
    writeFileSync(join(dir, 'app.js'), 'console.log(1)');
    const server = await serve(createDashboard({ dir, next }) as http.RequestListener);
    try {
      const page = await fetch(`${server.url}/`);
      expect(page.status).to.equal(200);
      expect(page.headers.get('content-type')).to.equal('text/html; charset=utf-8');
      expect(page.headers.get('content-security-policy')).to.contain("default-src 'self'");
      expect(await page.text()).to.contain('<title>Baton</title>');
      const js = await fetch(`${server.url}/dashboard/app.js`);
      expect(js.headers.get('content-type')).to.equal('text/javascript; charset=utf-8');
      const etag = js.headers.get('etag')!;
      const again = await fetch(`${server.url}/dashboard/app.js`, { headers: { 'if-none-match': etag } });
      expect(again.status).to.equal(304);
      expect((await fetch(`${server.url}/dashboard/nope.js`)).status).to.equal(404);
      expect((await fetch(`${server.url}/dashboard/../index.html`)).status).to.equal(200); // normalised by fetch
      expect((await fetch(`${server.url}/`, { method: 'POST' })).status).to.equal(418);
      expect(await (await fetch(`${server.url}/api/coordination/status`)).text()).to.equal('next');
    } finally {
      await server.close();
    }
  });

  it('say how to build the page when the bundle is missing', async () => {
    const server = await serve(createDashboard({ dir: join(dir, 'missing'), next }) as http.RequestListener);
    try {
      const page = await fetch(`${server.url}/`);
      expect(page.status).to.equal(503);
      expect(await page.text()).to.match(/npm run build/);
    } finally {
      await server.close();
    }
  });

  it('are served by baton serve on its one port, built by npm run build', async () => {
    const server = await startServer({ port: 0, store: 'memory' });
    try {
      const page = await fetch(`${server.url}/`);
      expect(page.status).to.equal(200);
      const html = await page.text();
      expect(html).to.contain('/dashboard/app.js');
      const js = await fetch(`${server.url}/dashboard/app.js`);
      expect(js.status).to.equal(200);
      expect((await js.text()).length).to.be.greaterThan(10_000);
      expect((await fetch(`${server.url}/dashboard/app.css`)).status).to.equal(200);
    } finally {
      await server.close();
    }
  });
});
