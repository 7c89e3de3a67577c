import { expect } from 'chai';
import { serverOptions } from '../../src/cli/commands/serve-run.js';
import { UsageError } from '../../src/cli/usage-error.js';
import { startCli } from '../durability/harness.js';
import { baton } from './run-baton.js';

const flags = (more: Record<string, string>) => ({ start: true, ...more });

describe('baton serve: the coordinator-wide retry backoff', function () {
  this.timeout(20_000);

  it('--retry-initial-ms, --retry-max-ms and --retry-multiplier set the default backoff, field by field', () => {
    expect(serverOptions(flags({}), {}).retryBackoff).to.equal(undefined);
    expect(serverOptions(flags({ retryInitialMs: '0' }), {}).retryBackoff).to.deep.equal({ initialMs: 0 });
    expect(
      serverOptions(flags({ retryInitialMs: '250', retryMaxMs: '5000', retryMultiplier: '1.5' }), {})
        .retryBackoff,
    ).to.deep.equal({ initialMs: 250, maxMs: 5000, multiplier: 1.5 });
  });

  it('refuses bad values as usage errors naming the flag, the defaults of the others included', () => {
    const refused = (more: Record<string, string>): string => {
      try {
        serverOptions(flags(more), {});
      } catch (error) {
        expect(error).to.be.instanceOf(UsageError);
        return (error as Error).message;
      }
      throw new Error(`accepted ${JSON.stringify(more)}`);
    };
    expect(refused({ retryInitialMs: '-1' })).to.match(/^--retry-initial-ms must be a whole number/);
    expect(refused({ retryMaxMs: '1.5' })).to.match(/^--retry-max-ms must be a whole number/);
    expect(refused({ retryMultiplier: '0.5' })).to.match(/^--retry-multiplier must be a number, 1 or more/);
    expect(refused({ retryInitialMs: '500', retryMaxMs: '100' })).to.match(/^--retry-max-ms: .*at least/);
    // The default maximum (60 s) is below this initial wait.
    expect(refused({ retryInitialMs: '120000' })).to.match(
      /^--retry-initial-ms: --retry-max-ms \(60000, the default\)/,
    );
  });

  it('the flags reach the coordinator: a task added without a backoff shows the one they set', async () => {
    const server = await startCli([
      '--port',
      '0',
      '--store',
      'memory',
      '--retry-initial-ms',
      '250',
      '--retry-max-ms',
      '250',
    ]);
    try {
      const url = /listening on (http:\/\/\S+)/.exec(server.output())?.[1] as string;
      const response = await fetch(`${url}/api/coordination/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'a' }),
      });
      const task = (await response.json()) as { retryBackoff: unknown };
      expect(task.retryBackoff).to.deep.equal({ initialMs: 250, maxMs: 250, multiplier: 2 });
    } finally {
      await server.kill();
    }
    const run = await baton(['serve', '--retry-multiplier', '0.9']);
    expect(run.code).to.equal(2);
    expect(run.stderr).to.include('--retry-multiplier must be a number, 1 or more, got "0.9"');
    const help = await baton(['serve', '--help']);
    for (const flag of ['--retry-initial-ms', '--retry-max-ms', '--retry-multiplier', '--require-capability'])
      expect(help.stdout).to.include(flag);
  });
});
