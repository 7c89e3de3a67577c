import { join } from 'node:path';
import { expect } from 'chai';
import { type Json, runCli, type ServerProcess, startCli, tempDir } from './harness.js';

/** The `baton serve` URL, read from its first line (the server listens on port 0). */
const urlOf = (server: ServerProcess): string => {
  const match = /listening on (http:\/\/\S+)/.exec(server.output());
  if (match?.[1] === undefined) throw new Error(`no URL in:\n${server.output()}`);
  return match[1];
};

async function post(url: string, path: string): Promise<{ status: number; body: Json }> {
  const response = await fetch(`${url}/api/coordination${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: path === '/tasks' ? JSON.stringify({ id: 'kept' }) : '{}',
  });
  return { status: response.status, body: await response.json() };
}

/**
 * Drain is a pause, stop is final, and neither needs the data deleted: what an operator sees
 * across restarts of `baton serve` on one SQLite file.
 */
describe('baton serve: drain pauses across restarts, stop is final until --reopen', function () {
  this.timeout(30_000);
  let dir: ReturnType<typeof tempDir>;
  let server: ServerProcess | undefined;
  const serve = async (...more: string[]): Promise<string> => {
    await server?.kill('SIGTERM');
    server = await startCli(['--port', '0', '--db', join(dir.path, 'baton.db'), ...more]);
    return urlOf(server);
  };

  beforeEach(() => {
    dir = tempDir('baton-lifecycle-');
  });
  afterEach(async () => {
    await server?.kill();
    server = undefined;
    dir.remove();
  });

  it('an idle drain ends drained; a restart comes back drained, and POST /start resumes it', async () => {
    let url = await serve();
    expect((await post(url, '/drain')).body).to.deep.equal({ state: 'drained' });

    url = await serve();
    expect(server?.output()).to.include('coordinator drained').and.include('POST /api/coordination/start');
    expect((await post(url, '/tasks')).status).to.equal(200);
    expect((await post(url, '/start')).body).to.deep.equal({ state: 'running' });
  });

  it('after a stop a restart refuses, naming --reopen; --reopen brings it back with its tasks', async () => {
    const url = await serve();
    expect((await post(url, '/tasks')).status).to.equal(200);
    expect((await post(url, '/stop')).body).to.deep.equal({ state: 'stopped' });
    await server?.kill('SIGTERM');

    const refused = runCli(['--port', '0', '--db', join(dir.path, 'baton.db')]);
    expect(await refused.exited).to.equal(1);
    expect(refused.output()).to.include('was stopped').and.include('baton serve --reopen');

    const reopened = await serve('--reopen');
    expect(server?.output()).to.include('coordinator running, 1 task(s)');
    const kept = await fetch(`${reopened}/api/coordination/tasks/kept`);
    expect(((await kept.json()) as Json).status).to.equal('pending');
  });
});
