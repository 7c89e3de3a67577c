import { expect } from 'chai';
import { authLine, createToken, parseAuthFile } from '../../src/server/auth/tokens.js';
import { type BatonServer, startServer } from '../../src/server/server.js';
import { baton } from './run-baton.js';

/** The client commands against a coordinator with --auth-file: the token from BATON_TOKEN or --token. */
describe('baton client commands with a bearer token', function () {
  this.timeout(30_000);
  let server: BatonServer;
  const reader = createToken();
  const operator = createToken();

  before(async () => {
    const file = `${authLine(reader, 'reader')}\n${authLine(operator, 'operator')}\n`;
    server = await startServer({ port: 0, store: 'memory', auth: { tokens: parseAuthFile(file, 'test') } });
  });
  after(() => server.close());

  it('without a token the coordinator refuses (exit 1), and the message says where the token goes', async () => {
    const run = await baton(['status'], { BATON_URL: server.url });
    expect(run.code).to.equal(1);
    expect(run.stderr).to.match(/^baton: .*BATON_TOKEN or --token/);
  });

  it('reads BATON_TOKEN, and --token too; a role without the right is refused (exit 1)', async () => {
    const status = await baton(['status'], { BATON_URL: server.url, BATON_TOKEN: reader });
    expect(status.code, status.stderr).to.equal(0);
    const refused = await baton(['tasks', 'add', 'x'], { BATON_URL: server.url, BATON_TOKEN: reader });
    expect(refused.code).to.equal(1);
    const added = await baton(['tasks', 'add', 'x', '--token', operator, '--url', server.url]);
    expect(added.code, added.stderr).to.equal(0);
    expect(added.stdout).to.include('added 1 task(s)');
  });
});
