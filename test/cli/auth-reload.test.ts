import { writeFileSync } from 'node:fs';
import { Code, ConnectError } from '@connectrpc/connect';
import { expect } from 'chai';
import { createAdminClient, createWorker } from '../../src/client/index.js';
import { authLine, createToken } from '../../src/server/auth/tokens.js';
import { type ServerProcess, startCli, tempDir, waitFor } from '../durability/harness.js';

/** `baton serve --auth-file` for real, sent a real SIGHUP after its auth file changed. */
describe('baton serve --auth-file: SIGHUP reloads the tokens without a restart', function () {
  this.timeout(30_000);
  const admin = createToken();
  const reader = createToken();
  const agent = createToken();
  const newcomer = createToken();
  let dir: ReturnType<typeof tempDir>;
  let file: string;
  let proc: ServerProcess;
  let url: string;
  before(async () => {
    dir = tempDir('baton-auth-reload-');
    file = `${dir.path}/tokens`;
    writeFileSync(
      file,
      [authLine(admin, 'admin'), authLine(reader, 'reader'), authLine(agent, 'worker', 'agent-1')].join('\n'),
    );
    proc = await startCli(['--port=0', '--store=memory', `--auth-file=${file}`]);
    url = /listening on (\S+)/.exec(proc.output())?.[1] as string;
  });
  after(async () => {
    await proc.kill('SIGTERM');
    dir.remove();
  });

  const status = async (token: string) =>
    (await fetch(`${url}/api/coordination/status`, { headers: { authorization: `Bearer ${token}` } })).status;
  const hangup = async (said: string) => {
    const before = proc.output().length;
    proc.child.kill('SIGHUP');
    await waitFor(`"${said}"`, () => proc.output().slice(before).includes(said), 10_000);
    return proc.output().slice(before);
  };

  it('revokes a removed token at once, its open worker session included, and admits a new one', async () => {
    expect(await status(reader)).to.equal(200);
    expect(await status(newcomer)).to.equal(401);
    const worker = createWorker({
      url,
      id: 'agent-1',
      token: agent,
      maxConcurrency: 1,
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
      handler: async () => ({}),
    });
    await worker.start();
    const joined = async () =>
      (await createAdminClient({ url, token: admin }).status()).workers.map((w) => w.workerId);
    await waitFor('the worker to join', async () => (await joined()).includes('agent-1'), 10_000);

    // A reader's event stream over HTTP/1.1 (SSE), open across the reload.
    const events = await fetch(`${url}/api/coordination/events`, {
      headers: { authorization: `Bearer ${reader}` },
    });
    expect(events.status).to.equal(200);
    const reading = (async () => {
      try {
        for await (const _ of events.body as AsyncIterable<Uint8Array>);
        return 'ended';
      } catch {
        return 'cut';
      }
    })();

    writeFileSync(file, [authLine(admin, 'admin'), authLine(newcomer, 'reader')].join('\n'));
    const said = await hangup('baton: SIGHUP: reloaded');
    expect(said).to.match(
      /baton: SIGHUP: reloaded --auth-file \S+: bearer tokens required \(1 admin, 1 reader\); 2 call\(s\) of a revoked token ended/,
    );
    expect(await reading).to.be.oneOf(['ended', 'cut']);
    expect(await status(reader)).to.equal(401);
    expect(await status(newcomer)).to.equal(200);
    expect(await status(admin)).to.equal(200);
    // The session ended with the reload; its reconnect meets the new tokens and is refused for good.
    const ended = await worker.done.then(
      () => undefined,
      (error: unknown) => ConnectError.from(error),
    );
    expect(ended?.code).to.equal(Code.Unauthenticated);
    await waitFor('the worker to be gone', async () => !(await joined()).includes('agent-1'), 10_000);
  });

  it('keeps the tokens in force when the file has a bad line or is gone, and says why', async () => {
    writeFileSync(file, `${authLine(admin, 'admin')}\nboss sha256:00 someone\n`);
    const bad = await hangup('not reloaded');
    expect(bad).to.match(/baton: SIGHUP: not reloaded, the tokens in force stay: --auth-file .*tokens:2/);
    expect(await status(newcomer)).to.equal(200);
    dir.remove();
    const gone = await hangup('not reloaded');
    expect(gone).to.match(/not reloaded, the tokens in force stay: --auth-file \S+: ENOENT/);
    expect(await status(newcomer)).to.equal(200);
    expect(proc.child.exitCode).to.equal(null);
  });
});
