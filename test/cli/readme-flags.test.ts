import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { runCli } from '../durability/harness.js';

const README = resolve(dirname(fileURLToPath(import.meta.url)), '../../../README.md');

/** The `--flags` the README's "Run it" section shows, in its table and its commands. */
function readmeFlags(): string[] {
  const text = readFileSync(README, 'utf8');
  const section = text.slice(text.indexOf('## Run it'), text.indexOf('## Use it'));
  return [...new Set(section.match(/--[a-z][a-z-]+/g) ?? [])].filter((f) => f !== '--silent');
}

describe('README: the flags it shows', () => {
  it('starts with the two commands, then shows flags that baton serve --help lists', async () => {
    const readme = readFileSync(README, 'utf8');
    expect(readme.split('\n').slice(2, 5).join('\n')).to.match(
      /npm install && npm start[^\n]*\nnpm install && npm test/,
    );
    const flags = readmeFlags();
    expect(flags).to.include.members(['--help', '--port', '--store', '--db', '--host']);
    const help = runCli(['--help']);
    expect(await help.exited).to.equal(0);
    for (const flag of flags) expect(help.output(), `baton serve --help lists ${flag}`).to.include(flag);
  });
});
