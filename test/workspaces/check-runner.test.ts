import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { BatonError } from '../../src/core/errors.js';
import { createCheckRunner, endOrphanedCheck } from '../../src/server/workspaces/check-runner.js';
import { waitFor } from '../durability/harness.js';
import { alive } from './process-alive.js';

describe('CheckRunner', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'baton-check-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the operator command in the directory and says pass or fail with the output', async () => {
    const pass = await createCheckRunner({ command: 'pwd; echo to-stderr >&2', timeoutMs: 5000 }).run(dir);
    expect(pass).to.include({ outcome: 'pass', exitCode: 0, signal: null, truncated: false });
    expect(pass.output).to.contain(dir.split('/').pop()).and.to.contain('to-stderr');
    const fail = await createCheckRunner({ command: 'echo broken; exit 3', timeoutMs: 5000 }).run(dir);
    expect(fail).to.include({ outcome: 'fail', exitCode: 3, output: 'broken\n' });
  });

  it('kills the whole process group of a check that outlives its timeout', async () => {
    const pidFile = join(dir, 'grandchild');
    const runner = createCheckRunner({ command: `sleep 30 & echo $! > ${pidFile}; wait`, timeoutMs: 200 });
    const result = await runner.run(dir);
    expect(result.outcome).to.equal('timeout');
    expect(result.durationMs).to.be.below(5000);
    // SIGKILL reaches the group at once, but a loaded machine may take a moment to end a member.
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    await waitFor('the grandchild to end', () => !alive(grandchild), 2000);
  });

  it('reports a check that kills itself as failed, by its signal', async () => {
    const result = await createCheckRunner({ command: 'kill -9 $$', timeoutMs: 5000 }).run(dir);
    expect(result).to.include({ outcome: 'fail', exitCode: null, signal: 'SIGKILL' });
  });

  it('keeps only the tail of a chatty check', async () => {
    const runner = createCheckRunner({
      command: 'head -c 1000000 /dev/zero | tr "\\0" x; echo; echo last-line',
      timeoutMs: 5000,
      maxOutputBytes: 1024,
    });
    const result = await runner.run(dir);
    expect(result.truncated).to.equal(true);
    expect(result.output.length).to.equal(1024);
    expect(result.output).to.match(/x\nlast-line\n$/);
  });

  it('fails a check whose directory is gone instead of hanging', async () => {
    const result = await createCheckRunner({ command: 'true', timeoutMs: 5000 }).run(join(dir, 'missing'));
    expect(result.outcome).to.equal('fail');
    expect(result.output).to.contain('cannot run the check');
  });

  it('refuses an empty command or a timeout that is not positive', () => {
    expect(() => createCheckRunner({ command: '  ', timeoutMs: 1000 })).to.throw(BatonError, /empty/);
    expect(() => createCheckRunner({ command: 'true', timeoutMs: 0 })).to.throw(BatonError, /timeout/);
  });

  it('ends a check orphaned by a crash, found by its pid file, and only in its directory', async () => {
    const pidFile = join(dir, 'check.pid');
    const running = createCheckRunner({ command: 'sleep 30', timeoutMs: 60_000, pidFile }).run(dir);
    while (!existsSync(pidFile)) await new Promise((r) => setTimeout(r, 5));
    const { pid } = JSON.parse(readFileSync(pidFile, 'utf8')) as { pid: number };
    expect(endOrphanedCheck(pidFile)).to.equal(true);
    expect((await running).signal).to.equal('SIGKILL');
    expect(alive(pid)).to.equal(false);
    expect(existsSync(pidFile)).to.equal(false);

    // A pid file naming a process that runs elsewhere (a pid reused since) kills nothing.
    writeFileSync(pidFile, JSON.stringify({ pid: process.pid, cwd: dir }));
    expect(endOrphanedCheck(pidFile)).to.equal(false);
    expect(endOrphanedCheck(join(dir, 'no-such-file'))).to.equal(false);
  });

  it('kills a running check at once when its signal aborts', async () => {
    const stopping = new AbortController();
    const running = createCheckRunner({ command: 'sleep 30', timeoutMs: 60_000 }).run(dir, stopping.signal);
    setTimeout(() => stopping.abort(), 50);
    const result = await running;
    expect(result).to.include({ outcome: 'fail', signal: 'SIGKILL' });
    expect(result.durationMs).to.be.below(5000);
  });
});
