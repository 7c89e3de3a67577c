import { expect } from 'chai';
import { baton } from './run-baton.js';

describe('baton serve and the top-level command line', function () {
  this.timeout(20_000);

  it('--help lists every command with its summary and the exit statuses, and exits 0', async () => {
    const run = await baton(['--help']);
    expect(run.code).to.equal(0);
    expect(run.stdout).to.match(/Usage: baton \[options\] \[command\]/);
    expect(run.stdout).to.include('serve').and.include('Exit status');
  });

  it('serve --help lists every flag with its environment variable and default', async () => {
    const run = await baton(['serve', '--help']);
    expect(run.code).to.equal(0);
    for (const flag of [
      '--host',
      '--port',
      '--store',
      '--db',
      '--sync',
      '--strategy',
      '--lease-ttl-ms',
      '--max-attempts',
      '--max-requests-per-minute',
      '--max-tokens-per-minute',
      '--global-budget-usd',
      '--worker-budget-usd',
      '--no-start',
      '--reopen',
      '--repo',
      '--target',
      '--worktrees',
      '--check',
      '--check-timeout-ms',
      '--merge-batch',
      '--log-level',
      '--log-format',
      '--auth-file',
      '--insecure',
      '--tls-cert',
      '--tls-key',
      '--max-batch-tasks',
      '--max-tasks',
      '--max-metadata-bytes',
      '--max-metadata-depth',
      '--max-id-length',
      '--max-category-length',
      '--max-request-bytes',
      '--max-streams',
      '--header-timeout-ms',
      '--idle-timeout-ms',
    ]) {
      expect(run.stdout).to.include(flag);
    }
    expect(run.stdout).to.include('(BATON_HOST, default 127.0.0.1)').and.include('BATON_PORT');
  });

  it('a bad flag value is a usage error (exit 2) naming the flag, followed by the help', async () => {
    const run = await baton(['serve', '--port', 'x']);
    expect(run.code).to.equal(2);
    expect(run.stderr).to.match(
      /^baton: --port must be a port number from 0 to 65535, got "x"\n\nUsage: baton serve/,
    );
    expect(run.stdout).to.equal('');
  });

  it('BATON_PORT is read like --port, and a bad one is named as --port', async () => {
    const run = await baton(['serve'], { BATON_PORT: '70000' });
    expect(run.code).to.equal(2);
    expect(run.stderr).to.include('--port must be a port number from 0 to 65535, got "70000"');
  });

  it('a repository flag without --repo is refused, naming both', async () => {
    const run = await baton(['serve', '--check', 'npm test']);
    expect(run.code).to.equal(2);
    expect(run.stderr).to.include('baton: --check needs --repo');
  });

  it('a choice flag lists what it accepts', async () => {
    const run = await baton(['serve', '--store', 'postgres']);
    expect(run.code).to.equal(2);
    expect(run.stderr).to.include('baton: --store must be sqlite, memory or a postgres:// URL');
  });

  it('an unknown flag, a missing value and an unknown command are usage errors (exit 2)', async () => {
    const unknownFlag = await baton(['serve', '--bogus']);
    expect([unknownFlag.code, unknownFlag.stderr.split('\n')[0]]).to.deep.equal([
      2,
      "baton: unknown option '--bogus'",
    ]);
    const missing = await baton(['serve', '--port']);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include("baton: option '--port <port>' argument missing");
    const unknownCommand = await baton(['nope']);
    expect([unknownCommand.code, unknownCommand.stderr.split('\n')[0]]).to.deep.equal([
      2,
      "baton: unknown command 'nope'",
    ]);
  });
});
