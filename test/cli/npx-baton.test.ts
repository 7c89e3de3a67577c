import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

/** The repository: this file runs as dist/test/cli/npx-baton.test.js. */
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

function run(command: string, args: readonly string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((done) => {
    const child = spawn(command, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk));
    child.once('close', (code) => done({ code, output }));
  });
}

describe('npx baton in a clone', function () {
  this.timeout(180_000);

  it('npm install runs prepare, which builds the bin package.json points at; npx baton then runs it', async () => {
    const manifest = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
      scripts: Record<string, string>;
    };
    expect(manifest.bin.baton).to.equal('lib/cli/main.js');
    expect(manifest.scripts.prepare).to.equal('npm run build:package');
    // What `npm install` in a fresh clone runs after installing the dependencies.
    const prepared = await run('npm', ['run', 'prepare']);
    expect(prepared.code, prepared.output).to.equal(0);
    // --no-install: never fetch a package of that name from a registry; the clone's own bin or fail.
    const help = await run('npx', ['--no-install', 'baton', 'tasks', '--help']);
    expect(help.code, help.output).to.equal(0);
    expect(help.output).to.include('Usage: baton tasks').and.include('add').and.include('retry');
  });
});
