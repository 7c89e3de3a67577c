import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { createAdminClient } from '../../src/client/index.js';
import { createVerifier, parseAuthFile } from '../../src/server/auth/tokens.js';
import { eventually } from '../support/waiting.js';
import { baton, startBaton } from './run-baton.js';

describe('baton token create and serve --auth-file', function () {
  this.timeout(20_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'baton-auth-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('token create prints a token, then the auth file line that admits it and no more', async () => {
    const run = await baton(['token', 'create', '--role', 'worker', '--worker', 'agent-1']);
    expect(run.code).to.equal(0);
    const [token = '', comment, line = ''] = run.stdout.trim().split('\n');
    expect(comment).to.match(/^# add this line to the auth file/);
    expect(line).to.match(/^worker sha256:[0-9a-f]{64} agent-1$/);
    expect(createVerifier(parseAuthFile(line, 'out'))(token)).to.include({
      role: 'worker',
      workerId: 'agent-1',
    });
  });

  it('token create refuses a worker token without --worker and an unknown role (exit 2)', async () => {
    const noWorker = await baton(['token', 'create', '--role', 'worker']);
    expect([noWorker.code, noWorker.stderr.split('\n')[0]]).to.deep.equal([
      2,
      'baton: a worker token needs a worker id (--worker ID)',
    ]);
    const badRole = await baton(['token', 'create', '--role', 'boss']);
    expect(badRole.stderr).to.match(/^baton: --role must be one of admin, operator, reader, worker/);
  });

  it('serve refuses a non-loopback address without --auth-file unless --insecure', async () => {
    const run = await baton(['serve', '--store', 'memory', '--port', '0', '--host', '0.0.0.0']);
    expect(run.code).to.equal(1);
    expect(run.stderr).to.match(/refusing to listen on 0\.0\.0\.0 without auth/);
  });

  it('serve names the auth file line at fault (exit 2)', async () => {
    const file = join(dir, 'bad.auth');
    writeFileSync(file, '# fleet\nadmin sha256:beef\n');
    const run = await baton(['serve', '--store', 'memory', '--port', '0', '--auth-file', file]);
    expect(run.code).to.equal(2);
    expect(run.stderr.split('\n')[0]).to.equal(
      `baton: --auth-file ${file}:2: expected sha256:<64 hex digits>, got "sha256:beef"`,
    );
  });

  it('serve --auth-file says auth is on and admits the token, refusing anyone else', async () => {
    const created = await baton(['token', 'create', '--role', 'reader']);
    const [token = '', , line = ''] = created.stdout.trim().split('\n');
    const file = join(dir, 'fleet.auth');
    writeFileSync(file, `${line}\n`);
    const serve = startBaton(['serve', '--store', 'memory', '--port', '0'], { BATON_AUTH_FILE: file });
    try {
      await eventually(() => {
        expect(serve.stdout()).to.match(/baton: auth on: bearer tokens required \(1 reader\)/);
      }, 10_000);
      const url = /listening on (\S+)/.exec(serve.stdout())?.[1] ?? '';
      expect((await createAdminClient({ url, token }).progress()).total).to.equal(0);
      expect((await fetch(`${url}/api/coordination/progress`)).status).to.equal(401);
      const withToken = await baton(['status', '--url', url, '--json'], { BATON_TOKEN: token });
      expect(withToken.code, withToken.stderr).to.equal(0);
      const without = await baton(['status', '--url', url]);
      expect(without.code).to.not.equal(0);
      expect(without.stderr).to.match(/missing bearer token/);
    } finally {
      serve.child.kill('SIGTERM');
      await serve.done;
    }
  });

  it('serve without --auth-file says it is open, on loopback only', async () => {
    const serve = startBaton(['serve', '--store', 'memory', '--port', '0']);
    try {
      await eventually(() => {
        expect(serve.stdout()).to.include('baton: auth off: open to anyone on this machine (loopback only');
      }, 10_000);
    } finally {
      serve.child.kill('SIGTERM');
      await serve.done;
    }
  });
});
